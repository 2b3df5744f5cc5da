"""End-to-end tests of `vidgen serve`'s fair share and strict edges over real
sockets (doc/api.md, "Fair share" and "Limits of a request"): one client
flooding /events streams or creates is refused with 429/503 and Retry-After
while another client (another loopback address) is answered; the total and
per-thread stream caps; the queue caps, per address and per API key, and the
share coming back when a job leaves the queue; a FIFO in the media store or
the web folder refused at once; a data folder of another user or writable by
others refused at start; ambiguous framing, too many query arguments or
headers answered with a JSON 400/414/431 and the connection closed; a failed
job's message without host paths; Vary: Origin on every answer. TAP."""

import http.client
import json
import os
import re
import resource
import socket
import subprocess
import time

from serve_lib import Daemon, Tap, workdir, cleanup, HERE

PROMPT = "Explain the Pythagorean theorem with visual proof"
ANOTHER = "127.0.0.2"  # another client: all of 127/8 reaches the daemon
NO_LIMITS = {"VIDGEN_CREATE_RATE": "0", "VIDGEN_QUEUED_PER_CLIENT": "0"}
# The daemon's own defaults (serve_lib turns two of them off for the
# other tests): what a public demo runs with.
DEFAULTS = {"VIDGEN_CREATE_RATE": "", "VIDGEN_QUEUED_PER_CLIENT": ""}


def connect(port, src="127.0.0.1", timeout=10):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s, whole=True):
    """(status, headers, body) of one answer read from s; body only with a
    Content-Length and whole. (None, {}, b"") if the server closed first."""
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            b = s.recv(65536)
            if not b:
                return None, {}, b""
            data += b
    except (ConnectionResetError, BrokenPipeError):
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.setdefault(k.strip().lower(), []).append(v.strip())
    h = {k: ", ".join(v) for k, v in headers.items()}
    n = h.get("content-length")
    if whole and n is not None:
        while len(body) < int(n):
            b = s.recv(65536)
            if not b:
                break
            body += b
    return status, h, body


def send(port, data, src="127.0.0.1", timeout=10):
    """Sends data on a new connection; returns every byte answered until
    the server closes it (or the timeout)."""
    s = connect(port, src, timeout)
    out = b""
    try:
        s.sendall(data)
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        out += b"<timeout>"
    except (ConnectionResetError, BrokenPipeError):
        pass
    finally:
        s.close()
    return out


def answers(data):
    """The answers in a byte stream: [(status, headers, JSON body or None)]."""
    out = []
    while True:
        m = re.search(rb"HTTP/1\.[01] (\d{3})", data)
        if not m:
            return out
        data = data[m.start():]
        head, _, rest = data.partition(b"\r\n\r\n")
        h = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            k, _, v = line.partition(":")
            h[k.strip().lower()] = v.strip()
        n = int(h.get("content-length", "0") or 0)
        body, data = rest[:n], rest[n:]
        doc = None
        if h.get("content-type", "").startswith("application/json"):
            try:
                doc = json.loads(body)
            except ValueError:
                pass
        out.append((int(m.group(1)), h, doc))


def get(d, path, src="127.0.0.1", headers=None, method="GET", body=None):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10, source_address=(src, 0))
    try:
        h = dict(headers or {})
        if isinstance(body, dict):
            body = json.dumps(body)
            h["Content-Type"] = "application/json"
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return r.status, {k.lower(): v for k, v in r.getheaders()}, doc
    finally:
        c.close()


def refused_ok(st, h, doc, code, error):
    """A refusal as doc/api.md has it: the status, Retry-After of at least
    a second, a JSON error naming the reason and the setting."""
    ra = h.get("retry-after", "")
    return (st == code and ra.isdigit() and int(ra) >= 1 and isinstance(doc, dict) and
            doc.get("error") == error and doc.get("detail"))


def metric(d, name, src=ANOTHER):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10, source_address=(src, 0))
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


