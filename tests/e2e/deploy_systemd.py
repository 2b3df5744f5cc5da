"""contrib/systemd against systemd's own tools and against the render
sandbox: `systemd-analyze verify` passes on the unit, the sysusers and
tmpfiles snippets make the user and folders they say, and with the unit's
hardening done by hand (tests/e2e/deploy_harden.sh: systemd is not PID 1
here) a sandboxed render and the daemon (a job, a SIGHUP reload) work as the
unprivileged user, while the options the unit leaves out would break the
sandbox. The system calls, socket families and namespaces they use, traced,
are all within the unit's SystemCallFilter=, RestrictAddressFamilies= and
RestrictNamespaces=. Prints TAP."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

from serve_lib import Tap, HERE, workdir, cleanup, vidgen_path

TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
UNIT_DIR = os.path.join(TOP, "contrib", "systemd")
HARDEN = os.path.join(HERE, "deploy_harden.sh")
VENV = os.environ.get("VIDGEN_MANIM_VENV", "/opt/vidgen/venv")
USER = "nobody"
SCENE = """from manim import *

class Hello(Scene):
    def construct(self):
        self.play(Create(Circle(color=BLUE)), run_time=0.5)
        self.play(Write(MathTex(r"a^2+b^2=c^2")), run_time=0.5)
"""
PROBE = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--dev", "/dev",
         "--proc", "/proc", "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr",
         "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
         "--symlink", "usr/bin", "/bin", "--remount-ro", "/", "--", "/usr/bin/true"]


def unit_values(text, key):
    """The words of every KEY= line of a unit (later lines add)."""
    words = []
    for line in text.splitlines():
        if line.startswith(key + "="):
            words += line[len(key) + 1:].split()
    return words


def syscall_set(groups):
    """The system calls a SystemCallFilter= allow-list names, groups expanded
    by systemd-analyze itself."""
    out, seen = set(), set()
    todo = list(groups)
    while todo:
        g = todo.pop()
        if g in seen:
            continue
        seen.add(g)
        if not g.startswith("@"):
            out.add(g)
            continue
        txt = subprocess.run(["systemd-analyze", "syscall-filter", g], capture_output=True,
                             text=True).stdout
        for line in txt.splitlines()[1:]:
            w = line.strip()
            if w and not w.startswith("#"):
                todo.append(w)
    return out


def hardened(rw, cmd, extra=None, **kw):
    """cmd run as USER under the unit's hardening, done by hand."""
    argv = ["unshare", "--mount", "--uts", "--propagation", "private", HARDEN, USER, rw]
    argv += ([extra] if extra else []) + ["--"] + cmd
    return argv


# What MemoryDenyWriteExecute= refuses: a mapping both writable and
# executable, or making one executable afterwards.
WX_RE = re.compile(r"^\d+ +(mmap|mprotect|pkey_mprotect)\(.*PROT_WRITE\|PROT_EXEC|"
                   r"^\d+ +(mprotect|pkey_mprotect)\(.*PROT_EXEC")


def trace_facts(path):
    """(system calls, socket families, namespaces, W+X lines) an strace -f
    file shows."""
    calls, families, spaces, wx = set(), set(), set(), []
    with open(path, errors="replace") as f:
        for line in f:
            m = re.match(r"\d+ +(?:<\.\.\. )?([a-z_0-9]+)[( ]", line)
            if m:
                calls.add(m.group(1))
            families.update(re.findall(r"socket\((AF_[A-Z0-9]+)", line))
            spaces.update(re.findall(r"CLONE_NEW([A-Z]+)", line))
            if WX_RE.search(line):
                wx.append(line.strip())
    return calls, families, spaces, wx


NS_NAMES = {"USER": "user", "NS": "mnt", "PID": "pid", "NET": "net", "IPC": "ipc",
            "UTS": "uts", "CGROUP": "cgroup", "TIME": "time"}


