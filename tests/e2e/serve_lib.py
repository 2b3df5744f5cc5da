"""Helpers for the `vidgen serve` end-to-end tests: TAP output, starting the
daemon on an ephemeral loopback port, and small HTTP/SSE clients built on the
standard library only (http.client), so the tests talk real HTTP."""

import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PIPELINE = os.path.join(HERE, "serve", "pipeline.cfg")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
ISO_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
RESPONSE_KEYS = {"video_id", "status", "message", "video_url", "s3_url", "created_at",
                 "progress", "original_question", "initial_explanation",
                 "refined_explanation", "usage", "captions_url", "captions_srt_url", "poster_url",
                 "thumbnail_url"}
WALK = ["queued", "generating_initial_explanation", "refining_explanation",
        "generating_script", "validating_script", "completed"]


class Tap:
    """Prints one ok/not ok line per check and the plan at the end."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, desc, diag=None):
        self.n += 1
        if cond:
            print("ok %d - %s" % (self.n, desc))
        else:
            self.failed += 1
            print("not ok %d - %s" % (self.n, desc))
            if diag is not None:
                for line in str(diag).splitlines()[:20]:
                    print("# " + line)
        sys.stdout.flush()
        return bool(cond)

    def skip(self, desc):
        self.n += 1
        print("ok %d # SKIP %s" % (self.n, desc))

    def done(self):
        print("1..%d" % self.n)
        sys.stdout.flush()
        return 0


def vidgen_path():
    v = os.environ.get("VIDGEN")
    if v:
        return v
    top = os.environ.get("top_builddir", os.path.join(HERE, "..", ".."))
    return os.path.join(top, "vidgen")


class Daemon:
    """One `vidgen serve` process with its own data directory and store."""

    def __init__(self, workdir, env=None, args=None, pipeline=PIPELINE, web_dir=None,
                 command="serve"):
        self.command = command  # "serve", or "worker" (runs jobs of a shared store)
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        self.db = store_for(workdir)
        self.env = dict(os.environ)
        # The tests create jobs faster than a public demo's client may
        # (doc/api.md, "Fair share"); the tests of those limits set them.
        self.env.update({"VIDGEN_CREATE_RATE": "0", "VIDGEN_QUEUED_PER_CLIENT": "0"})
        self.env.update(env or {})
        self.args = args or []
        self.pipeline = pipeline
        self.web_dir = web_dir
        self.proc = None
        self.port = None
        self.stderr_path = os.path.join(workdir, "daemon.err")

    def start(self, timeout=10):
        # db None: no --db, the daemon reads VIDGEN_DB.
        cmd = [vidgen_path(), self.command, "-p", self.pipeline, "-l", "127.0.0.1:0"] + \
            (["--db", self.db] if self.db else []) + ["--data-dir", self.data_dir]
        if self.web_dir:
            cmd += ["--web-dir", self.web_dir]
        cmd += self.args
        self.stderr = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.stderr,
                                     env=self.env)
        line = self.proc.stdout.readline().decode()
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError("daemon did not start: %r\n%s" % (line, self.log()))
        self.port = int(m.group(1))
        return self

    def log(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=15):
        """Sends sig; returns the exit status (None if it had to be killed)."""
        if not self.proc:
            return None
        self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            rc = None
        self.proc.stdout.close()
        self.stderr.close()
        self.proc = None
        return rc

    def kill9(self):
        return self.stop(signal.SIGKILL)

    # -- HTTP ---------------------------------------------------------------
    def request(self, method, path, body=None, headers=None, timeout=10):
        """Returns (status, headers dict lower-cased, body bytes)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            h = dict(headers or {})
            if isinstance(body, (dict, list)):
                body = json.dumps(body).encode()
                h.setdefault("Content-Type", "application/json")
            elif isinstance(body, str):
                body = body.encode()
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, data
        finally:
            c.close()

    def json(self, method, path, body=None, headers=None):
        st, h, data = self.request(method, path, body, headers)
        try:
            doc = json.loads(data.decode()) if data else None
        except ValueError:
            doc = None
        return st, h, doc

    def create(self, prompt, model="claude-4-sonnet", voice=None, headers=None):
        body = {"prompt": prompt, "model": model}
        if voice is not None:
            body["voice"] = voice
        return self.json("POST", "/api/v1/videos", body, headers)

    def status(self, vid):
        return self.json("GET", "/api/v1/videos/%s/status" % vid)

    def wait_for(self, vid, pred, timeout=20, interval=0.02):
        """Polls status until pred(doc); returns (doc, every doc seen)."""
        seen = []
        end = time.time() + timeout
        while time.time() < end:
            st, _, doc = self.status(vid)
            if st == 200:
                seen.append(doc)
                if pred(doc):
                    return doc, seen
            time.sleep(interval)
        return None, seen

    def events(self, vid, timeout=30):
        """Reads /events until the stream ends; returns [(event, data)] (and
        the events' ids in self.last_event_ids)."""
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        out = []
        self.last_event_ids = []
        try:
            c.request("GET", "/api/v1/videos/%s/events" % vid)
            r = c.getresponse()
            if r.status != 200:
                return r.status, r.getheader("Content-Type"), out
            ctype = r.getheader("Content-Type")
            event, data, eid = None, [], None
            while True:
                line = r.readline()
                if not line:
                    break
                line = line.decode().rstrip("\r\n")
                if line == "":
                    if data:
                        self.last_event_ids.append(int(eid) if eid else None)
                        out.append((event, json.loads("\n".join(data))))
                    event, data, eid = None, [], None
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("id:"):
                    eid = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            return r.status, ctype, out
        finally:
            c.close()


