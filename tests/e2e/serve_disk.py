"""A starved disk (run by tests/e2e/serve_disk.sh): the daemon's data
directory is a 2 MiB tmpfs the test mounts (root only; else SKIP). A job is
running when the filesystem is filled: the job fails with a message that
says no space was left and names the path, the daemon keeps answering, the
store passes PRAGMA integrity_check, and once the space is back a new job
completes without a restart. TAP."""

import os
import subprocess
import sys

from serve_lib import Daemon, Tap, cleanup, integrity_check, workdir

PROMPT = "Explain the Pythagorean theorem with visual proof"
N = 8


def fill(path):
    """Writes path until the filesystem is full; returns the bytes written."""
    n = 0
    chunk = b"x" * 65536
    with open(path, "wb", buffering=0) as f:
        while True:
            try:
                n += f.write(chunk)
            except OSError:
                break
        # The last partial chunk, byte by byte in bigger steps.
        for size in (4096, 512, 1):
            try:
                while True:
                    n += f.write(b"x" * size)
            except OSError:
                pass
    return n


def main():
    t = Tap()
    if os.geteuid() != 0:
        print("1..%d" % N)
        for i in range(N):
            print("ok %d # SKIP not root: the test mounts a small tmpfs" % (i + 1))
        return 0
    base = workdir()
    small = os.path.join(base, "small")
    os.makedirs(small)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small]) != 0:
        print("1..%d" % N)
        for i in range(N):
            print("ok %d # SKIP cannot mount a tmpfs here" % (i + 1))
        cleanup(base)
        return 0
    d = None
    try:
        env = {"SERVE_DELAY_MS": "700"}
        d = Daemon(base, env=env)
        d.data_dir = os.path.join(small, "data")
        d.start()
        st, _, doc = d.create(PROMPT)
        vid = doc["video_id"] if doc else None
        running, _ = d.wait_for(vid, lambda x: x["status"] == "generating_initial_explanation",
                                timeout=20)
        filler = os.path.join(small, "filler")
        wrote = fill(filler)
        t.ok(running is not None and wrote > 0,
             "the data directory's filesystem is filled while a job runs (%d bytes)" % wrote)
        doc, _ = d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"), timeout=30)
        msg = (doc or {}).get("message") or ""
        t.ok(doc is not None and doc["status"] == "failed", "the job fails", doc)
        t.ok("no space left" in msg.lower() and "output.txt" in msg,
             "its message says no space was left and names the file", msg)
        # The answer keeps host paths to itself (server_message_public); the
        # log has the whole path.
        logged = [l for l in d.log().splitlines() if "No space left" in l]
        t.ok(any(small in l for l in logged), "the log names the full path", logged[-3:])
        st, _, cfg = d.json("GET", "/api/v1/config")
        t.ok(st == 200 and d.proc.poll() is None, "the daemon keeps answering", st)
        check = integrity_check(d.db)
        t.ok(check == [("ok",)], "the store passes PRAGMA integrity_check", check)
        os.unlink(filler)
        st, _, doc = d.create(PROMPT)
        vid2 = doc["video_id"] if doc else None
        doc, _ = d.wait_for(vid2, lambda x: x["status"] in ("completed", "failed"), timeout=60) \
            if vid2 else (None, [])
        t.ok(doc is not None and doc["status"] == "completed",
             "with the space back, a new job completes without a restart", doc)
        t.ok(d.stop() == 0, "the daemon exits 0 on SIGTERM", d.log()[-1500:])
        d = None
    finally:
        if d is not None and d.proc:
            d.stop()
        subprocess.call(["umount", small])
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