def test_files(t, base, unit):
    """systemd-analyze verify, sysusers and tmpfiles on their own files."""
    vidgen = os.path.abspath(vidgen_path())
    path = os.path.join(base, "vidgen.service")
    with open(path, "w") as f:
        f.write(unit.replace("/usr/local/bin/vidgen", vidgen))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no", path], capture_output=True,
                       text=True)
    t.ok(p.returncode == 0 and not p.stderr.strip(),
         "systemd-analyze verify: the unit is clean (ExecStart %s)" % vidgen,
         p.stdout + p.stderr)
    p = subprocess.run(["systemd-analyze", "security", "--offline=yes", path],
                       capture_output=True, text=True)
    m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", p.stdout)
    t.ok(m is not None, "systemd-analyze security rates it: %s" %
         (" ".join(m.groups()) if m else "?"), p.stdout[-500:] + p.stderr)

    root = os.path.join(base, "root")
    for sub in ("usr/lib/sysusers.d", "usr/lib/tmpfiles.d", "etc"):
        os.makedirs(os.path.join(root, sub))
    shutil.copy(os.path.join(UNIT_DIR, "vidgen.sysusers"),
                os.path.join(root, "usr/lib/sysusers.d/vidgen.conf"))
    shutil.copy(os.path.join(UNIT_DIR, "vidgen.tmpfiles"),
                os.path.join(root, "usr/lib/tmpfiles.d/vidgen.conf"))
    p = subprocess.run(["systemd-sysusers", "--root", root], capture_output=True, text=True)
    passwd = open(os.path.join(root, "etc/passwd")).read() if p.returncode == 0 else ""
    m = re.search(r"^vidgen:x:(\d+):(\d+):[^:]*:/var/lib/vidgen:(\S+)$", passwd, re.M)
    t.ok(m and int(m.group(1)) < 1000 and m.group(3).endswith("nologin"),
         "systemd-sysusers makes vidgen, a system user without a login shell", passwd + p.stderr)
    gid = int(m.group(2)) if m else -1
    os.makedirs(os.path.join(root, "etc/vidgen"))
    shutil.copy(os.path.join(UNIT_DIR, "vidgen.env"), os.path.join(root, "etc/vidgen"))
    os.chmod(os.path.join(root, "etc/vidgen/vidgen.env"), 0o644)
    p = subprocess.run(["systemd-tmpfiles", "--root", root, "--create"], capture_output=True,
                       text=True)
    d = os.stat(os.path.join(root, "etc/vidgen"))
    e = os.stat(os.path.join(root, "etc/vidgen/vidgen.env"))
    t.ok(p.returncode == 0 and d.st_mode & 0o7777 == 0o750 and d.st_gid == gid and
         e.st_mode & 0o7777 == 0o640 and e.st_gid == gid and e.st_uid == 0,
         "systemd-tmpfiles: /etc/vidgen 0750 and vidgen.env 0640, root:vidgen",
         (p.stderr, oct(d.st_mode), d.st_gid, oct(e.st_mode), e.st_gid, gid))
    bad = [l for l in open(os.path.join(UNIT_DIR, "vidgen.env")).read().splitlines()
           if l and not l.startswith("#") and not re.match(r"^[A-Z_][A-Z0-9_]*=", l)]
    t.ok(not bad, "vidgen.env holds only comments and VAR=value lines", bad)


def test_options(t, unit):
    """What the unit must leave out for bubblewrap, and what it must allow."""
    for key in ("ProtectKernelTunables", "ProtectKernelLogs", "ProcSubset"):
        t.ok(not re.search(r"^%s=(yes|true|1|pid)" % key, unit, re.M),
             "the unit leaves %s= out (it breaks the render sandbox)" % key)
    ns = set(unit_values(unit, "RestrictNamespaces"))
    t.ok({"user", "mnt", "pid", "net", "ipc", "uts", "cgroup"} <= ns,
         "RestrictNamespaces= allows the namespaces bubblewrap makes", ns)
    t.ok(re.search(r"^ExecReload=\S*kill -HUP \$MAINPID$", unit, re.M) is not None,
         "ExecReload= sends SIGHUP to the daemon")


def serve_under_unit(t, base, rw):
    """The daemon as the unit runs it: a job, a reload, a stop; traced."""
    data = os.path.join(rw, "data")
    trace = os.path.join(rw, "serve.trace")
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")
    cmd = hardened(rw, ["strace", "-f", "-qq", "-o", trace, os.path.abspath(vidgen_path()),
                        "serve", "-p", os.path.join(HERE, "serve", "pipeline.cfg"),
                        "-l", "127.0.0.1:0", "--data-dir", data])
    err = open(os.path.join(base, "serve.err"), "wb")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, env=env)
    line = proc.stdout.readline().decode()
    m = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
    done, reloaded = None, False
    if m:
        url = "http://127.0.0.1:%s" % m.group(1)
        body = json.dumps({"prompt": "Explain the Pythagorean theorem with visual proof",
                           "model": "claude-4-sonnet"}).encode()
        req = urllib.request.Request(url + "/api/v1/videos", body,
                                     {"Content-Type": "application/json"})
        vid = json.loads(urllib.request.urlopen(req, timeout=10).read())["video_id"]
        end = time.time() + 30
        while time.time() < end:
            doc = json.loads(urllib.request.urlopen(url + "/api/v1/videos/%s/status" % vid,
                                                    timeout=10).read())
            if doc["status"] in ("completed", "failed"):
                done = doc["status"]
                break
            time.sleep(0.1)
        # The daemon is strace's child: SIGHUP it, not strace.
        pid = daemon_pid(proc.pid)
        if pid:
            os.kill(pid, signal.SIGHUP)
            end = time.time() + 10
            while time.time() < end and not reloaded:
                text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
                reloaded = "vidgen_pipeline_generation 2\n" in text
                time.sleep(0.1)
            os.kill(pid, signal.SIGTERM)
    try:
        rc = proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = proc.wait()
    err.close()
    log = open(os.path.join(base, "serve.err"), errors="replace").read()
    t.ok(m and done == "completed" and reloaded and rc == 0,
         "under the unit's hardening the daemon runs a job, reloads on SIGHUP and stops",
         (line, done, reloaded, rc, log[-1500:]))
    return trace