PG_BIN = os.environ.get("PG_BINDIR") or (sorted(
    [d for d in (os.path.join("/usr/lib/postgresql", v, "bin") for v in
                 (os.listdir("/usr/lib/postgresql") if os.path.isdir("/usr/lib/postgresql")
                  else [])) if os.path.isdir(d)]) or [""])[-1]


def store_for(workdir):
    """The job store of a daemon working in workdir: a SQLite file there, or,
    when $VIDGEN_TEST_PG names a PostgreSQL server (tests/pg_server.sh), a
    database of its own on it, the same one each time for the same workdir
    (a restart finds its jobs)."""
    server = os.environ.get("VIDGEN_TEST_PG")
    if not server:
        return os.path.join(workdir, "jobs.db")
    name = "vg_e2e_" + hashlib.sha1(os.path.abspath(workdir).encode()).hexdigest()[:16]
    url = re.sub(r"^(postgres(?:ql)?://[^/?]*)/[^?]*", r"\1/" + name, server)
    exists = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-At", "-d", server, "-c",
                             "SELECT 1 FROM pg_database WHERE datname = '%s'" % name],
                            capture_output=True, check=True).stdout.strip()
    if not exists:
        subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-q", "-d", server, "-c",
                        "CREATE DATABASE %s" % name], capture_output=True, check=True)
    return url


def store_rows(db, sql):
    """Rows of a query on a daemon's store (a SQLite path or a PostgreSQL
    URL), as tuples of strings (None for NULL). Write the SQL both accept."""
    if db.startswith(("postgresql://", "postgres://")):
        out = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-F", "\x1f",
                              "-P", "null=\x1e", "-d", db, "-c", sql],
                             capture_output=True, check=True).stdout.decode()
        return [tuple(None if v == "\x1e" else v for v in line.split("\x1f"))
                for line in out.split("\n") if line]  # not splitlines: \x1e splits
    con = sqlite3.connect(db)
    try:
        return [tuple(None if v is None else str(v) for v in row) for row in con.execute(sql)]
    finally:
        con.close()


def workdir():
    base = os.environ.get("TMP") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="serve.", dir=base)


def cleanup(d):
    if os.environ.get("VIDGEN_KEEP_TMP") != "1":
        shutil.rmtree(d, ignore_errors=True)


def integrity_check(db):
    """PRAGMA integrity_check's rows for the SQLite file db ([("ok",)] when sound)."""
    import sqlite3
    con = sqlite3.connect(db)
    try:
        return con.execute("PRAGMA integrity_check").fetchall()
    finally:
        con.close()


def replay_calls(path, job_id):
    """stage -> number of calls the replay plugin logged for job_id."""
    counts = {}
    try:
        with open(path) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 2 and parts[1] == job_id:
                    counts[parts[0]] = counts.get(parts[0], 0) + 1
    except OSError:
        pass
    return counts


def walk_ok(docs):
    """Statuses follow the seed's order and progress never goes back."""
    idx, prog = 0, -1
    for d in docs:
        s = d["status"]
        if s not in WALK:
            return False, "unknown status %r" % s
        i = WALK.index(s)
        if i < idx:
            return False, "status went back to %r" % s
        if d["progress"] < prog:
            return False, "progress went back: %d after %d" % (d["progress"], prog)
        idx, prog = i, d["progress"]
    return True, ""
