"""Shared artifacts in S3 (run by serve_artifacts.sh with the test venv's
Python, under a throw-away PostgreSQL server): workers with data folders of
their own, no shared folder, VIDGEN_ARTIFACTS pointing at moto (started here
from tests/fakes/fakes.py, reached through a loopback relay this test can cut).

- kill -9 of a worker mid-job: a new worker with an empty data folder
  completes the job from S3, and no completed stage runs again (the replay
  plugin's log); the job's objects are in the bucket under the prefix;
- 3 workers share 12 jobs, each run once, every stage's record in S3;
- S3 unreachable for a few seconds mid-job: the worker's log shows the
  retries, and the job completes once S3 is back;
- S3 gone for good: the job fails with the S3 error in its message, and the
  worker lives on; a missing bucket fails at once, without retries;
- a stage sent back for a repair has its record withdrawn while it runs again;
- retention on any node deletes the artifacts of finished jobs older than it;
- a pipeline keeping videos with the file plugin is still refused on a
  shared store unless VIDGEN_SHARED_DIR=1, artifacts or not. TAP."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

import boto3

from serve_lib import Daemon, Tap, vidgen_path, workdir, cleanup, replay_calls, store_for, \
    store_rows

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.join(HERE, "..", "..")
sys.path.insert(0, os.path.join(TOP, "tests", "fakes"))
import cloud_fake  # noqa: E402

PIPELINE = os.path.join(HERE, "serve", "artifacts.cfg")
QUESTION = "Explain the Pythagorean theorem with visual proof"
STAGES = ("explain", "refine", "narrate", "script", "validate")
REPLAYED = ("explain", "refine", "script", "validate")
BUCKET = "loli"
KEY_ID = "AKIDVIDGENTEST"


class Relay:
    """A TCP relay on a loopback port of its own to moto: stop() closes it
    (S3 refuses connections), start() opens it again on the same port."""

    def __init__(self, target):
        self.target, self.port, self.lsock, self.conns = target, 0, None, []
        self.lock = threading.Lock()
        self.slow_down = 0  # answer this many requests 503 SlowDown (-1: all)
        self.refused = 0    # how many it answered so

    def _slow_down(self, c):
        """Reads one request from c and answers it 503 SlowDown, as S3 does
        when throttling. True if it did."""
        with self.lock:
            if self.slow_down == 0:
                return False
            self.slow_down -= 1 if self.slow_down > 0 else 0
            self.refused += 1
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                break
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                length = int(v.strip())
            if k.strip().lower() == b"expect":
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        while len(body) < length:
            chunk = c.recv(65536)
            if not chunk:
                break
            body += chunk
        xml = (b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code>"
               b"<Message>Please reduce your request rate.</Message></Error>")
        c.sendall(b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                  b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(xml), xml))
        c.close()
        return True

    def start(self):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", self.port))
        s.listen(64)
        self.port, self.lsock = s.getsockname()[1], s
        threading.Thread(target=self._accept, args=(s,), daemon=True).start()
        return self

    def _accept(self, s):
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            try:
                if self._slow_down(c):
                    continue
            except OSError:
                continue
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            with self.lock:
                self.conns += [c, u]
            for a, b in ((c, u), (u, c)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        try:
            while True:
                data = a.recv(65536)
                if not data:
                    break
                b.sendall(data)
        except OSError:
            pass
        for x in (a, b):
            try:
                x.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        try:
            self.lsock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.lsock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass
            self.conns = []


def start_moto(base):
    """tests/fakes/fakes.py (moto's S3 among them); returns (process, S3 port)."""
    ports = os.path.join(base, "ports.json")
    log = open(os.path.join(base, "fakes.log"), "wb")
    p = subprocess.Popen([sys.executable, os.path.join(TOP, "tests", "fakes", "fakes.py"),
                          "--ports", ports], stdout=log, stderr=log)
    for _ in range(150):
        if os.path.exists(ports) and os.path.getsize(ports) > 0:
            with open(ports) as f:
                return p, json.load(f)["s3"]
        if p.poll() is not None:
            break
        time.sleep(0.2)
    p.kill()
    raise RuntimeError("the protocol fakes did not start")


def s3_client(port):
    return boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port,
                        region_name="eu-west-3", aws_access_key_id=KEY_ID,
                        aws_secret_access_key=cloud_fake.KEYS[KEY_ID])


