"""Scale-out on one shared PostgreSQL store (run by serve_cluster.sh, which
starts the server): 2 API nodes (`vidgen serve --no-workers`) and 3 workers
(`vidgen worker`) on one shared data folder. 30 jobs created through both API
nodes each complete once, each replayed model stage called once per job; a
worker killed with -9 mid-job: another worker completes that job, and no
stage that had completed runs again; a cancel through an API node reaches a
job another node's worker runs; the roles refuse a store of their own. TAP."""

import os
import re
import signal
import subprocess
import time

from serve_lib import (Daemon, Tap, PIPELINE, vidgen_path, workdir, cleanup, replay_calls,
                       store_for, store_rows, walk_ok)

QUESTIONS = ("Explain the Pythagorean theorem with visual proof",
             "Why are prime numbers infinite? Explain Euclid.")
STAGES = ("explain", "refine", "script", "validate")
MID = ("refining_explanation", "generating_script", "validating_script")
LEASE_MS = "2000"


class Cluster:
    """API nodes and workers on one database and one data folder."""

    def __init__(self, base, log, delay_ms, lease_ms=LEASE_MS):
        self.base = base
        self.url = store_for(base)
        self.data = os.path.join(base, "shared")
        self.env = {"VIDGEN_REPLAY_LOG": log, "SERVE_DELAY_MS": str(delay_ms),
                    "MAX_CONCURRENT_VIDEOS": "2", "VIDGEN_LEASE_MS": lease_ms}
        self.apis, self.workers = [], []

    def node(self, name, command, args=()):
        d = Daemon(os.path.join(self.base, name), env=self.env, args=list(args),
                   command=command)
        os.makedirs(d.workdir, exist_ok=True)
        d.db, d.data_dir = self.url, self.data
        return d.start()

    def start(self, n_api, n_workers):
        self.apis = [self.node("api%d" % i, "serve", ["--no-workers"]) for i in range(n_api)]
        self.workers = [self.node("worker%d" % i, "worker") for i in range(n_workers)]
        return self

    def logs(self):
        return "\n".join(d.log()[-1500:] for d in self.apis + self.workers)

    def stop(self):
        for d in self.apis + self.workers:
            d.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def cluster(base, name, delay_ms, n_api, n_workers, lease_ms=LEASE_MS):
    """A Cluster in base/name, started (a context manager that stops it); its
    replay log is base/name.log."""
    c = Cluster(os.path.join(base, name), os.path.join(base, name + ".log"), delay_ms,
                lease_ms)
    os.makedirs(c.base)
    return c.start(n_api, n_workers)


def wait_all(api_nodes, ids, pred, timeout):
    """Polls the jobs' status through the API nodes in turn until pred holds
    for every one; returns {id: last doc}."""
    last = {}
    end = time.time() + timeout
    while time.time() < end:
        for i, vid in enumerate(ids):
            if vid in last and pred(last[vid]):
                continue
            st, _, doc = api_nodes[i % len(api_nodes)].status(vid)
            if st == 200:
                last[vid] = doc
        if len(last) == len(ids) and all(pred(d) for d in last.values()):
            break
        time.sleep(0.1)
    return last


def stage_runs(worker):
    """How many stages a worker ran, from its /metrics."""
    st, _, body = worker.request("GET", "/metrics")
    n = 0
    for line in body.decode().splitlines():
        if line.startswith("vidgen_stage_duration_seconds_count{"):
            n += int(float(line.rsplit(" ", 1)[1]))
    return n