def daemon_pid(root_pid):
    """The vidgen process below root_pid (unshare -> setpriv -> unshare ->
    strace -> vidgen)."""
    end = time.time() + 5
    while time.time() < end:
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    argv = f.read().split(b"\0")
                with open("/proc/%s/stat" % pid) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            if argv[0].endswith(b"/vidgen") and b"serve" in argv and \
               is_below(ppid, root_pid):
                return int(pid)
        time.sleep(0.1)
    return None


def is_below(pid, root):
    for _ in range(10):
        if pid == root:
            return True
        try:
            with open("/proc/%d/stat" % pid) as f:
                pid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
        if pid <= 1:
            return False
    return False


def test_hardened(t, base, unit):
    why = None
    if os.geteuid() != 0:
        why = "needs root, to set up the unit's mounts and switch users"
    elif not all(shutil.which(x) for x in ("unshare", "setpriv", "strace", "bwrap")):
        why = "needs unshare, setpriv, strace and bwrap"
    elif subprocess.run(["runuser", "-u", USER, "--"] + PROBE, capture_output=True).returncode:
        why = "no unprivileged user namespaces here"
    elif subprocess.run(["runuser", "-u", USER, "--", "test", "-x",
                         os.path.abspath(vidgen_path())]).returncode:
        why = "%s cannot run %s (a build tree others cannot read)" % (USER, vidgen_path())
    checks = 9
    if why:
        for _ in range(checks):
            t.skip(why)
        return
    rw = os.path.join(base, "rw")
    os.makedirs(rw)
    os.chmod(base, 0o755)
    os.chmod(rw, 0o1777)
    p = subprocess.run(hardened(rw, PROBE), capture_output=True, text=True)
    t.ok(p.returncode == 0, "under the unit's hardening, bubblewrap builds the sandbox",
         p.stderr)
    for extra, option in (("tunables", "ProtectKernelTunables="), ("logs", "ProtectKernelLogs=")):
        p = subprocess.run(hardened(rw, PROBE, extra), capture_output=True, text=True)
        t.ok(p.returncode != 0 and "proc" in p.stderr,
             "with what %s would add, it cannot (why the unit leaves it out)" % option,
             p.stderr)

    traces = []
    if os.access(os.path.join(VENV, "bin", "python"), os.X_OK):
        scene = os.path.join(rw, "scene.py")
        with open(scene, "w") as f:
            f.write(SCENE)
        os.chmod(scene, 0o644)
        out = os.path.join(rw, "out.mp4")
        trace = os.path.join(rw, "render.trace")
        env = dict(os.environ, HOME=rw, TMPDIR=rw, ASAN_OPTIONS="detect_leaks=0",
                   VIDGEN_MANIM_VENV=VENV)
        p = subprocess.run(hardened(rw, ["strace", "-f", "-qq", "-o", trace,
                                         os.path.abspath(vidgen_path()), "render", "-o", out,
                                         scene]), capture_output=True, text=True, env=env)
        size = os.path.getsize(out) if os.path.exists(out) else 0
        t.ok(p.returncode == 0 and size > 1000,
             "under the unit's hardening, a sandboxed render (MathTex) makes its video "
             "(%d bytes)" % size, p.stderr[-1500:])
        traces.append(trace)
    else:
        t.skip("no Manim venv at %s: no render under the unit's hardening" % VENV)
    traces.append(serve_under_unit(t, base, rw))

    calls, families, spaces, wx = set(), set(), set(), []
    for trace in traces:
        if os.path.exists(trace):
            c, f, s, w = trace_facts(trace)
            calls |= c
            families |= f
            spaces |= s
            wx += w
    allowed = syscall_set(unit_values(unit, "SystemCallFilter"))
    t.ok(calls and not calls - allowed,
         "every system call they made (%d kinds) is in the unit's SystemCallFilter=" % len(calls),
         sorted(calls - allowed))
    fams = set(unit_values(unit, "RestrictAddressFamilies"))
    t.ok(families and families <= fams,
         "their sockets (%s) are in RestrictAddressFamilies=" % " ".join(sorted(families)),
         sorted(families - fams))
    t.ok(calls and not wx and "yes" in unit_values(unit, "MemoryDenyWriteExecute"),
         "no memory was mapped writable and executable: MemoryDenyWriteExecute=yes holds",
         wx[:10])
    ns = {NS_NAMES.get(s, s) for s in spaces}
    t.ok(ns and ns <= set(unit_values(unit, "RestrictNamespaces")),
         "their namespaces (%s) are in RestrictNamespaces=" % " ".join(sorted(ns)), ns)


def main():
    t = Tap()
    with open(os.path.join(UNIT_DIR, "vidgen.service")) as f:
        unit = f.read()
    base = workdir()
    try:
        if shutil.which("systemd-analyze") and shutil.which("systemd-sysusers"):
            test_files(t, base, unit)
        else:
            for _ in range(5):
                t.skip("systemd's tools are not installed (scripts/install-deps.sh does)")
        test_options(t, unit)
        test_hardened(t, base, unit)
    finally:
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
