"""Hook workers die with their caller (run by tests/e2e/hooks_orphans.sh).
A daemon runs a hook stuck in one C call (50 s limit); SIGKILL to the daemon
must take the hook server and its worker with it within a second. The same
for `vidgen hook` killed mid-call. TAP on stdout."""

import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from serve_lib import Daemon, Tap, cleanup, vidgen_path, workdir  # noqa: E402

PIPELINE = os.path.join(HERE, "orphans.cfg")


def children(pid):
    """Pids whose parent is pid (from /proc)."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(name))
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


def alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def find_worker(root, timeout=20):
    """(server, worker) under root once a call runs, or (None, None)."""
    end = time.time() + timeout
    while time.time() < end:
        for s in children(root):
            if cmdline(s) == "vidgen-hooks":
                ws = [w for w in children(s) if cmdline(w) == "vidgen-hooks"]
                if ws:
                    return s, ws[0]
        time.sleep(0.02)
    return None, None


def gone_within(pids, seconds):
    """Seconds until none of pids is alive, or None past the limit."""
    t0 = time.time()
    while time.time() - t0 < seconds:
        if not any(alive(p) for p in pids):
            return time.time() - t0
        time.sleep(0.01)
    return None


def main():
    t = Tap()
    base = workdir()
    top = os.environ.get("top_builddir", os.path.join(HERE, "..", "..", ".."))
    env = {"VIDGEN_PLUGIN_PATH": os.environ.get("VIDGEN_PLUGIN_PATH") or
           "%s/plugins/.libs:%s/tests/.libs" % (top, top)}
    d = Daemon(base, pipeline=PIPELINE, env=env).start()
    try:
        st, _, doc = d.create("Please REDOS in the hook")
        t.ok(st in (201, 202) and doc, "a job whose hook backtracks for ever is accepted", doc)
        server, worker = find_worker(d.proc.pid)
        t.ok(worker is not None, "its call runs in a worker of the daemon's hook server",
             "server %r worker %r" % (server, worker))
        pid = d.proc.pid
        d.kill9()
        took = gone_within([p for p in (server, worker) if p], 1.0) if worker else None
        t.ok(took is not None, "SIGKILL to the daemon (%d): server and worker gone within a second (%s)"
             % (pid, "%.3f s" % took if took is not None else "still there"),
             "alive: %r" % [p for p in (server, worker) if p and alive(p)])
    finally:
        if d.proc:
            d.stop()
        cleanup(base)

    # The same for the command line, a process with one thread.
    proc = subprocess.Popen([vidgen_path(), "hook", "-q", "Please REDOS in the hook",
                             "--instructions", "1000000000", "lua/chaos.lua:by_question", "-"],
                            cwd=HERE, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    proc.stdin.write(b"text\n")
    proc.stdin.close()
    server, worker = find_worker(proc.pid)
    t.ok(worker is not None, "vidgen hook: the call runs in a worker",
         "server %r worker %r" % (server, worker))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    took = gone_within([p for p in (server, worker) if p], 1.0) if worker else None
    t.ok(took is not None, "SIGKILL to vidgen hook: server and worker gone within a second (%s)"
         % ("%.3f s" % took if took is not None else "still there"))
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