def test_thirty_jobs(t, base):
    with cluster(base, "thirty", 20, 2, 3) as c:
        log = os.path.join(base, "thirty.log")
        ids = []
        for i in range(30):
            st, _, doc = c.apis[i % 2].create(QUESTIONS[i % 2])
            if st == 202:
                ids.append(doc["video_id"])
        t.ok(len(ids) == 30, "30 jobs created through 2 API nodes (--no-workers)", len(ids))
        last = wait_all(c.apis, ids, lambda d: d["status"] in ("completed", "failed"), 120)
        done = [v for v in ids if last.get(v, {}).get("status") == "completed"]
        t.ok(len(done) == 30, "3 workers completed all 30 jobs",
             (len(done), [last.get(v) for v in ids if v not in done][:3], c.logs()))
        calls = {v: replay_calls(log, v) for v in ids}
        bad = {v: n for v, n in calls.items() if n != {s: 1 for s in STAGES}}
        t.ok(not bad, "each job's replayed model stages were called once each", bad)
        rows = store_rows(c.url, "SELECT id, attempts, status FROM jobs")
        t.ok(len(rows) == 30 and all(r[1] == "1" and r[2] == "completed" for r in rows),
             "each job was claimed once and completed once (the store's attempts)", rows[:5])
        runs = [stage_runs(w) for w in c.workers]
        t.ok(sum(runs) == 30 * len(STAGES) and sum(1 for n in runs if n) >= 2,
             "the workers shared the jobs: stages run by each worker %s" % runs, runs)
        st, _, doc = c.workers[0].json("GET", "/healthz")
        st2, _, _ = c.workers[0].json("GET", "/api/v1/videos")
        t.ok(st == 200 and doc and doc.get("status") == "ok" and st2 == 404,
             "a worker answers /healthz (and /metrics) on its own port, not the API",
             (st, doc, st2))


def test_worker_health_queue(t, base):
    """A worker counts the store's waiting jobs when /healthz asks (it does
    not count them each second): jobs created through an API node."""
    with cluster(base, "healthq", 20, 1, 0) as c:
        w = c.node("paused", "worker", ["--paused"])
        c.workers.append(w)
        ids = [c.apis[0].create(QUESTIONS[i % 2])[2].get("video_id") for i in range(3)]
        st, _, doc = w.json("GET", "/healthz")
        t.ok(st == 200 and all(ids) and doc.get("queued") == 3 and doc.get("running") == 0,
             "a paused worker's /healthz counts the 3 jobs an API node queued", (st, doc))


def holder(workers):
    """The worker running a job now (its /healthz says running 1), or None."""
    for w in workers:
        st, _, doc = w.json("GET", "/healthz")
        if st == 200 and doc.get("running", 0) > 0:
            return w
    return None


def run_to_mid(c, question):
    """Creates a job through the first API node and waits until a worker runs
    it past its first stage: (its id, that worker or None, the stages done
    by then)."""
    st, _, doc = c.apis[0].create(question)
    vid = doc["video_id"] if st == 202 else None
    mid, _ = c.apis[-1].wait_for(vid, lambda d: d["status"] in MID, timeout=30)
    done = {r[0] for r in store_rows(
        c.url, "SELECT stage_id FROM stages WHERE ok AND job_id = '%s'" % vid)}
    return vid, holder(c.workers) if mid else None, done


def snapshot(c, vid):
    """What the store holds of a job: its row and its stages."""
    return (store_rows(c.url, "SELECT status, progress, message, video_url, attempts"
                       " FROM jobs WHERE id = '%s'" % vid),
            store_rows(c.url, "SELECT stage_id, duration_ms FROM stages"
                       " WHERE job_id = '%s' ORDER BY stage_id" % vid))


def wait_end(c, vid, timeout):
    end, _ = c.apis[0].wait_for(vid, lambda d: d["status"] in ("completed", "failed"),
                                timeout=timeout)
    return end


def test_kill_worker(t, base):
    with cluster(base, "kill", 600, 1, 3) as c:
        log = os.path.join(base, "kill.log")
        vid, w, done_before = run_to_mid(c, QUESTIONS[0])
        t.ok(w is not None, "a worker runs the job past its first stage", c.logs())
        t.ok(w is not None and w.kill9() is not None and done_before,
             "kill -9 that worker mid-job (stages done: %s)" % sorted(done_before))
        end = wait_end(c, vid, 60)
        t.ok(end is not None and end["status"] == "completed",
             "another worker completes the job once the lease runs out", (end, c.logs()))
        calls = replay_calls(log, vid)
        again = {s: calls.get(s) for s in done_before if calls.get(s) != 1}
        t.ok(not again and all(calls.get(s, 0) >= 1 for s in STAGES),
             "no stage that had completed ran again", calls)
        rows = store_rows(c.url, "SELECT attempts FROM jobs WHERE id = '%s'" % vid)
        t.ok(rows == [("2",)], "the job was claimed twice: once by each worker", rows)


