"""Crash and restart tests of `vidgen serve`: kill -9 mid-job, restart on the
same store, and check the jobs complete without calling a model again for a
stage that had already succeeded; a 202 survives an immediate kill -9; a
SIGTERM stops gracefully and the job continues at the next start. TAP."""

import os
import time

from serve_lib import (Daemon, Tap, UUID_RE, workdir, cleanup, replay_calls, walk_ok,
                       store_rows)

PROMPT = "Explain the Pythagorean theorem with visual proof"
PRIMES = "Why are prime numbers infinite? Explain Euclid."
STAGES = ("explain", "refine", "script", "validate")
MID = ("refining_explanation", "generating_script", "validating_script")


def done_stages(db):
    """job id -> set of stages the store recorded as succeeded."""
    out = {}
    for job, stage in store_rows(db, "SELECT job_id, stage_id FROM stages WHERE ok"):
        out.setdefault(job, set()).add(stage)
    return out


def db_status(db, vid):
    """(status, progress, finished) of a job as the store has it, or None."""
    assert UUID_RE.match(vid)
    rows = store_rows(db, "SELECT status, progress, CAST(finished AS INTEGER) FROM jobs"
                      " WHERE id = '%s'" % vid)
    return (rows[0][0], int(rows[0][1]), int(rows[0][2])) if rows else None


def test_kill9(t, base):
    log = os.path.join(base, "replay.log")
    env = {"SERVE_DELAY_MS": "400", "VIDGEN_REPLAY_LOG": log, "MAX_CONCURRENT_VIDEOS": "2"}
    d = Daemon(base, env=env).start()
    j1 = d.create(PROMPT)[2]["video_id"]
    j2 = d.create(PRIMES)[2]["video_id"]
    # Any status past stage 1 will do: a slow machine may poll past one.
    before, seen1 = d.wait_for(j1, lambda x: x["status"] in MID, timeout=20)
    t.ok(before is not None, "job 1 gets past its first stage", d.log())
    t.ok(d.kill9() is not None, "kill -9 the daemon mid-job")

    done = done_stages(d.db)
    t.ok("explain" in done.get(j1, set()), "the store recorded job 1's finished stage",
         done)
    row = db_status(d.db, j1)
    t.ok(row is not None and row[2] == 0 and row[1] >= 20,
         "job 1 is unfinished in the store, progress kept", row)

    d = Daemon(base, env=dict(env, SERVE_DELAY_MS="50")).start()
    st, _, first = d.status(j1)
    t.ok(st == 200 and first["progress"] >= before["progress"] and first["status"] != "queued",
         "after restart the status did not go back", first)
    f1, seen1b = d.wait_for(j1, lambda x: x["status"] in ("completed", "failed"), timeout=30)
    f2, _ = d.wait_for(j2, lambda x: x["status"] in ("completed", "failed"), timeout=30)
    t.ok(f1 and f1["status"] == "completed" and f1["progress"] == 100,
         "job 1 completes after the restart", f1 or d.log())
    t.ok(f2 and f2["status"] == "completed", "job 2 completes after the restart", f2)
    ok, why = walk_ok(seen1 + seen1b)
    t.ok(ok, "job 1's walk across the crash never goes back", why)
    for vid, name in ((j1, "job 1"), (j2, "job 2")):
        calls = replay_calls(log, vid)
        again = [s for s in done.get(vid, set()) if calls.get(s) != 1]
        t.ok(not again, "%s: no stage done before the crash was called again" % name,
             (calls, done.get(vid)))
        t.ok(all(calls.get(s, 0) >= 1 for s in STAGES), "%s: every stage ran" % name, calls)
    calls = replay_calls(log, j1)
    t.ok(calls.get("explain") == 1, "job 1: stage 1's model was called once", calls)
    t.ok(f1 and f1["initial_explanation"] and f1["refined_explanation"],
         "job 1 keeps both explanations", f1)

    # A 202 is durable: kill -9 right after the answer, then restart.
    j3 = d.create(PROMPT)[2]["video_id"]
    d.kill9()
    d = Daemon(base, env=dict(env, SERVE_DELAY_MS="0")).start()
    st, _, doc = d.status(j3)
    t.ok(st == 200, "a job answered 202 exists after kill -9", (st, doc))
    f3, _ = d.wait_for(j3, lambda x: x["status"] in ("completed", "failed"), timeout=30)
    t.ok(f3 and f3["status"] == "completed", "and it completes after the restart", f3)
    t.ok(d.stop() == 0, "SIGTERM: exit 0")


