"""Hostile inputs against `vidgen serve` and `vidgen check`, deterministic
(fixed seed), run by tests/e2e/fuzz_inputs.sh. TAP on stdout.

The daemon: hand-written hostile requests (malformed JSON, wrong types,
NUL and invalid UTF-8, deep nesting, oversized and chunked bodies, wrong
methods, traversal paths, Range and list edge cases, API keys) must each get
the right 4xx with a JSON error; byte-mutated requests must never get a 5xx
or a non-JSON error from the API; SSE clients that vanish and racing cancels
must leave it serving; nothing a bad request sent is queued; the API key
never shows in an answer or the log; SIGTERM exits 0 and the sanitizers
stay quiet.

The pipeline parser: mutated pipeline files and `${...}` edge cases (deep
nesting, FIFOs, directories, /dev/zero, @include) must each end in exit
status 3 with a file:line error, within a few seconds, sanitizers quiet.
"""

import json
import os
import random
import re
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_lib  # noqa: E402

SEED = 20261127
KEY = "fuzz-sekrit-7c41e0"
PROMPT = "Explain the Pythagorean theorem with visual proof"
HERE = serve_lib.HERE
TOP = os.environ.get("top_srcdir", os.path.join(HERE, "..", ".."))
SANITIZER = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: ")
CHECK_TIMEOUT = 10

t = serve_lib.Tap()
rng = random.Random(SEED)


# -- raw HTTP ------------------------------------------------------------------

def complete(resp):
    """True once resp holds a whole final answer with a Content-Length."""
    status, headers, body = parse(resp)
    n = headers.get("content-length")
    return status is not None and n is not None and n.isdigit() and len(body) >= int(n)