def test_frozen_worker(t, base):
    """A worker frozen (SIGSTOP) past its lease loses the job to another; woken
    again, it writes nothing of it."""
    with cluster(base, "frozen", 600, 1, 2) as c:
        log = os.path.join(base, "frozen.log")
        vid, w, done_before = run_to_mid(c, QUESTIONS[1])
        t.ok(w is not None, "a worker runs the job", c.logs())
        w.proc.send_signal(signal.SIGSTOP)
        end = wait_end(c, vid, 60)
        t.ok(end is not None and end["status"] == "completed",
             "the other worker takes the job over and completes it", (end, c.logs()))
        before = snapshot(c, vid)
        w.proc.send_signal(signal.SIGCONT)
        time.sleep(3)
        after = snapshot(c, vid)
        t.ok(before == after and before[0][0][4] == "2",
             "woken, the worker that lost the lease wrote nothing of the job",
             (before, after))
        t.ok("lease lost" in w.log(), "its log says it lost the lease", w.log()[-800:])
        calls = replay_calls(log, vid)
        t.ok(all(calls.get(s) == 1 for s in done_before),
             "no stage that had completed ran again", (done_before, calls))


def test_events_any_node(t, base):
    """/events on an API node follows a job created through another node and
    run by a worker: the nodes hear each other only through PostgreSQL."""
    with cluster(base, "events", 300, 2, 1) as c:
        st, _, doc = c.apis[1].create(QUESTIONS[0])
        st, ctype, evs = c.apis[0].events(doc["video_id"], timeout=60)
        docs = [e[1] for e in evs]
        ok, why = walk_ok(docs)
        t.ok(st == 200 and len(docs) >= 4 and ok and docs[-1]["status"] == "completed",
             "/events on node A shows every step of a job node B created and a worker "
             "ran (%d events)" % len(docs),
             (st, why, [(d["status"], d["progress"]) for d in docs], c.logs()))


def test_cancel_within_a_second(t, base):
    """A cancel reaches the worker through NOTIFY, not its next renewal (the
    lease here is 20 s: renewals every 5 s)."""
    with cluster(base, "cancelfast", 2000, 1, 1, lease_ms="20000") as c:
        vid, w, _ = run_to_mid(c, QUESTIONS[0])
        t0 = time.time()
        st, _, _ = c.apis[0].json("DELETE", "/api/v1/videos/%s" % vid)
        end, _ = c.apis[0].wait_for(vid, lambda d: d["status"] == "failed", timeout=10,
                                    interval=0.05)
        took = time.time() - t0
        t.ok(w is not None and st == 202 and end is not None and took < 1.5,
             "a cancel through an API node stops the worker's job within a second "
             "(%.2f s to failed)" % took, (st, end, c.logs()))


def pg_server(*args):
    """tests/pg_server.sh ARGS on the server of $VIDGEN_TEST_PG (its folder)."""
    folder = re.search(r"[?&]host=([^&]+)", os.environ["VIDGEN_TEST_PG"]).group(1)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg_server.sh")
    return subprocess.run([script] + list(args) + [folder], capture_output=True).returncode


def test_pg_outage(t, base):
    """PostgreSQL stopped for 10 s mid-run: API nodes answer 503 with a JSON
    error meanwhile, and every job still completes, once."""
    with cluster(base, "outage", 500, 1, 2, lease_ms="20000") as c:
        log = os.path.join(base, "outage.log")
        ids = [c.apis[0].create(QUESTIONS[i % 2])[2]["video_id"] for i in range(6)]
        c.apis[0].wait_for(ids[0], lambda d: d["status"] in MID, timeout=30)
        t.ok(pg_server("stop") == 0, "PostgreSQL stopped mid-run")
        t0 = time.time()
        st, _, doc = c.apis[0].json("GET", "/api/v1/videos/%s/status" % ids[-1])
        st2, _, doc2 = c.apis[0].create(QUESTIONS[0])
        t.ok(st == 503 and doc and doc.get("error") == "store_unavailable" and
             st2 == 503 and doc2 and doc2.get("error") == "store_unavailable",
             "meanwhile the API node answers 503 store_unavailable (status, create)",
             (st, doc, st2, doc2))
        time.sleep(max(0, 10 - (time.time() - t0)))
        t.ok(pg_server("restart") == 0, "PostgreSQL back after 10 s")
        last = wait_all(c.apis, ids, lambda d: d["status"] in ("completed", "failed"), 90)
        done = [v for v in ids if last.get(v, {}).get("status") == "completed"]
        rows = store_rows(c.url, "SELECT attempts FROM jobs")
        t.ok(len(done) == 6 and all(r[0] == "1" for r in rows),
             "every job completes by itself, each claimed once (none lost or doubled)",
             (len(done), rows, [last.get(v) for v in ids if v not in done][:2], c.logs()))
        calls = {v: replay_calls(log, v) for v in ids}
        bad = {v: n for v, n in calls.items() if n != {s: 1 for s in STAGES}}
        t.ok(not bad, "each job's model stages were called once each", bad)