def keys_under(s3, prefix):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


class Nodes:
    """An API node and workers on one database, each with a data folder of
    its own; env holds VIDGEN_ARTIFACTS and friends."""

    def __init__(self, base, name, env):
        self.base = os.path.join(base, name)
        os.makedirs(self.base)
        self.url = store_for(self.base)
        self.log = os.path.join(base, name + ".log")
        # No retention sweep (it lists the bucket at start) but where a test
        # asks for one: the S3 requests counted are then the jobs' own.
        self.env = {"VIDGEN_REPLAY_LOG": self.log, "VIDGEN_LEASE_MS": "2000",
                    "MAX_CONCURRENT_VIDEOS": "2", "VIDEO_RETENTION_DAYS": "0"}
        self.env.update(env)
        self.nodes = []
        self.api = self.node("api", "serve", ["--no-workers"])

    def node(self, name, command, args=(), env=None):
        e = dict(self.env)
        e.update(env or {})
        d = Daemon(os.path.join(self.base, name), env=e, args=list(args), command=command,
                   pipeline=PIPELINE)
        os.makedirs(d.workdir, exist_ok=True)
        d.db = self.url  # data_dir stays the node's own: nothing shared
        self.nodes.append(d)
        return d.start()

    def worker(self, name, env=None):
        return self.node(name, "worker", env=env)

    def logs(self):
        return "\n".join(d.log()[-1500:] for d in self.nodes)

    def stop(self):
        for d in self.nodes:
            d.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def done_stages(n, vid):
    return {r[0] for r in store_rows(
        n.url, "SELECT stage_id FROM stages WHERE ok AND job_id = '%s'" % vid)}


def wait_end(n, vid, timeout):
    end, _ = n.api.wait_for(vid, lambda d: d["status"] in ("completed", "failed"),
                            timeout=timeout, interval=0.1)
    return end