def raw(port, data, timeout=3.0):
    """Sends data, half-closes, reads until EOF or a whole answer (a
    mangled request may keep the connection open); returns the bytes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    out = b""
    try:
        try:
            s.sendall(data)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the server may answer and close before reading it all
        while not complete(out):
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            out += b
    finally:
        s.close()
    return out


def parse(resp):
    """(status, headers, body) of the first final answer in resp, skipping
    interim 1xx answers; status None when there is none."""
    while True:
        m = re.match(rb"HTTP/1\.[01] (\d{3})[^\r\n]*\r\n", resp)
        if not m:
            return None, {}, b""
        end = resp.find(b"\r\n\r\n")
        if end < 0:
            return int(m.group(1)), {}, b""
        headers = {}
        for line in resp[m.end():end].split(b"\r\n"):
            k, _, v = line.partition(b":")
            headers[k.strip().lower().decode("latin-1")] = v.strip().decode("latin-1")
        status = int(m.group(1))
        rest = resp[end + 4:]
        if 100 <= status < 200:
            resp = rest
            continue
        n = headers.get("content-length")
        body = rest[:int(n)] if n and n.isdigit() else rest
        return status, headers, body


def json_error(headers, body):
    """The error object of an answer, or None if it is not a JSON error."""
    if not headers.get("content-type", "").startswith("application/json"):
        return None
    try:
        doc = json.loads(body.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("detail"), str) \
            and isinstance(doc.get("error"), str):
        return doc
    return None


def req(method, path, headers=(), body=b"", close=True):
    h = [b"%s %s HTTP/1.1" % (method, path), b"Host: 127.0.0.1"]
    h += list(headers)
    if body is not None and (body or method == b"POST") and \
            not any(x.lower().startswith(b"transfer-encoding") for x in headers) and \
            not any(x.lower().startswith(b"content-length") for x in headers):
        h.append(b"Content-Length: %d" % len(body))
    if close:
        h.append(b"Connection: close")
    return b"\r\n".join(h) + b"\r\n\r\n" + (body or b"")


AUTH = b"Authorization: Bearer " + KEY.encode()
JSON_CT = b"Content-Type: application/json"


def post(body, headers=(AUTH, JSON_CT)):
    if isinstance(body, str):
        body = body.encode()
    return req(b"POST", b"/api/v1/videos", headers, body)


def chunked(chunks, headers=(AUTH, JSON_CT)):
    body = b"".join(b"%x\r\n" % len(c) + c + b"\r\n" for c in chunks) + b"0\r\n\r\n"
    return req(b"POST", b"/api/v1/videos", list(headers) + [b"Transfer-Encoding: chunked"], body)


# -- the daemon ----------------------------------------------------------------

def error_cases(vid, media):
    """(name, request, expected status, expected error code, expected field)."""
    U = b"00000000-0000-4000-8000-000000000000"
    ok_body = {"prompt": PROMPT, "model": "claude-4-sonnet"}
    deep = b"[" * 5000 + b"]" * 5000
    c = [
        ("no Content-Type", post("{}", (AUTH,)), 415, "unsupported_media_type", "Content-Type"),
        ("text/plain", post("{}", (AUTH, b"Content-Type: text/plain")), 415,
         "unsupported_media_type", None),
        ("application/jsonx", post("{}", (AUTH, b"Content-Type: application/jsonx")), 415,
         "unsupported_media_type", None),
        ("no key", post(json.dumps(ok_body), (JSON_CT,)), 401, "unauthorized", "Authorization"),
        ("wrong key", post(json.dumps(ok_body), (b"Authorization: Bearer nope", JSON_CT)), 401,
         "unauthorized", None),
        ("key prefix", post(json.dumps(ok_body), (AUTH[:-3], JSON_CT)), 401, "unauthorized", None),
        ("Basic auth", post(json.dumps(ok_body), (b"Authorization: Basic Zm9vOmJhcg==", JSON_CT)),
         401, "unauthorized", None),
        ("empty body", post(""), 400, "malformed_json", "body"),
        ("not JSON", post("hello"), 400, "malformed_json", "body"),
        ("truncated JSON", post('{"prompt": "abc'), 400, "malformed_json", "body"),
        ("trailing garbage", post('{} x'), 400, "malformed_json", "body"),
        ("top-level number", post("1"), 400, "malformed_json", "body"),
        ("top-level array", post("[]"), 422, "validation_error", "body"),
        ("5000 nested arrays", post(deep), 400, "malformed_json", "body"),
        ("5000 nested objects", post(b'{"a":' * 5000 + b"1" + b"}" * 5000), 400,
         "malformed_json", "body"),
        ("raw bytes 0xff", post(b'{"prompt": "abcdefghijk\xff\xfe", "model": "claude-4-sonnet"}'),
         400, "malformed_json", "body"),
        ("overlong UTF-8", post(b'{"prompt": "abcdefghijk\xc0\xaf", "model": "claude-4-sonnet"}'),
         400, "malformed_json", "body"),
        ("escaped NUL", post('{"prompt": "abcdefghijk\\u0000x", "model": "claude-4-sonnet"}'),
         422, "validation_error", "prompt"),
        ("lone surrogate", post('{"prompt": "abcdefghijk\\ud800x", "model": "claude-4-sonnet"}'),
         400, "malformed_json", "body"),
        ("no prompt", post('{"model": "claude-4-sonnet"}'), 422, "validation_error", "prompt"),
        ("prompt null", post('{"prompt": null, "model": "claude-4-sonnet"}'), 422,
         "validation_error", "prompt"),
        ("prompt number", post('{"prompt": 12345678901, "model": "claude-4-sonnet"}'), 422,
         "validation_error", "prompt"),
        ("prompt object", post('{"prompt": {"a": 1}, "model": "claude-4-sonnet"}'), 422,
         "validation_error", "prompt"),
        ("prompt array", post('{"prompt": ["abcdefghijk"], "model": "claude-4-sonnet"}'), 422,
         "validation_error", "prompt"),
        ("prompt 9 code points (18 bytes)", post(json.dumps({"prompt": "\u00e9" * 9,
                                                             "model": "claude-4-sonnet"})),
         422, "validation_error", "prompt"),
        ("prompt 10001 characters", post(json.dumps({"prompt": "z" * 10001,
                                                     "model": "claude-4-sonnet"})),
         422, "validation_error", "prompt"),
        ("model missing", post(json.dumps({"prompt": PROMPT})), 422, "validation_error", "model"),
        ("model boolean", post(json.dumps({"prompt": PROMPT, "model": True})), 422,
         "validation_error", "model"),
        ("model not selectable", post(json.dumps({"prompt": PROMPT, "model": "gpt-5"})), 422,
         "validation_error", "model"),
        ("model with escaped NUL", post('{"prompt": "%s", "model": "claude-4-sonnet\\u0000"}'
                                        % PROMPT), 422, "validation_error", "model"),
        ("voice number", post(json.dumps(dict(ok_body, voice=3))), 422, "validation_error",
         "voice"),
        ("voice unknown", post(json.dumps(dict(ok_body, voice="Evil"))), 422,
         "validation_error", "voice"),
        ("duplicate key, last one wrong", post('{"model": "claude-4-sonnet", "prompt": "%s", '
                                               '"prompt": 1}' % PROMPT), 422,
         "validation_error", "prompt"),
        ("Content-Length over the limit", req(b"POST", b"/api/v1/videos",
                                              (AUTH, JSON_CT, b"Content-Length: 70000"), None),
         413, "body_too_large", "body"),
        ("chunked body over the limit", chunked([b" " * 8000] * 10), 413, "body_too_large",
         "body"),
        ("chunked small body", chunked([b"{", b"}"]), 422, "validation_error", "prompt"),
        ("PUT /api/v1/videos", req(b"PUT", b"/api/v1/videos", (AUTH,), b""), 405,
         "method_not_allowed", None),
        ("FOO /healthz", req(b"FOO", b"/healthz"), 405, "method_not_allowed", None),
        ("POST /api/v1/config", req(b"POST", b"/api/v1/config", (JSON_CT,), b"{}"), 405,
         "method_not_allowed", None),
        ("POST status path", req(b"POST", b"/api/v1/videos/" + vid + b"/status", (JSON_CT,),
                                 b"{}"), 405, "method_not_allowed", None),
        ("DELETE /media", req(b"DELETE", media), 405, "method_not_allowed", None),
        ("unknown path", req(b"GET", b"/api/v2/videos"), 404, "not_found", None),
        ("double slash", req(b"GET", b"//api/v1/videos"), 404, "not_found", None),
        ("dot segment", req(b"GET", b"/api/v1/./videos"), 404, "not_found", None),
        ("media traversal", req(b"GET", b"/media/../../../etc/passwd"), 404, "not_found", None),
        ("media encoded traversal", req(b"GET", b"/media/%2e%2e%2f%2e%2e%2fetc%2fpasswd"), 404,
         "not_found", None),
        ("media trailing slash", req(b"GET", media + b"/"), 404, "not_found", None),
        ("media %00", req(b"GET", media[:-4] + b"%00.mp4"), 404, "not_found", None),
        ("assets traversal", req(b"GET", b"/assets/..%2f..%2fetc%2fpasswd"), 404, "not_found",
         None),
        ("assets dot file", req(b"GET", b"/assets/.htaccess"), 404, "not_found", None),
        ("status of a malformed id", req(b"GET", b"/api/v1/videos/xyz/status"), 404,
         "not_found", "video_id"),
        ("status of an unknown id", req(b"GET", b"/api/v1/videos/" + U + b"/status"), 404,
         "not_found", "video_id"),
        ("id with %00", req(b"GET", b"/api/v1/videos/" + vid + b"%00/status"), 404, "not_found",
         None),
        ("id + extra segment", req(b"GET", b"/api/v1/videos/" + vid + b"/status/x"), 404,
         "not_found", None),
        ("events of an unknown id", req(b"GET", b"/api/v1/videos/" + U + b"/events"), 404,
         "not_found", "video_id"),
        ("DELETE of an unknown id", req(b"DELETE", b"/api/v1/videos/" + U, (AUTH,)), 404,
         "not_found", "video_id"),
        ("DELETE without a key", req(b"DELETE", b"/api/v1/videos/" + vid), 401, "unauthorized",
         None),
    ]
    for q in [b"limit=0", b"limit=101", b"limit=-1", b"limit=", b"limit=1e2", b"limit=%205",
              b"limit=99999999999999999999999", b"limit=5x", b"limit=%ff"]:
        c.append(("list " + q.decode(), req(b"GET", b"/api/v1/videos?" + q), 422,
                  "validation_error", "limit"))
    for q in [b"before=0", b"before=-1", b"before=9223372036854775808", b"before=abc",
              b"before=1%00"]:
        c.append(("list " + q.decode(), req(b"GET", b"/api/v1/videos?" + q), 422,
                  "validation_error", "before"))
    for r in [b"bytes=-0", b"bytes=1024-", b"bytes=99999999999999999999-",
              b"bytes=18446744073709551615-18446744073709551615"]:
        c.append(("Range " + r.decode(), req(b"GET", media, [b"Range: " + r]), 416, "range",
                  "Range"))
    return c


# Requests a client could send right; mutated byte-wise below.
def templates(vid):
    return [
        post(json.dumps({"prompt": PROMPT, "model": "claude-4-sonnet", "voice": "Ruth"})),
        req(b"GET", b"/api/v1/videos?limit=5&before=9"),
        req(b"GET", b"/api/v1/videos/" + vid + b"/status"),
        req(b"DELETE", b"/api/v1/videos/00000000-0000-4000-8000-000000000000", (AUTH,)),
        req(b"OPTIONS", b"/api/v1/videos", (b"Origin: http://x",)),
        req(b"GET", b"/media/" + vid + b".mp4", (b"Range: bytes=0-9",)),
        chunked([b'{"prompt": "', PROMPT.encode(), b'", "model": "claude-4-sonnet"}']),
    ]


TOKENS = [b"\x00", b"\xff", b"\r\n", b"\n", b" ", b"%", b"%00", b"%2e%2e/", b"//", b"/..",
          b"\"", b"{", b"}", b"[", b"\\u0000", b"\\ud800", b"-1", b"99999999999999999999",
          b"Content-Length: 999999999\r\n", b"Transfer-Encoding: chunked\r\n",
          b"Range: bytes=5-3\r\n", b"Authorization: Bearer \r\n", b"a" * 3000, b"\xc0\xaf"]


def mutate(data):
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        pos = rng.randrange(len(b) + 1)
        if op < 0.3 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op < 0.5:
            del b[pos:pos + rng.randint(1, 24)]
        elif op < 0.9:
            b[pos:pos] = rng.choice(TOKENS)
        else:
            b = b[:pos]
    return bytes(b)


def sse_drop(port, vid, nbytes):
    """Opens /events and disconnects after nbytes (0: at once)."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.sendall(b"GET /api/v1/videos/%s/events HTTP/1.1\r\nHost: x\r\n\r\n" % vid)
        got = 0
        while got < nbytes:
            b = s.recv(nbytes - got)
            if not b:
                break
            got += len(b)
        s.close()
    except OSError:
        pass