def test_cancel_from_api(t, base):
    with cluster(base, "cancel", 800, 2, 1) as c:
        vid, w, _ = run_to_mid(c, QUESTIONS[1])
        st, _, doc = c.apis[1].json("DELETE", "/api/v1/videos/%s" % vid)
        t.ok(w is not None and st == 202,
             "DELETE through the other API node of a job a worker runs: 202", (st, doc))
        end = wait_end(c, vid, 30)
        t.ok(end is not None and end["status"] == "failed" and "cancel" in end["message"],
             "the worker stops it and records the cancel", end)
        # A queued job (no worker free): cancelled at once.
        st, _, a = c.apis[0].create(QUESTIONS[0])
        st, _, b = c.apis[0].create(QUESTIONS[1])
        st, _, doc = c.apis[1].json("DELETE", "/api/v1/videos/%s" % b["video_id"])
        t.ok(st in (200, 202) and doc.get("video_id") == b["video_id"],
             "DELETE of a queued job through another API node", (st, doc))
        end, _ = c.apis[0].wait_for(b["video_id"], lambda d: d["status"] == "failed",
                                    timeout=30)
        t.ok(end is not None and "cancel" in end["message"], "it ends cancelled", end)


def test_roles_need_shared_store(t, base):
    for args, what in ((["worker"], "vidgen worker"), (["serve", "--no-workers"],
                                                        "serve --no-workers")):
        cmd = [vidgen_path()] + args[:1] + ["-p", PIPELINE, "-l", "127.0.0.1:0", "--db",
                                           os.path.join(base, "own.db"), "--data-dir",
                                           os.path.join(base, "own")] + args[1:]
        p = subprocess.run(cmd, capture_output=True, timeout=30)
        err = p.stderr.decode(errors="replace")
        t.ok(p.returncode != 0 and "postgresql://" in err,
             "%s on a SQLite store: refused, saying it needs a shared one" % what, err)


def test_file_store_needs_shared_dir(t, base):
    """A pipeline keeping videos with the file plugin is refused on a shared
    store unless VIDGEN_SHARED_DIR=1 declares the folder shared."""
    url = store_for(os.path.join(base, "filestore"))
    pipeline = os.path.join(os.path.dirname(PIPELINE), "filestore.cfg")
    cmd = [vidgen_path(), "worker", "-p", pipeline, "-l", "127.0.0.1:0", "--db", url,
           "--data-dir", os.path.join(base, "filestore-data")]
    p = subprocess.run(cmd, capture_output=True, timeout=30)
    err = p.stderr.decode(errors="replace")
    t.ok(p.returncode != 0 and "filestore.cfg:" in err and "VIDGEN_SHARED_DIR" in err,
         "a file store on a shared store: the worker refuses to start, naming the stage", err)
    os.makedirs(os.path.join(base, "filestore"), exist_ok=True)
    d = Daemon(os.path.join(base, "filestore"), env={"VIDGEN_SHARED_DIR": "1"},
               pipeline=pipeline, command="worker")
    d.db = url
    try:
        d.start()
        started = True
    except RuntimeError as e:
        started = str(e)
    t.ok(started is True, "with VIDGEN_SHARED_DIR=1 it starts", started)
    d.stop()


def main():
    t = Tap()
    if not os.environ.get("VIDGEN_TEST_PG"):
        t.skip("no PostgreSQL server: VIDGEN_TEST_PG is not set (serve_cluster.sh sets it)")
        return t.done()
    base = workdir()
    try:
        test_roles_need_shared_store(t, base)
        test_file_store_needs_shared_dir(t, base)
        test_thirty_jobs(t, base)
        test_worker_health_queue(t, base)
        test_kill_worker(t, base)
        test_frozen_worker(t, base)
        test_events_any_node(t, base)
        test_cancel_within_a_second(t, base)
        test_pg_outage(t, base)
        test_cancel_from_api(t, base)
    finally:
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
