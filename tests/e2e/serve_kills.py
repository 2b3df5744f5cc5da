"""Random kills (run by tests/e2e/serve_kills.sh): `vidgen serve` runs 10 jobs
on replay stages with delays and is killed with SIGKILL at random moments
(50 by default, VIDGEN_KILLS), restarted on the same store each time, until
every job has finished. Then: every job completed; no stage the store had
recorded as done before a kill ran again after it (the replay plugin logs
each call); the SQLite store passes PRAGMA integrity_check; no temporary
file is left in the data directory. Seeded (VIDGEN_KILL_SEED) so a failure
can be replayed. TAP."""

import os
import random
import sqlite3
import sys
import time

from serve_lib import Daemon, Tap, cleanup, integrity_check, replay_calls, workdir

# The recorded answers (tests/e2e/serve/answers) are found by question.
QUESTIONS = ["Explain the Pythagorean theorem with visual proof"] * 5 + \
            ["Why are prime numbers infinite? Explain Euclid."] * 5
STAGES = ("explain", "refine", "script", "validate")


def done_stages(db):
    """(job, stage) pairs the store recorded as succeeded."""
    con = sqlite3.connect(db)
    try:
        return set(con.execute("SELECT job_id, stage_id FROM stages WHERE ok = 1"))
    finally:
        con.close()


def temp_files(root):
    """Files under root whose names say they are half-written."""
    out = []
    for d, _, files in os.walk(root):
        out += [os.path.join(d, f) for f in files if ".tmp" in f or f.startswith(".")]
    return out


def main():
    t = Tap()
    kills = int(os.environ.get("VIDGEN_KILLS", "50"))
    seed = int(os.environ.get("VIDGEN_KILL_SEED", str(int(time.time()))))
    rnd = random.Random(seed)
    base = workdir()
    log = os.path.join(base, "replay.log")
    env = {"SERVE_DELAY_MS": "150", "VIDGEN_REPLAY_LOG": log, "MAX_CONCURRENT_VIDEOS": "3"}
    d = Daemon(base, env=env).start()
    ids = []
    for q in QUESTIONS:
        st, _, doc = d.create(q)
        if st in (201, 202) and doc:
            ids.append(doc["video_id"])
    t.ok(len(ids) == len(QUESTIONS), "%d jobs accepted (seed %d)" % (len(ids), seed), ids)

    # Kill at random moments: after a random wait, SIGKILL, restart.
    # A (job, stage) done at a kill must keep its call count to the end.
    frozen = {}
    done_kills = 0
    for k in range(kills):
        time.sleep(rnd.uniform(0.02, 0.6))
        d.kill9()
        done_kills += 1
        for job, stage in done_stages(d.db):
            if (job, stage) not in frozen:
                frozen[(job, stage)] = replay_calls(log, job).get(stage, 0)
        d = Daemon(base, env=env).start()
    t.ok(done_kills == kills, "%d SIGKILLs at random moments, restarted each time" % done_kills)

    # Let it finish undisturbed.
    final = {}
    for vid in ids:
        doc, _ = d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"), timeout=120)
        final[vid] = doc
    completed = [v for v in ids if final.get(v) and final[v]["status"] == "completed"]
    t.ok(len(completed) == len(ids), "every job completed (%d of %d)" % (len(completed), len(ids)),
         {v: (final[v] or {}).get("status") for v in ids})
    again = {}
    for (job, stage), n in frozen.items():
        now = replay_calls(log, job).get(stage, 0)
        if now != n:
            again[(job, stage)] = (n, now)
    t.ok(not again, "no stage done before a kill ran again (%d stage completions checked)"
         % len(frozen), again)
    calls = sum(sum(replay_calls(log, v).values()) for v in ids)
    t.ok(all(all(replay_calls(log, v).get(s, 0) >= 1 for s in STAGES) for v in ids),
         "every stage of every job ran (%d model calls for %d stage runs)" % (calls, len(ids) * 4))
    rc = d.stop()
    t.ok(rc == 0, "the last daemon exits 0 on SIGTERM", rc)
    check = integrity_check(d.db)
    t.ok(check == [("ok",)], "the store passes PRAGMA integrity_check", check)
    left = temp_files(d.data_dir)
    t.ok(not left, "no temporary file is left in the data directory", left[:10])
    cleanup(base)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