def daemon_part(tmp):
    d = serve_lib.Daemon(os.path.join(tmp, "serve"), args=["--paused"],
                         env={"VIDGEN_API_KEYS": "other-key," + KEY})
    os.makedirs(d.workdir)
    d.start()
    try:
        daemon_checks(d)
    finally:
        if d.proc:  # a check raised before the daemon was stopped
            d.kill9()


def daemon_checks(d):
    port = d.port
    created = 0
    answers = []  # every answer's bytes, searched for the key at the end

    st, _, doc = d.create(PROMPT, headers={"Authorization": "Bearer " + KEY})
    t.ok(st == 202, "a valid create is accepted (202)", (st, doc))
    created += st == 202
    vid = doc["video_id"].encode() if st == 202 else b"x"

    videos = os.path.join(d.data_dir, "videos")
    os.makedirs(videos, exist_ok=True)
    with open(os.path.join(videos, vid.decode() + ".mp4"), "wb") as f:
        f.write(bytes(range(256)) * 4)
    media = b"/media/" + vid + b".mp4"

    bad = []
    for name, r, code, err, field in error_cases(vid, media):
        resp = raw(port, r)
        answers.append(resp)
        status, headers, body = parse(resp)
        doc = json_error(headers, body)
        if status != code or not doc or doc["error"] != err or \
                (field and doc.get("field") != field):
            bad.append("%s: got %s %r, want %d %s %s" % (name, status, body[:160], code, err,
                                                        field or ""))
        created += status == 202
    t.ok(not bad, "%d hostile requests each get the right 4xx with a JSON error"
         % len(error_cases(vid, media)), "\n".join(bad))

    # Range answers that are not errors: ignored or served right.
    bad = []
    for rg, code, crange, n in [(b"bytes=5-3", 200, None, 1024), (b"bytes=0-0,5-9", 200, None, 1024),
                                (b"bytes=-99999999999999999999", 206, "bytes 0-1023/1024", 1024),
                                (b"bytes=1020-99999999999999999999", 206, "bytes 1020-1023/1024", 4),
                                (b"bytes=-1", 206, "bytes 1023-1023/1024", 1),
                                (b"bytes=" + b"0-1," * 1000 + b"0-1", 200, None, 1024)]:
        status, headers, body = parse(raw(port, req(b"GET", media, [b"Range: " + rg])))
        if status != code or headers.get("content-range") != crange or len(body) != n:
            bad.append("%s: %s %s %d bytes" % (rg[:40], status, headers.get("content-range"),
                                               len(body)))
    t.ok(not bad, "Range edge cases: ignored or served with the right Content-Range",
         "\n".join(bad))

    # Byte-mutated requests: never a 5xx (505 is a mangled HTTP version),
    # never a non-JSON error from the API, and the daemon keeps serving.
    # Sent 20 at a time: a truncated request keeps its connection waiting.
    bad = []
    tpl = templates(vid)
    reqs = [mutate(rng.choice(tpl)) for _ in range(200)]
    for first in range(0, len(reqs), 20):
        with ThreadPoolExecutor(max_workers=20) as ex:
            resps = list(ex.map(lambda r: raw(port, r, timeout=1.5), reqs[first:first + 20]))
        for i, (r, resp) in enumerate(zip(reqs[first:first + 20], resps), first):
            answers.append(resp)
            status, headers, body = parse(resp)
            created += len(re.findall(rb"HTTP/1\.1 202 ", resp))
            if status is not None and (status >= 500 and status != 505):
                bad.append("case %d: %d for %r" % (i, status, r[:200]))
            elif status is not None and status >= 400 and \
                    headers.get("content-type", "").startswith("application/json") and \
                    not json_error(headers, body):
                bad.append("case %d: broken JSON error %r" % (i, body[:200]))
        st, _, doc = d.json("GET", "/healthz")
        if st != 200:
            bad.append("after case %d: /healthz answered %s" % (first + 19, st))
            break
    t.ok(not bad, "200 byte-mutated requests: no 5xx, JSON errors parse, /healthz stays up",
         "\n".join(bad[:10]))

    # /events clients that vanish at every point of the stream.
    extra = []
    for _ in range(6):
        st, _, doc = d.create(PROMPT, headers={"Authorization": "Bearer " + KEY})
        created += st == 202
        if st == 202:
            extra.append(doc["video_id"].encode())
    ths = [threading.Thread(target=sse_drop, args=(port, rng.choice(extra + [vid]),
                                                     rng.choice([0, 1, 40, 400, 4000])))
           for _ in range(40)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    st, _, doc = d.json("GET", "/healthz")
    t.ok(st == 200, "40 /events clients that vanish mid-stream leave the daemon serving", (st, doc))

    # Four DELETEs of the same queued job at once: one cancels, three 409.
    codes = []
    lock = threading.Lock()

    def cancel(v):
        s, _, _ = d.json("DELETE", "/api/v1/videos/" + v.decode(),
                         headers={"Authorization": "Bearer " + KEY})
        with lock:
            codes.append(s)
    cancelled = 0
    bad = []
    for v in extra[:4]:
        codes.clear()
        ths = [threading.Thread(target=cancel, args=(v,)) for _ in range(4)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        if sorted(codes) != [200, 409, 409, 409]:
            bad.append("%s: %s" % (v.decode(), sorted(codes)))
        cancelled += codes.count(200)
    t.ok(not bad, "racing DELETEs of a queued job: exactly one 200, the others 409",
         "\n".join(bad))
    n, evs = 0, []
    if extra:
        st, _, evs = d.events(extra[0].decode(), timeout=5)
        n = len(evs)
    t.ok(n == 1 and evs[0][0] == "end" and evs[0][1]["status"] == "failed",
         "/events of a cancelled job ends at once with its failed state", evs)

    st, _, doc = d.json("GET", "/healthz")
    t.ok(st == 200 and doc["queued"] == created - cancelled,
         "nothing a bad request sent was queued (%d created, %d cancelled)" % (created, cancelled),
         doc)

    rc = d.stop()
    log = d.log()
    t.ok(rc == 0, "SIGTERM: the daemon exits 0", "exit %s\n%s" % (rc, log[-2000:]))
    t.ok(not SANITIZER.search(log), "the daemon's log has no sanitizer report",
         log[-3000:])
    leaked = [a for a in answers if KEY.encode() in a]
    t.ok(KEY not in log and not leaked, "the API key is in no answer and not in the log",
         "%d answers" % len(leaked))


# -- the pipeline parser -------------------------------------------------------

def check(tmp, path, env):
    """Runs `vidgen check path`: (exit status or 'timeout', output)."""
    try:
        r = subprocess.run([serve_lib.vidgen_path(), "check", path], env=env, cwd=tmp,
                           capture_output=True, timeout=CHECK_TIMEOUT)
    except subprocess.TimeoutExpired:
        return "timeout", ""
    return r.returncode, (r.stdout + r.stderr).decode(errors="replace")


def config_part(tmp):
    tmp = os.path.join(tmp, "cfg")
    os.makedirs(tmp)
    supp = os.path.join(tmp, "lsan.supp")
    with open(supp, "w") as f:
        # libconfig 1.5 leaks its string buffer on some syntax errors.
        f.write("leak:libconfig.so\n")
    env = dict(os.environ)
    env["LSAN_OPTIONS"] = "suppressions=%s:print_suppressions=0" % supp
    base_path = os.path.join(HERE, "serve", "pipeline.cfg")
    with open(base_path) as f:
        base = f.read()
    value = '"${SERVE_DELAY_MS:-0}"'
    fifo = os.path.join(tmp, "fifo")
    os.mkfifo(fifo)
    sub = os.path.join(tmp, "dir")
    os.makedirs(sub)

    def with_value(v):
        return base.replace(value, v, 1)
    line = base[:base.index(value)].count("\n") + 1
    cases = [
        ("5000 nested defaults", with_value('"' + "${A:-" * 5000 + "0" + "}" * 5000 + '"'),
         line, "nested more than 16 deep"),
        ("${file:} of a FIFO nobody writes", with_value('"${file:%s}"' % fifo), line,
         "must be an integer"),
        ("${file:} of a directory", with_value('"${file:%s}"' % sub), line, "Is a directory"),
        ("${file:} of /dev/zero", with_value('"${file:/dev/zero}"'), line, "larger than"),
        ("${file:} of a missing file", with_value('"${file:%s/missing}"' % tmp), line,
         "No such file"),
        ("unterminated ${", with_value('"${SERVE_DELAY_MS"'), line, "unterminated"),
        ("@include of a directory", '\n  @include "%s"\n' % sub + base, 2,
         "@include is not supported"),
        ("@include of a FIFO", '@include "%s"\n' % fifo + base, 1, "@include is not supported"),
        ("a negative timeout", base.replace('progress = 20;', 'progress = 20; timeout = -1;', 1),
         None, "timeout"),
        ("a huge progress", base.replace('progress = 20;', 'progress = 99999999999999L;', 1),
         None, "progress"),
    ]
    bad = []
    for i, (name, text, want_line, needle) in enumerate(cases):
        path = os.path.join(tmp, "case%d.cfg" % i)
        with open(path, "w") as f:
            f.write(text)
        rc, out = check(tmp, path, env)
        prefix = "%s:%s" % (path, "%d:" % want_line if want_line else "")
        if rc != 3 or prefix not in out or needle not in out or SANITIZER.search(out):
            bad.append("%s: exit %s: %s" % (name, rc, out.strip()[:300]))
    t.ok(not bad, "%d hostile pipeline values: exit 3, file:line and the reason" % len(cases),
         "\n".join(bad))

    bad = []
    for name, path in [("a FIFO as the pipeline", fifo), ("a directory as the pipeline", sub),
                       ("/dev/zero as the pipeline", "/dev/zero")]:
        rc, out = check(tmp, path, env)
        if rc != 3 or path not in out or SANITIZER.search(out):
            bad.append("%s: exit %s: %s" % (name, rc, out.strip()[:300]))
    t.ok(not bad, "a pipeline that is not a regular file: exit 3 naming it, no hang",
         "\n".join(bad))

    seeds = [base_path] + [os.path.join(TOP, "pipelines", n)
                           for n in ("default.cfg", "local.cfg", "demo.cfg")]
    texts = []
    for p in seeds:
        try:
            with open(p, "rb") as f:
                texts.append(f.read())
        except OSError:
            pass
    bad = []
    n = 80
    for i in range(n):
        path = os.path.join(tmp, "mut%d.cfg" % i)
        with open(path, "wb") as f:
            f.write(mutate(rng.choice(texts)))
        rc, out = check(tmp, path, env)
        if rc not in (0, 3) or SANITIZER.search(out) or \
                (rc == 3 and not re.search(re.escape(path) + r":\d+: ", out)):
            bad.append("mut%d.cfg: exit %s: %s" % (i, rc, out.strip()[-600:]))
    t.ok(not bad, "%d byte-mutated pipelines: exit 0 or 3 with file:line, sanitizers quiet" % n,
         "\n".join(bad[:5]))


def main():
    tmp = serve_lib.workdir()
    start = time.time()
    try:
        daemon_part(tmp)
    except Exception as e:  # a dead daemon is a failure, not a crash of the test
        t.ok(False, "the daemon part ran to its end", repr(e))
    config_part(tmp)
    print("# %.1f s" % (time.time() - start))
    serve_lib.cleanup(tmp)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