def open_stream(port, vid, src="127.0.0.1", auth=None):
    """Starts an /events stream: (socket, status, headers, JSON error)."""
    try:
        s = connect(port, src)
        req = "GET /api/v1/videos/%s/events HTTP/1.1\r\nHost: x\r\n" % vid
        if auth:
            req += "Authorization: Bearer %s\r\n" % auth
        s.sendall((req + "\r\n").encode())
    except (ConnectionResetError, BrokenPipeError, ConnectionRefusedError):
        return None, None, {}, None
    st, h, body = read_answer(s, whole=(True))
    if st is None:
        s.close()
        return None, None, {}, None
    doc = None
    if st != 200:
        try:
            doc = json.loads(body)
        except ValueError:
            pass
    return s, st, h, doc


def fd_budget(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        want = hard
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def daemon(base, name, env=None, args=("--paused",), **kw):
    os.makedirs(os.path.join(base, name))
    return Daemon(os.path.join(base, name), env=env, args=list(args), **kw).start()


# -- fair share ----------------------------------------------------------------

def test_stream_flood(t, base):
    """One client opening thousands of /events streams to a queued job (which
    once made every request of everyone go unanswered) gets its share, 429s
    with Retry-After for the rest; another client is answered throughout."""
    n = min(3000, fd_budget(3400) - 200)
    # The refused connections wait idle: not cut by the idle timeout,
    # however slow a loaded machine makes the flood.
    d = daemon(base, "flood", dict(DEFAULTS, VIDGEN_HTTP_IDLE_TIMEOUT="600"))
    socks = []
    try:
        vid = create(d)[2]["video_id"]
        ok = errors = closed = 0
        kinds = {}
        bad = []
        for _ in range(n):
            s, st, h, doc = open_stream(d.port, vid)
            if st is None:
                closed += 1
                continue
            socks.append(s)
            if st == 200:
                ok += 1
            elif refused_ok(st, h, doc, 429, doc.get("error") if doc else None) and \
                    doc["error"] in ("too_many_streams", "too_many_connections"):
                kinds[doc["error"]] = kinds.get(doc["error"], 0) + 1
            else:
                errors += 1
                bad.append((st, h, doc))
        t.ok(ok == 32, "%d /events streams from one client: its 32 (the default share) open"
             % n, (ok, kinds, closed))
        t.ok(not errors and kinds.get("too_many_streams") == 256 - 32 and
             kinds.get("too_many_connections", 0) + closed == n - 256,
             "the others get 429 too_many_streams (up to its 256 connections), then 429 "
             "too_many_connections or are closed at accept, each 429 with Retry-After and "
             "a JSON error", (kinds, closed, bad[:3]))
        st, _, doc = get(d, "/healthz", ANOTHER)
        st2, _, doc2 = get(d, "/api/v1/videos/%s/status" % vid, ANOTHER)
        s, st3, _, _ = open_stream(d.port, vid, ANOTHER)
        t.ok(st == 200 and st2 == 200 and doc2["status"] == "queued" and st3 == 200,
             "meanwhile another client's /healthz, status and /events are answered",
             (st, st2, st3))
        if s:
            socks.append(s)
        st, h, doc = get(d, "/healthz")
        t.ok(refused_ok(st, h, doc, 429, "too_many_connections") and
             h.get("connection", "").lower() == "close" and
             doc.get("rule") == "VIDGEN_HTTP_CONNECTIONS_PER_CLIENT=256",
             "the flooding client's own next request: 429 too_many_connections, closed",
             (st, h, doc))
        streams = metric(d, "vidgen_http_streams")
        many = metric(d, 'vidgen_http_refused_total{reason="too_many_streams"}')
        conns = metric(d, 'vidgen_http_refused_total{reason="too_many_connections"}')
        t.ok(streams == 33 and many == 224 and conns == n - 256 + 1,
             "/metrics: 33 streams open, refusals counted by reason", (streams, many, conns))
    finally:
        for s in socks:
            s.close()
        d.stop()


def test_connection_flood(t, base):
    """Connections of one address: its share is served, as many again are
    answered 429 and closed, more are closed as soon as they are accepted."""
    d = daemon(base, "conns", {"VIDGEN_HTTP_CONNECTIONS_PER_CLIENT": "4",
                               "VIDGEN_HTTP_THREADS": "1"})
    socks = []
    try:
        socks = [connect(d.port) for _ in range(8)]  # silent: 4 served, 4 over
        extra = connect(d.port)
        try:
            extra.sendall(head("GET", "/healthz"))
            gone = read_answer(extra)[0] is None
        except (ConnectionResetError, BrokenPipeError):
            gone = True
        extra.close()
        got = []
        for s in (socks[0], socks[4]):
            s.sendall(head("GET", "/healthz"))
            got.append(read_answer(s))
        st, h, body = got[1]
        doc = json.loads(body) if st else None
        other, _, _ = get(d, "/healthz", ANOTHER)
        t.ok(gone and got[0][0] == 200 and refused_ok(st, h, doc, 429, "too_many_connections")
             and h.get("connection", "").lower() == "close" and other == 200,
             "VIDGEN_HTTP_CONNECTIONS_PER_CLIENT=4: of 9 connections, the 4 first are served, "
             "the 5th gets 429 too_many_connections and is closed, the 9th is closed at "
             "accept; another address is served", (gone, got[0][0], st, h, doc, other))
        n = metric(d, 'vidgen_http_refused_total{reason="too_many_connections"}')
        t.ok(n == 2, "/metrics counts both refusals", n)
        # A connection beyond the share that sends nothing is not kept for
        # the idle timeout (30 s): the recv below ends long before it.
        socks[5].settimeout(25)
        try:
            closed = socks[5].recv(100) == b""
        except (ConnectionResetError, socket.timeout):
            closed = False
        t.ok(closed, "a silent connection beyond the share is closed by the daemon")
    finally:
        for s in socks:
            s.close()
        d.stop()


def test_stream_caps(t, base):
    """The total stream cap (many clients together) and each HTTP thread's
    (half its connections): refused 503 while other requests still fit."""
    d = daemon(base, "total", {"VIDGEN_HTTP_MAX_STREAMS": "20",
                               "VIDGEN_HTTP_STREAMS_PER_CLIENT": "0"})
    socks = []
    try:
        vid = create(d)[2]["video_id"]
        codes, bad = [], []
        for src in ("127.0.0.3", "127.0.0.4", "127.0.0.5"):
            for _ in range(10):
                s, st, h, doc = open_stream(d.port, vid, src)
                codes.append(st)
                if s:
                    socks.append(s)
                if st == 503 and not refused_ok(st, h, doc, 503, "streams_full"):
                    bad.append((h, doc))
        st, _, _ = get(d, "/healthz", "127.0.0.9")
        t.ok(codes.count(200) == 20 and codes.count(503) == 10 and not bad and st == 200,
             "VIDGEN_HTTP_MAX_STREAMS=20: 30 streams from 3 clients, 20 open, 10 get 503 "
             "streams_full with Retry-After; /healthz answered", (codes, bad[:2], st))
    finally:
        for s in socks:
            s.close()
        d.stop()

    d = daemon(base, "thread", {"VIDGEN_HTTP_THREADS": "1", "VIDGEN_HTTP_MAX_CONNECTIONS": "64",
                                "VIDGEN_HTTP_STREAMS_PER_CLIENT": "0",
                                "VIDGEN_HTTP_CONNECTIONS_PER_CLIENT": "0"})
    socks = []
    try:
        vid = create(d)[2]["video_id"]
        codes = []
        for _ in range(40):
            s, st, h, doc = open_stream(d.port, vid)
            codes.append(st)
            if s:
                socks.append(s)
        st, _, _ = get(d, "/healthz")
        t.ok(codes.count(200) == 32 and codes.count(503) == 8 and st == 200,
             "one HTTP thread of 64 connections: at most 32 of them streams, the next get "
             "503; /healthz still answered", (codes, st))
    finally:
        for s in socks:
            s.close()
        d.stop()


def create(d, src="127.0.0.1", key=None, conn=None):
    h = {"Content-Type": "application/json"}
    if key:
        h["Authorization"] = "Bearer " + key
    body = json.dumps({"prompt": PROMPT, "model": "claude-4-sonnet"})
    c = conn or http.client.HTTPConnection("127.0.0.1", d.port, timeout=10,
                                           source_address=(src, 0))
    try:
        c.request("POST", "/api/v1/videos", body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(data)
    finally:
        if not conn:
            c.close()


def test_create_flood(t, base):
    """Creates as fast as one connection can send them, with the defaults:
    a burst of 5, then 429 rate_limited; another client creates and reads."""
    d = daemon(base, "creates", DEFAULTS)
    try:
        c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
        got = [create(d, conn=c) for _ in range(30)]
        c.close()
        codes = [g[0] for g in got]
        limited = [g for g in got if g[0] == 429]
        t.ok(codes[:5] == [202] * 5 and codes[5:] == [429] * 25,
             "30 creates at once from one client: 5 accepted (VIDGEN_CREATE_BURST), 25 "
             "refused", codes)
        t.ok(all(refused_ok(st, h, doc, 429, "rate_limited") and 1 <= int(h["retry-after"]) <= 30
                 and doc["rule"] == "VIDGEN_CREATE_RATE=2" for st, h, doc in limited),
             "each refusal: 429 rate_limited, Retry-After within the 30 s a token takes, "
             "a JSON error naming VIDGEN_CREATE_RATE", limited[:1])
        st, _, doc = create(d, ANOTHER)
        st2, _, _ = get(d, "/healthz", ANOTHER)
        st3, _, _ = get(d, "/api/v1/videos/%s/status" % got[0][2]["video_id"], ANOTHER)
        t.ok(st == 202 and st2 == 200 and st3 == 200,
             "another client still creates (202) and reads (200)", (st, st2, st3))
        st, _, doc = get(d, "/healthz")
        t.ok(st == 200 and doc["queued"] == 6, "nothing refused was queued", doc)
        t.ok(metric(d, 'vidgen_http_refused_total{reason="rate_limited"}') == 25,
             "/metrics counts the 25 rate_limited refusals")
    finally:
        d.stop()


def test_queue_caps(t, base):
    d = daemon(base, "queue", {"VIDGEN_CREATE_RATE": "0", "VIDGEN_QUEUED_PER_CLIENT": "3",
                               "VIDGEN_MAX_QUEUED": "5"})
    try:
        a = [create(d) for _ in range(4)]
        t.ok([g[0] for g in a] == [202, 202, 202, 429] and
             refused_ok(*a[3], 429, "too_many_queued"),
             "VIDGEN_QUEUED_PER_CLIENT=3: a client's 4th waiting job gets 429 too_many_queued "
             "with Retry-After", [(g[0], g[2].get("error")) for g in a])
        b = [create(d, ANOTHER) for _ in range(3)]
        t.ok([g[0] for g in b] == [202, 202, 503] and refused_ok(*b[2], 503, "queue_full"),
             "VIDGEN_MAX_QUEUED=5: the 6th waiting job of all gets 503 queue_full with "
             "Retry-After", [(g[0], g[2].get("error")) for g in b])
        st, _, _ = get(d, "/api/v1/videos/" + a[0][2]["video_id"], method="DELETE")
        again = create(d)
        other = create(d, ANOTHER)
        t.ok(st == 200 and again[0] == 202 and other[0] == 503,
             "a cancelled job gives its place back: its client creates again, the queue is "
             "full again for the other", (st, again[0], other[0]))
        t.ok(metric(d, 'vidgen_http_refused_total{reason="queue_full"}') == 2 and
             metric(d, 'vidgen_http_refused_total{reason="too_many_queued"}') == 1,
             "/metrics counts queue_full and too_many_queued")
    finally:
        d.stop()

    # A worker taking a job off the queue gives the client its place back.
    d = daemon(base, "claim", {"VIDGEN_CREATE_RATE": "0", "VIDGEN_QUEUED_PER_CLIENT": "1",
                               "SERVE_DELAY_MS": "2000", "MAX_CONCURRENT_VIDEOS": "1"}, args=())
    try:
        j1 = create(d)
        final, _ = d.wait_for(j1[2]["video_id"], lambda x: x["status"] != "queued")
        j2 = create(d)
        j3 = create(d)
        t.ok(j1[0] == 202 and final and j2[0] == 202 and j3[0] == 429 and
             j3[2]["error"] == "too_many_queued",
             "VIDGEN_QUEUED_PER_CLIENT=1: once a worker runs the job, the client may queue "
             "one more, not two", (j1[0], j2[0], j3[0]))
    finally:
        d.stop()

    # With API keys, each key has its own share, whatever the address.
    d = daemon(base, "keys", {"VIDGEN_API_KEYS": "key-one,key-two", "VIDGEN_CREATE_RATE": "0",
                              "VIDGEN_QUEUED_PER_CLIENT": "1",
                              "VIDGEN_HTTP_STREAMS_PER_CLIENT": "1"})
    socks = []
    try:
        k1 = [create(d, key="key-one")[0] for _ in range(2)]
        k2 = create(d, key="key-two")[0]
        t.ok(k1 == [202, 429] and k2 == 202,
             "API keys set: the queue share is per key (key-one 202 then 429, key-two 202 "
             "from the same address)", (k1, k2))
        vid = get(d, "/api/v1/videos?limit=1")[2]["videos"][0]["video_id"]
        codes = []
        for auth in ("key-one", "key-one", None, "key-two", None):
            s, st, _, _ = open_stream(d.port, vid, auth=auth)
            codes.append(st)
            if s:
                socks.append(s)
        t.ok(codes == [200, 429, 200, 200, 429],
             "streams too: one per key, one for the address's requests without a key", codes)
    finally:
        for s in socks:
            s.close()
        d.stop()


# -- strict edges --------------------------------------------------------------

def test_files(t, base):
    """A FIFO named like a video, or like a web asset, is refused at once:
    opening it used to block the HTTP thread until a writer came."""
    web = os.path.join(base, "web")
    os.makedirs(web)
    with open(os.path.join(web, "index.html"), "w") as f:
        f.write("<html></html>\n")
    os.mkfifo(os.path.join(web, "evil.js"))
    d = daemon(base, "fifo", NO_LIMITS, web_dir=web)
    try:
        vid = "3f0c8d9e-6a71-4c55-9a8e-0d3b5c1e2f40"
        os.mkfifo(os.path.join(d.data_dir, "videos", vid + ".mp4"))
        t0 = time.time()
        st, _, doc = get(d, "/media/%s.mp4" % vid)
        st2, _, doc2 = get(d, "/assets/evil.js")
        st3, _, _ = get(d, "/healthz")
        t.ok(st == 404 and doc["error"] == "not_found" and st2 == 404 and st3 == 200,
             "a FIFO in the media store and in the web folder: 404 at once (%.2f s), the "
             "daemon serves on" % (time.time() - t0), (st, st2, st3))
    finally:
        d.stop()


def test_data_dir(t, base):
    """A data folder another user owns, or others may write to, is refused
    at start with a message naming it (TEMP_DIR, the default's source, too)."""
    cases = []
    loose = os.path.join(base, "loose")
    os.makedirs(loose)
    os.chmod(loose, 0o777)
    cases.append(("writable by others (0777)", ["--data-dir", loose], {}, loose,
                  "writable by others"))
    group = os.path.join(base, "group")
    os.makedirs(group)
    os.chmod(group, 0o775)
    cases.append(("TEMP_DIR writable by its group (0775)", [], {"TEMP_DIR": group}, group,
                  "writable by its group"))
    if os.geteuid() == 0:
        theirs = os.path.join(base, "theirs")
        os.makedirs(theirs)
        os.chown(theirs, 65534, 65534)
        cases.append(("owned by another user (uid 65534)", ["--data-dir", theirs], {},
                      theirs, "belongs to uid 65534"))
    else:
        t.skip("a data folder of another user: needs root to make one")
    for name, args, env, path, why in cases:
        e = dict(os.environ, **env)
        cmd = [os.environ.get("VIDGEN", "vidgen"), "serve", "-p",
               os.path.join(HERE, "serve", "pipeline.cfg"), "-l", "127.0.0.1:0",
               "--db", os.path.join(base, "refused.db")] + args
        try:
            p = subprocess.run(cmd, env=e, capture_output=True, timeout=20)
            rc, err = p.returncode, p.stderr.decode(errors="replace")
        except subprocess.TimeoutExpired:
            rc, err = "timeout", ""
        t.ok(rc not in (0, "timeout") and path in err and why in err and
             "--data-dir" in err,
             "a data folder %s: the daemon refuses to start, naming it" % name, (rc, err[-400:]))
    ok = os.path.join(base, "ok")
    os.makedirs(ok)
    os.chmod(ok, 0o700)
    d = Daemon(ok, env=NO_LIMITS)
    d.data_dir = ok
    try:
        d.start()
        started = True
    except RuntimeError:
        started = False
    t.ok(started, "a data folder of its own (0700) is used", d.log()[-400:])
    d.stop()


def head(method, path, extra=(), body=b""):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: x"] + list(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def test_framing(t, base):
    d = daemon(base, "framing", NO_LIMITS)
    try:
        body = b'{"prompt":"x"}'
        smuggled = head("GET", "/healthz")
        cases = [
            ("two different Content-Length", head("POST", "/api/v1/videos",
             ["Content-Type: application/json", "Content-Length: 14", "Content-Length: 60"],
             body + smuggled), 400, "Content-Length"),
            ("Content-Length with Transfer-Encoding: chunked", head("POST", "/api/v1/videos",
             ["Content-Type: application/json", "Content-Length: 14",
              "Transfer-Encoding: chunked"], b"e\r\n" + body + b"\r\n0\r\n\r\n" + smuggled),
             400, "Transfer-Encoding"),
            ("Content-Length with Transfer-Encoding: gzip", head("POST", "/api/v1/videos",
             ["Content-Type: application/json", "Content-Length: 14",
              "Transfer-Encoding: gzip"], body + smuggled), 400, "Transfer-Encoding"),
            ("Transfer-Encoding: gzip alone", head("POST", "/api/v1/videos",
             ["Content-Type: application/json", "Transfer-Encoding: gzip"], body + smuggled),
             400, "Transfer-Encoding"),
            ("two Transfer-Encoding: chunked", head("POST", "/api/v1/videos",
             ["Content-Type: application/json", "Transfer-Encoding: chunked",
              "Transfer-Encoding: chunked"], b"e\r\n" + body + b"\r\n0\r\n\r\n"),
             400, "Transfer-Encoding"),
            ("'Content-Length : 14' (space in the name)", head("POST", "/api/v1/videos",
             ["Content-Type: application/json", "Content-Length : 14"], body + smuggled),
             400, "headers"),
            ("a header name with a space on GET", head("GET", "/healthz", ["X Forwarded: 1"]),
             400, "headers"),
            ("a header name with a tab", head("GET", "/healthz", ["X\tA: 1"]), 400, "headers"),
        ]
        for name, data, code, field in cases:
            got = answers(send(d.port, data))
            st, h, doc = got[0] if got else (None, {}, None)
            t.ok(len(got) == 1 and st == code and doc and doc.get("error") ==
                 "malformed_request" and doc.get("field") == field and
                 h.get("connection", "").lower() == "close",
                 "%s: %d JSON malformed_request naming %s, connection closed (nothing "
                 "after it answered)" % (name, code, field), got)
        got = answers(send(d.port, head("POST", "/api/v1/videos",
                                        ["Content-Type: application/json", "Content-Length: 2",
                                         "Content-Length: 2", "Connection: close"], b"{}")))
        t.ok(len(got) == 1 and got[0][0] == 422 and got[0][2]["field"] == "prompt",
             "two equal Content-Length headers are one: the body is read (422 for it)", got)

        def args(n):
            return "/api/v1/videos?" + "&".join("a%d=1" % i for i in range(n))
        for n, code in ((64, 200), (232, 414), (1000, 414)):
            got = answers(send(d.port, head("GET", args(n), ["Connection: close"])))
            st, h, doc = got[0] if got else (None, {}, None)
            want = (st == 200) if code == 200 else (
                st == 414 and doc and doc["error"] == "uri_too_long" and doc["field"] == "query"
                and doc["rule"] == "max_arguments:64")
            t.ok(len(got) == 1 and want, "%d query arguments: %d%s" % (
                n, code, "" if code == 200 else " JSON uri_too_long"), got)
        got = answers(send(d.port, head("GET", "/healthz?x=" + "a" * 9000)))
        t.ok(len(got) == 1 and got[0][0] == 414 and got[0][2]["field"] == "uri",
             "a 9000-byte query: 414 JSON uri_too_long naming the uri", got)
        many = ["X-H%d: v" % i for i in range(98)]  # + Host and Connection: 100
        got = answers(send(d.port, head("GET", "/healthz", many + ["Connection: close"])))
        t.ok(len(got) == 1 and got[0][0] == 200, "100 headers: answered", got)
        got = answers(send(d.port, head("GET", "/healthz", many + ["X-One-More: v",
                                                                    "Connection: close"])))
        t.ok(len(got) == 1 and got[0][0] == 431 and got[0][2]["error"] == "headers_too_large",
             "101 headers: 431 JSON headers_too_large", got)
        got = answers(send(d.port, head("GET", "/healthz", ["X-H%d: v" % i
                                                            for i in range(3000)])))
        t.ok(len(got) == 1 and got[0][0] == 431,
             "3000 headers (more than a connection's memory holds): still a 431, never "
             "silence", got)
        st, _, _ = get(d, "/healthz")
        t.ok(st == 200, "the daemon serves on")
    finally:
        d.stop()


def test_public_message(t, base):
    """A failed job's message shows no path of the host; the log has it."""
    d = daemon(base, "message", NO_LIMITS, args=())
    try:
        st, _, doc = get(d, "/api/v1/videos", method="POST",
                         body={"prompt": "What is the capital of Atlantis, really?",
                               "model": "claude-4-sonnet"})
        final, _ = d.wait_for(doc["video_id"], lambda x: x["status"] == "failed")
        msg = (final or {}).get("message") or ""
        answers_dir = os.path.join(HERE, "serve", "answers")
        listed = get(d, "/api/v1/videos?limit=1")[2]["videos"][0]["message"]
        _, _, evs = d.events(doc["video_id"], timeout=5)
        t.ok(final and "in answers" in msg and answers_dir not in msg and
             not re.search(r"(^|[\s\"'(=,:])/[^/\s]", msg) and listed == msg and
             evs and evs[-1][1]["message"] == msg,
             "a failed job's message (status, list, events) names no host path", msg)
        t.ok(answers_dir in d.log(), "the daemon's log keeps the path",
             d.log()[-600:])
    finally:
        d.stop()


def test_vary(t, base):
    d = daemon(base, "vary", dict(NO_LIMITS, VIDGEN_CORS_ORIGINS="http://app.example"))
    try:
        seen = []
        for origin in ("http://app.example", "http://evil.example", None):
            h = {"Origin": origin} if origin else {}
            for path in ("/api/v1/config", "/healthz", "/api/v1/nothing"):
                st, hd, _ = get(d, path, headers=h)
                seen.append((origin, path, st, hd.get("vary"),
                             hd.get("access-control-allow-origin")))
        t.ok(all(v == "Origin" for _, _, _, v, _ in seen) and
             all((a == o) if o == "http://app.example" else a is None
                 for o, _, _, _, a in seen),
             "CORS set: Vary: Origin on every answer (allowed origin, another, none, "
             "errors); Access-Control-Allow-Origin only for the allowed one", seen)
    finally:
        d.stop()
    d = daemon(base, "novary", NO_LIMITS)
    try:
        st, hd, _ = get(d, "/api/v1/config", headers={"Origin": "http://app.example"})
        t.ok("vary" not in hd, "no CORS: no Vary (nothing depends on Origin)", hd)
    finally:
        d.stop()


def main():
    t = Tap()
    base = workdir()
    test_stream_flood(t, base)
    test_connection_flood(t, base)
    test_stream_caps(t, base)
    test_create_flood(t, base)
    test_queue_caps(t, base)
    test_files(t, base)
    test_data_dir(t, base)
    test_framing(t, base)
    test_public_message(t, base)
    test_vary(t, base)
    cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