def test_resume_from_s3(t, base, s3):
    # Files come down in ranges of 16 KiB here: the narration's audio in
    # several (the default piece is 32 MiB).
    env = {"VIDGEN_ARTIFACTS": "s3://%s/cluster/a1" % BUCKET, "SERVE_DELAY_MS": "700",
           "VIDGEN_ARTIFACTS_CHUNK_KB": "16"}
    with Nodes(base, "resume", env) as n:
        w1 = n.worker("w1")
        st, _, doc = n.api.create(QUESTION)
        vid = doc["video_id"] if st == 202 else None
        mid, _ = n.api.wait_for(vid, lambda d: d["status"] in ("generating_script",
                                                              "validating_script"),
                                timeout=30, interval=0.05)
        before = done_stages(n, vid)
        t.ok(mid is not None and {"explain", "refine", "narrate"} <= before,
             "a worker (its own data folder) runs the job past three stages", (before,
                                                                              n.logs()))
        w1.kill9()
        w2 = n.worker("w2")
        t.ok(not os.path.exists(os.path.join(w2.data_dir, vid)),
             "kill -9 of that worker; a new worker starts with an empty data folder")
        end = wait_end(n, vid, 60)
        t.ok(end is not None and end["status"] == "completed",
             "the new worker completes the job", (end, n.logs()))
        calls = replay_calls(n.log, vid)
        again = {s: calls.get(s) for s in before if s in REPLAYED and calls.get(s) != 1}
        t.ok(not again and all(calls.get(s, 0) >= 1 for s in REPLAYED),
             "no stage that had completed (%s) ran again (replay calls %s)"
             % (", ".join(sorted(before)), calls), calls)
        t.ok("fetched from s3://%s/cluster/a1/%s/stages/explain.json" % (BUCKET, vid)
             in w2.log() and "narrate] fetched" in w2.log(),
             "the new worker fetched the completed stages from S3", w2.log()[-1500:])
        wav = os.path.join(w2.data_dir, vid, "stages", "narrate", "seg000.wav")
        keys = keys_under(s3, "cluster/a1/%s/" % vid)
        audio = [k for k in keys if k.endswith("/stages/narrate/seg000.wav")]
        up = s3.get_object(Bucket=BUCKET, Key=audio[0])["Body"].read() if audio else b""
        with open(wav, "rb") if os.path.exists(wav) else open(os.devnull, "rb") as f:
            down = f.read()
        t.ok(len(down) > 3 * 16384 and down == up,
             "the narration audio came down with its timings, in %d pieces of 16 KiB, "
             "byte for byte" % ((len(down) + 16383) // 16384), (len(down), len(up)))
        markers = {k.rsplit("/", 1)[1] for k in keys if "/stages/" in k and "/runs/" not in k}
        t.ok(markers == {s + ".json" for s in STAGES} and audio and
             all(k.startswith("cluster/a1/%s/" % vid) for k in keys),
             "the bucket holds each stage's record and files under PREFIX/JOB/ (%d objects)"
             % len(keys), keys)
        rec = json.loads(s3.get_object(Bucket=BUCKET, Key="cluster/a1/%s/stages/narrate.json"
                                       % vid)["Body"].read())
        t.ok(rec.get("kind") == "narration" and
             "stages/narrate/narration.json" in rec.get("files", []) and
             "stages/narrate/seg000.wav" in rec.get("files", []),
             "a stage's record names its files (narration.json and its audio)", rec)


def test_many_workers(t, base, s3):
    """3 workers, each with a folder of its own, share 12 jobs: each completes
    once, each replayed stage once, every stage's record in S3."""
    env = {"VIDGEN_ARTIFACTS": "s3://%s/many" % BUCKET, "SERVE_DELAY_MS": "20"}
    with Nodes(base, "many", env) as n:
        ws = [n.worker("w%d" % i) for i in range(3)]
        ids = []
        for _ in range(12):
            st, _, doc = n.api.create(QUESTION)
            if st == 202:
                ids.append(doc["video_id"])
        ends = {v: wait_end(n, v, 90) for v in ids}
        done = [v for v, e in ends.items() if e and e["status"] == "completed"]
        t.ok(len(done) == 12, "3 workers with folders of their own complete 12 jobs",
             (len(done), n.logs()))
        calls = {v: replay_calls(n.log, v) for v in ids}
        bad = {v: c for v, c in calls.items() if c != {s: 1 for s in REPLAYED}}
        rows = store_rows(n.url, "SELECT attempts FROM jobs")
        t.ok(not bad and len(rows) == 12 and all(r[0] == "1" for r in rows),
             "each job claimed once, each replayed stage called once", (bad, rows))
        keys = keys_under(s3, "many/")
        markers = {(k.split("/")[1], k.rsplit("/", 1)[1]) for k in keys
                   if "/stages/" in k and "/runs/" not in k}
        t.ok(markers == {(v, s + ".json") for v in ids for s in STAGES},
             "every stage of every job has its record in S3 (%d)" % len(markers),
             sorted(markers)[:10])
        used = sum(1 for w in ws if any(os.path.isdir(os.path.join(w.data_dir, v))
                                        for v in ids))
        t.ok(used >= 2, "the jobs were spread over %d of the 3 workers' folders" % used)


def test_s3_outage(t, base, relay):
    env = {"VIDGEN_ARTIFACTS": "s3://%s/outage" % BUCKET, "SERVE_DELAY_MS": "600",
           "VIDGEN_HTTP_RETRY_BASE_MS": "300"}
    with Nodes(base, "outage", env) as n:
        w = n.worker("w")
        st, _, doc = n.api.create(QUESTION)
        vid = doc["video_id"] if st == 202 else None
        mid, _ = n.api.wait_for(vid, lambda d: d["status"] == "refining_explanation",
                                timeout=30, interval=0.05)
        relay.stop()
        time.sleep(4)
        retries = [ln for ln in w.log().splitlines() if "retry" in ln and "PUT" in ln]
        t.ok(mid is not None and retries,
             "S3 unreachable mid-job: the worker retries with backoff (%d retries logged)"
             % len(retries), w.log()[-1500:])
        relay.start()
        end = wait_end(n, vid, 60)
        t.ok(end is not None and end["status"] == "completed",
             "S3 back within the retry window: the job completes", (end, n.logs()))
        calls = replay_calls(n.log, vid)
        t.ok(all(calls.get(s) == 1 for s in REPLAYED),
             "each model stage ran once (%s)" % calls, calls)


def test_s3_slow_down(t, base, relay):
    """S3 throttling (503 SlowDown): retried, then the job goes on; when it
    never ends, the job fails with S3's status, code, message and key."""
    env = {"VIDGEN_ARTIFACTS": "s3://%s/slow" % BUCKET, "VIDGEN_HTTP_RETRY_BASE_MS": "100"}
    with Nodes(base, "slow", env) as n:
        w = n.worker("w")
        relay.slow_down, relay.refused = 3, 0
        st, _, doc = n.api.create(QUESTION)
        end = wait_end(n, doc["video_id"] if st == 202 else None, 60)
        answered = [ln for ln in w.log().splitlines() if "answered 503; retry" in ln]
        t.ok(end is not None and end["status"] == "completed" and relay.refused == 3 and
             len(answered) == 3,
             "3 answers 503 SlowDown: retried (%d logged), then the job completes"
             % len(answered), (end, relay.refused, w.log()[-1200:]))
        relay.slow_down, relay.refused = -1, 0
        try:
            st, _, doc = n.api.create(QUESTION)
            vid = doc["video_id"] if st == 202 else None
            end = wait_end(n, vid, 60)
        finally:
            relay.slow_down = 0
        msg = (end or {}).get("message", "")
        t.ok(end is not None and end["status"] == "failed" and relay.refused == 8 and
             "HTTP 503 SlowDown: Please reduce your request rate." in msg and
             "s3://%s/slow/%s/" % (BUCKET, vid) in msg,
             "throttled for good: 8 tries, then the job fails with S3's status, code, "
             "message and the key", (end, relay.refused))


def test_s3_gone(t, base, relay):
    env = {"VIDGEN_ARTIFACTS": "s3://%s/gone" % BUCKET, "VIDGEN_HTTP_RETRY_BASE_MS": "100",
           "SERVE_DELAY_MS": "600"}
    with Nodes(base, "gone", env) as n:
        w = n.worker("w")
        st, _, doc = n.api.create(QUESTION)
        vid = doc["video_id"] if st == 202 else None
        n.api.wait_for(vid, lambda d: d["status"] == "refining_explanation", timeout=30,
                       interval=0.05)
        relay.stop()
        try:
            end = wait_end(n, vid, 60)
        finally:
            relay.start()
        msg = (end or {}).get("message", "")
        t.ok(end is not None and end["status"] == "failed" and
             msg.startswith("Stage refine finished but its output could not be kept: S3 "
                            "could not store s3://%s/gone/%s/runs/" % (BUCKET, vid)) and
             "stages/refine/" in msg and "connect" in msg.lower(),
             "S3 gone for good mid-job: the job fails naming the stage, the object and "
             "the error", (end,))
        st, _, h = w.json("GET", "/healthz")
        t.ok(w.proc.poll() is None and st == 200,
             "the worker lives on (/healthz %s)" % st, w.log()[-800:])
        t.ok(AWS_SECRET not in w.log() and AWS_SECRET not in msg,
             "no secret in the worker's log or the message")

    env = {"VIDGEN_ARTIFACTS": "s3://vidgen-no-such-bucket/x"}
    with Nodes(base, "nobucket", env) as n:
        w = n.worker("w")
        st, _, doc = n.api.create(QUESTION)
        vid = doc["video_id"] if st == 202 else None
        t0 = time.time()
        end = wait_end(n, vid, 30)
        took = time.time() - t0
        msg = (end or {}).get("message", "")
        t.ok(end is not None and end["status"] == "failed" and "NoSuchBucket" in msg and
             "HTTP 404" in msg and "retry" not in w.log(),
             "a missing bucket fails the job at once with S3's error, no retries "
             "(%.1f s)" % took, (end, w.log()[-800:]))


def test_retention(t, base, s3):
    """Retention on any node (here a new API node, which sweeps at its start)
    deletes the shared artifacts of finished jobs older than it, and only
    theirs."""
    env = {"VIDGEN_ARTIFACTS": "s3://%s/ret" % BUCKET, "VIDEO_RETENTION_DAYS": "7"}
    with Nodes(base, "retention", env) as n:
        n.worker("w")
        ids = []
        for _ in range(2):
            st, _, doc = n.api.create(QUESTION)
            ids.append(doc["video_id"] if st == 202 else None)
        ends = [wait_end(n, v, 30) for v in ids]
        old, new = ids
        before = {v: len(keys_under(s3, "ret/%s/" % v)) for v in ids}
        t.ok(all(e and e["status"] == "completed" for e in ends) and
             all(c >= 6 for c in before.values()),
             "two jobs complete with their artifacts in S3 (%s objects)"
             % sorted(before.values()), (ends, before))
        store_rows(n.url, "UPDATE jobs SET created_at = '2020-01-01T00:00:00.000Z' "
                   "WHERE id = '%s'" % old)
        api2 = n.node("api2", "serve", ["--no-workers"])
        end = time.time() + 20
        while time.time() < end and keys_under(s3, "ret/%s/" % old):
            time.sleep(0.2)
        left_old, left_new = keys_under(s3, "ret/%s/" % old), keys_under(s3, "ret/%s/" % new)
        t.ok(not left_old and len(left_new) == before[new],
             "another node's retention deleted the old job's %d objects, and none of the "
             "recent job's" % before[old], (left_old, left_new, api2.log()[-1000:]))
        t.ok("retention removed the %d shared artifacts of job %s" % (before[old], old)
             in api2.log(), "its log says so", api2.log()[-1000:])
        st, _, doc = n.api.status(old)
        t.ok(st == 200 and doc["status"] == "completed",
             "the job's record stays (status 200, completed)", (st, doc))


def test_repair_withdraws(t, base, s3):
    """A stage sent back for a repair has its record withdrawn from S3 while it
    runs again; its new run's record and files replace it."""
    env = dict(os.environ)
    env["VIDGEN_ARTIFACTS"] = "s3://%s/rep" % BUCKET
    p = subprocess.Popen([vidgen_path(), "run", "-p", os.path.join(HERE, "serve",
                                                                   "artifacts-repair.cfg"),
                          "-o", os.path.join(base, "rep-jobs"), "--json", QUESTION],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    seen = []
    while p.poll() is None:
        present = any(k.endswith("/stages/a.json") for k in keys_under(s3, "rep/"))
        if not seen or seen[-1] != present:
            seen.append(present)
        time.sleep(0.1)
    out, err = p.communicate()
    keys = keys_under(s3, "rep/")
    marker = [k for k in keys if k.endswith("/stages/a.json")]
    rec = json.loads(s3.get_object(Bucket=BUCKET, Key=marker[0])["Body"].read()) \
        if marker else {}
    runs = {k.split("/runs/")[1].split("/")[0] for k in keys
            if "/runs/" in k and "/stages/a/" in k}
    t.ok(p.returncode == 0 and seen[:4] == [False, True, False, True],
         "a's record in S3: absent, present, withdrawn while a runs again for the repair, "
         "present again (%s)" % seen, (p.returncode, seen, err.decode()[-800:]))
    t.ok(rec.get("attempts") == 2 and rec.get("run") in runs and len(runs) == 2,
         "the new record is the second run's, naming that run's files", (rec, runs))


def test_file_store_refused(t, base):
    pipeline = os.path.join(HERE, "serve", "filestore.cfg")
    url = store_for(os.path.join(base, "filestore"))
    env = dict(os.environ)
    env["VIDGEN_ARTIFACTS"] = "s3://%s/fs" % BUCKET
    env.pop("VIDGEN_SHARED_DIR", None)
    cmd = [vidgen_path(), "worker", "-p", pipeline, "-l", "127.0.0.1:0", "--db", url,
           "--data-dir", os.path.join(base, "filestore-data")]
    p = subprocess.run(cmd, capture_output=True, timeout=30, env=env)
    err = p.stderr.decode(errors="replace")
    t.ok(p.returncode != 0 and "filestore.cfg:" in err and "VIDGEN_SHARED_DIR" in err,
         "with artifacts in S3, a file video store on a shared store is still refused", err)
    os.makedirs(os.path.join(base, "filestore"), exist_ok=True)
    d = Daemon(os.path.join(base, "filestore"), env={"VIDGEN_SHARED_DIR": "1",
                                                     "VIDGEN_ARTIFACTS": env["VIDGEN_ARTIFACTS"]},
               pipeline=pipeline, command="worker")
    d.db = url
    try:
        d.start()
        started = True
    except RuntimeError as e:
        started = str(e)
    t.ok(started is True, "... and accepted with VIDGEN_SHARED_DIR=1", started)
    d.stop()
    env.pop("VIDGEN_ARTIFACTS")
    d = Daemon(os.path.join(base, "filestore"), pipeline=PIPELINE, command="worker")
    d.db = url
    d.env.pop("VIDGEN_ARTIFACTS", None)
    d.env.pop("VIDGEN_SHARED_DIR", None)
    d.start()
    d.stop()
    t.ok("stage outputs are not (no VIDGEN_ARTIFACTS, no VIDGEN_SHARED_DIR=1)" in d.log(),
         "a worker with outputs shared nowhere warns that a job taken over would run its "
         "completed stages again", d.log()[-600:])
    env["VIDGEN_ARTIFACTS"] = "s3://Bad_Bucket/x"
    p = subprocess.run([vidgen_path(), "check", PIPELINE], capture_output=True, timeout=30,
                       env=env)
    err = p.stderr.decode(errors="replace") + p.stdout.decode(errors="replace")
    t.ok(p.returncode != 0 and "VIDGEN_ARTIFACTS" in err and "Bad_Bucket" in err,
         "a bad VIDGEN_ARTIFACTS is refused, naming it", err)


AWS_SECRET = "vidgen/test+secret/KEY0123456789abcdefghij"


def main():
    t = Tap()
    if not os.environ.get("VIDGEN_TEST_PG"):
        t.skip("no PostgreSQL server: VIDGEN_TEST_PG is not set (serve_artifacts.sh sets it)")
        return t.done()
    base = workdir()
    moto = None
    try:
        moto, s3_port = start_moto(base)
        relay = Relay(s3_port).start()
        for k in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "http_proxy",
                  "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
            os.environ.pop(k, None)
        os.environ.update({
            "AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
            "AWS_SHARED_CREDENTIALS_FILE": os.path.join(base, "none"),
            "AWS_CONFIG_FILE": os.path.join(base, "none"), "AWS_REGION": "eu-west-3",
            "S3_ENDPOINT_URL": "http://127.0.0.1:%d" % relay.port, "S3_PATH_STYLE": "true",
            "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"})
        s3 = s3_client(s3_port)
        test_resume_from_s3(t, base, s3)
        test_many_workers(t, base, s3)
        test_s3_outage(t, base, relay)
        test_s3_slow_down(t, base, relay)
        test_s3_gone(t, base, relay)
        test_retention(t, base, s3)
        test_repair_withdraws(t, base, s3)
        test_file_store_refused(t, base)
    finally:
        if moto:
            moto.kill()
            moto.wait()
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