def test_sigterm(t, base):
    log = os.path.join(base, "replay.log")
    env = {"SERVE_DELAY_MS": "400", "VIDGEN_REPLAY_LOG": log}
    d = Daemon(base, env=env).start()
    j = d.create(PROMPT)[2]["video_id"]
    mid, _ = d.wait_for(j, lambda x: x["status"] in MID[1:], timeout=20)
    t.ok(mid is not None, "the job reaches its script stages")
    t0 = time.time()
    rc = d.stop()
    t.ok(rc == 0, "SIGTERM mid-job: exit status 0", rc)
    t.ok(time.time() - t0 < 5, "the running stage stopped at a checkpoint quickly",
         time.time() - t0)
    row = db_status(d.db, j)
    t.ok(row and row[2] == 0 and row[0] != "failed",
         "the interrupted job is not marked failed", row)
    d = Daemon(base, env=dict(env, SERVE_DELAY_MS="20")).start()
    f, _ = d.wait_for(j, lambda x: x["status"] in ("completed", "failed"), timeout=30)
    t.ok(f and f["status"] == "completed", "the job continues at the next start", f)
    calls = replay_calls(log, j)
    t.ok(calls.get("explain") == 1 and calls.get("refine") == 1,
         "stages done before the stop were not called again", calls)
    t.ok(d.stop() == 0, "SIGTERM: exit 0")


def test_retention(t, base):
    """Files older than VIDEO_RETENTION_DAYS go; job records stay."""
    d = Daemon(base, env={"VIDEO_RETENTION_DAYS": "3"}).start()
    j = d.create(PROMPT)[2]["video_id"]
    d.wait_for(j, lambda x: x["status"] == "completed")
    d.stop()
    vdir = os.path.join(d.data_dir, "videos")
    old_video = os.path.join(vdir, "11111111-2222-4333-8444-555555555555.mp4")
    new_video = os.path.join(vdir, "11111111-2222-4333-8444-666666666666.mp4")
    for p in (old_video, new_video):
        with open(p, "wb") as f:
            f.write(b"\0" * 64)
    week_ago = time.time() - 7 * 86400
    os.utime(old_video, (week_ago, week_ago))
    jobdir = os.path.join(d.data_dir, j)
    os.utime(jobdir, (week_ago, week_ago))
    d = Daemon(base, env={"VIDEO_RETENTION_DAYS": "3"}).start()
    end = time.time() + 5
    while time.time() < end and (os.path.exists(old_video) or os.path.exists(jobdir)):
        time.sleep(0.05)
    t.ok(not os.path.exists(old_video), "retention removed a video older than 3 days")
    t.ok(os.path.exists(new_video), "retention kept a new video")
    t.ok(not os.path.exists(jobdir), "retention removed an old finished job's folder")
    st, _, doc = d.status(j)
    t.ok(st == 200 and doc["status"] == "completed", "the job record stays", (st, doc))
    t.ok(d.stop() == 0, "SIGTERM: exit 0")


def main():
    t = Tap()
    base = workdir()
    for name, fn in (("kill9", test_kill9), ("sigterm", test_sigterm),
                     ("retention", test_retention)):
        d = os.path.join(base, name)
        os.makedirs(d)
        fn(t, d)
    cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
