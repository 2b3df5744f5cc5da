"""Lua hooks in the daemon (run by tests/e2e/hooks_serve.sh): jobs whose hook
loops forever, allocates without bound, tries os.execute or returns a number
fail with the hook's file and line, while jobs submitted beside them complete
and the daemon keeps answering. TAP on stdout."""

import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
from serve_lib import Daemon, Tap, cleanup, workdir  # noqa: E402

PIPELINE = os.path.join(HERE, "chaos.cfg")
ESCAPED = "/tmp/vidgen-hook-escaped"
BAD = {
    "Please LOOP forever in the hook": "lua/chaos.lua:7: instruction budget of 2000000 exceeded",
    "Please BOMB the memory in the hook": "lua/chaos.lua:10: memory cap of 8 MiB exceeded",
    "Please ESCAPE the sandbox in the hook": "lua/chaos.lua:12: attempt to index a nil value (global 'os')",
    "Please return a NUMBER from the hook": "lua/chaos.lua:4: by_question returned a number",
    "Please REDOS in the hook": 'hook "lua/chaos.lua:by_question": still running after 2 s, stopped',
}
GOOD = ["Explain the Pythagorean theorem, job %d" % i for i in range(6)]


def main():
    t = Tap()
    base = workdir()
    if os.path.exists(ESCAPED):
        os.unlink(ESCAPED)
    top = os.environ.get("top_builddir", os.path.join(HERE, "..", "..", ".."))
    env = {"MAX_CONCURRENT_VIDEOS": "3",
           "VIDGEN_PLUGIN_PATH": os.environ.get("VIDGEN_PLUGIN_PATH") or
           "%s/plugins/.libs:%s/tests/.libs" % (top, top)}
    d = Daemon(base, pipeline=PIPELINE, env=env).start()
    try:
        ids = {}
        lock = threading.Lock()

        def submit(q):
            st, _, doc = d.create(q)
            with lock:
                ids[q] = (st, doc["video_id"] if doc else None)

        # Bad and good jobs interleaved, submitted at once.
        qs = [q for pair in zip(list(BAD) + [None], GOOD) for q in pair if q]
        threads = [threading.Thread(target=submit, args=(q,)) for q in qs]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        t.ok(all(st in (201, 202) and vid for st, vid in ids.values()) and len(ids) == len(qs),
             "%d jobs accepted" % len(qs), ids)

        done = {}
        for q, (_, vid) in ids.items():
            doc, _ = d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"), timeout=60)
            done[q] = doc
        for q, want in BAD.items():
            doc = done.get(q)
            t.ok(doc is not None and doc["status"] == "failed" and want in (doc.get("message") or ""),
                 "%s: failed with \"%s\"" % (q, want), doc)
        for q in GOOD:
            doc = done.get(q)
            t.ok(doc is not None and doc["status"] == "completed"
                 and doc["initial_explanation"] == "[EXPLAIN QUESTION=%s]" % q.upper(),
                 "%s: completed beside them, hook applied" % q, doc)
        t.ok(not os.path.exists(ESCAPED), "os.execute ran nothing")

        # Still serving: the config answers and a new job completes.
        st, _, cfg = d.json("GET", "/api/v1/config")
        t.ok(st == 200 and cfg and cfg.get("models") == ["claude-4-sonnet"], "the daemon still answers", cfg)
        st, _, doc = d.create("Explain binary search, after the storm")
        vid = doc["video_id"] if doc else None
        doc, _ = d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"), timeout=30) if vid else (None, [])
        t.ok(doc is not None and doc["status"] == "completed", "a job submitted afterwards completes", doc)
        t.ok(d.proc.poll() is None, "the daemon process is still running")
    finally:
        rc = d.stop()
        t.ok(rc == 0, "the daemon exits cleanly on SIGTERM", "exit %r\n%s" % (rc, d.log()[-2000:]))
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
