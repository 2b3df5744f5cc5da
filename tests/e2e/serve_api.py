"""End-to-end tests of `vidgen serve` over real HTTP with replay pipelines:
the doc/api.md shapes field by field, the status walk, input rules, list,
cancel, server-sent events, MAX_CONCURRENT_VIDEOS, media Range requests,
the web page, API keys, CORS, /healthz and /metrics. Prints TAP."""

import http.client
import json
import os
import socket
import threading
import time

from serve_lib import (Daemon, Tap, UUID_RE, ISO_RE, RESPONSE_KEYS, workdir, cleanup,
                       replay_calls, walk_ok, HERE)

PROMPT = "Explain the Pythagorean theorem with visual proof"
PRIMES = "Why are prime numbers infinite? Explain Euclid."
ANSWERS = os.path.join(HERE, "serve", "answers", "pythagoras")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def count_jobs(d):
    st, _, doc = d.json("GET", "/api/v1/videos?limit=100")
    return len(doc["videos"]) if st == 200 else -1


def test_shapes(t, d):
    st, h, doc = d.json("GET", "/api/v1/config")
    t.ok(st == 200 and h.get("content-type", "").startswith("application/json"),
         "GET /api/v1/config answers JSON")
    t.ok(doc == {"models": ["claude-4-sonnet", "claude-3-haiku"],
                 "voices": ["Joanna", "Matthew", "Ruth", "Stephen"]},
         "config lists the pipeline's selectable models and its voices", doc)

    st, h, doc = d.create(PROMPT, voice="Matthew")
    t.ok(st in (201, 202), "POST /api/v1/videos answers 202", st)
    t.ok(doc is not None and set(doc) == RESPONSE_KEYS,
         "the VideoResponse has exactly the spec's fields", doc)
    t.ok(UUID_RE.match(doc["video_id"]) is not None, "video_id is a UUID", doc["video_id"])
    t.ok(doc["status"] == "queued" and doc["progress"] == 0 and
         doc["message"] == "Video generation started",
         "a new job is queued, progress 0, 'Video generation started'", doc)
    t.ok(doc["video_url"] is None and doc["s3_url"] is None and
         doc["initial_explanation"] is None and doc["refined_explanation"] is None,
         "urls and explanations start as null", doc)
    t.ok(doc["original_question"] == PROMPT, "original_question is the prompt")
    t.ok(ISO_RE.match(doc["created_at"] or "") is not None, "created_at is ISO-8601",
         doc["created_at"])
    vid = doc["video_id"]
    t.ok(h.get("location") == "/api/v1/videos/%s/status" % vid,
         "Location names the status URL", h.get("location"))

    final, seen = d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"))
    t.ok(final is not None and final["status"] == "completed" and final["progress"] == 100,
         "the job completes with progress 100", final or d.log())
    ok, why = walk_ok(seen)
    t.ok(ok, "statuses follow the seed's walk, progress never goes back", why)
    t.ok(final and final["initial_explanation"] ==
         read(os.path.join(ANSWERS, "explain.txt")).rstrip(),
         "initial_explanation is stage 1's text")
    t.ok(final and final["refined_explanation"] ==
         read(os.path.join(ANSWERS, "refine.txt")).rstrip(),
         "refined_explanation is stage 2's text (quotes, tab, UTF-8 kept)")
    t.ok(final and final["message"] and final["created_at"] == doc["created_at"] and
         final["video_id"] == vid and set(final) == RESPONSE_KEYS,
         "the finished VideoResponse keeps its identity fields", final)
    st, _, doc2 = d.json("GET", "/api/v1/videos/" + vid)
    t.ok(st == 200 and doc2 == final, "GET /api/v1/videos/{id} answers the same response")


def test_bad_input(t, d):
    before = count_jobs(d)
    cases = [
        ("prompt too short", {"prompt": "123456789", "model": "claude-4-sonnet"}, 422, "prompt"),
        ("prompt too long", {"prompt": "x" * 10001, "model": "claude-4-sonnet"}, 422, "prompt"),
        ("prompt of 9 multibyte chars (18 bytes)", {"prompt": "é" * 9,
                                                    "model": "claude-4-sonnet"}, 422, "prompt"),
        ("prompt missing", {"model": "claude-4-sonnet"}, 422, "prompt"),
        ("prompt not a string", {"prompt": 12345678901, "model": "claude-4-sonnet"}, 422,
         "prompt"),
        ("model missing", {"prompt": PROMPT}, 422, "model"),
        ("model unknown", {"prompt": PROMPT, "model": "gpt-4o"}, 422, "model"),
        ("model not selectable", {"prompt": PROMPT, "model": "gpt-5"}, 422, "model"),
        ("voice unknown", {"prompt": PROMPT, "model": "claude-4-sonnet", "voice": "Bob"}, 422,
         "voice"),
        ("voice not a string", {"prompt": PROMPT, "model": "claude-4-sonnet", "voice": 3}, 422,
         "voice"),
        ("body an array", [PROMPT], 422, "body"),
    ]
    for name, body, code, field in cases:
        st, h, doc = d.json("POST", "/api/v1/videos", body)
        t.ok(st == code and isinstance(doc, dict) and doc.get("field") == field and
             doc.get("rule") and doc.get("detail") and
             h.get("content-type", "").startswith("application/json"),
             "%s: %d naming field '%s' and the rule" % (name, code, field), (st, doc))

    raw = [
        ("malformed JSON", b'{"prompt": "abc', {"Content-Type": "application/json"}, 400),
        ("invalid UTF-8", b'{"prompt": "\xff\xfe bad bytes here", "model": "claude-4-sonnet"}',
         {"Content-Type": "application/json"}, 400),
        ("wrong content type", json.dumps({"prompt": PROMPT, "model": "claude-4-sonnet"}),
         {"Content-Type": "text/plain"}, 415),
        ("no content type", json.dumps({"prompt": PROMPT, "model": "claude-4-sonnet"}), {}, 415),
        ("body over 64 KB", json.dumps({"prompt": "y" * 70000, "model": "claude-4-sonnet"}),
         {"Content-Type": "application/json"}, 413),
    ]
    for name, body, headers, code in raw:
        st, h, data = d.request("POST", "/api/v1/videos", body, headers)
        try:
            doc = json.loads(data)
        except ValueError:
            doc = None
        t.ok(st == code and isinstance(doc, dict) and doc.get("detail"),
             "%s: %d with a JSON error" % (name, code), (st, data[:200]))

    st, h, doc = d.json("PUT", "/api/v1/videos", {"prompt": PROMPT})
    t.ok(st == 405 and "POST" in h.get("allow", "") and doc and doc.get("detail"),
         "wrong method: 405 with Allow and a JSON error", (st, h.get("allow"), doc))
    st, h, doc = d.json("POST", "/api/v1/config", {})
    t.ok(st == 405 and doc and doc.get("error") == "method_not_allowed",
         "POST /api/v1/config: 405", (st, doc))
    st, _, doc = d.json("GET", "/api/v1/nothing-here")
    t.ok(st == 404 and doc and doc.get("detail"), "unknown path: 404 with a JSON error")
    st, _, doc = d.json("GET", "/api/v1/videos/6f1c1a0e-0000-4000-8000-000000000000/status")
    t.ok(st == 404 and doc and doc.get("detail") == "Video not found",
         "unknown video id: 404 'Video not found'", (st, doc))
    st, _, doc = d.json("GET", "/api/v1/videos/not-a-uuid/status")
    t.ok(st == 404 and doc and doc.get("detail"), "malformed video id: 404 JSON")
    t.ok(count_jobs(d) == before, "no bad request queued anything",
         (before, count_jobs(d)))

    # Limits that pass: exactly 10 characters of 2-byte UTF-8, and 10000.
    st, _, doc = d.create("é" * 10)
    t.ok(st == 202, "a prompt of 10 characters (20 bytes) is accepted", (st, doc))
    # A percent-encoded NUL is not decoded: it cut the path or value short.
    vid = doc["video_id"] if st == 202 else "x"
    st, _, doc = d.json("GET", "/api/v1/videos/%s%%00/status" % vid)
    t.ok(st == 404 and doc and doc.get("field") == "video_id",
         "an id followed by %00: 404, not that job's status", (st, doc))
    st, _, doc = d.json("GET", "/api/v1/videos?before=1%00")
    t.ok(st == 422 and doc and doc.get("field") == "before", "before=1%00: 422", (st, doc))
    st, _, doc = d.json("GET", "/api/v1/videos?limit=%32&before=%39")
    t.ok(st == 200 and doc and len(doc["videos"]) <= 2, "other escapes are still decoded",
         (st, doc))
    st, _, doc = d.create("z" * 10000)
    t.ok(st == 202, "a prompt of 10000 characters is accepted", st)
    st, _, doc = d.json("POST", "/api/v1/videos", {"prompt": PRIMES, "model": "claude-3-haiku",
                                                   "style": "fancy", "nested": {"a": [1, 2]}})
    t.ok(st == 202, "unknown fields are ignored, an absent voice is the default", (st, doc))
    st, _, doc = d.json("GET", "/healthz")
    t.ok(st == 200 and doc and doc.get("status") == "ok", "the daemon still serves: /healthz ok")


def test_strict_types(t, d):
    """A field of the wrong JSON type is a 422 naming it, null included:
    never taken for absent and given a default."""
    before = count_jobs(d)
    ok = {"prompt": PROMPT, "model": "claude-4-sonnet", "voice": "Ruth"}
    for field in ("prompt", "model", "voice"):
        for bad, what in ((None, "null"), (5, "a number"), (True, "a boolean"),
                          ([ok[field]], "an array"), ({"v": ok[field]}, "an object")):
            body = dict(ok, **{field: bad})
            st, h, doc = d.json("POST", "/api/v1/videos", body)
            t.ok(st == 422 and doc and doc.get("field") == field and
                 doc.get("rule") == "type:string" and doc.get("error") == "validation_error" and
                 what in doc.get("detail", ""),
                 '"%s": %s is a 422 naming %s, rule type:string' % (field, json.dumps(bad), field),
                 (st, doc))
    # \u0000 in a known field breaks that field's rule; in an ignored field,
    # nothing; in a key, the JSON parser refuses the body.
    cases = [
        ('{"prompt": "%s\\u0000", "model": "claude-4-sonnet"}' % PROMPT, 422, "prompt", "utf8"),
        ('{"prompt": "%s", "model": "claude-4-sonnet\\u0000x"}' % PROMPT, 422, "model",
         "enum:config.models"),
        ('{"prompt": "%s", "model": "claude-4-sonnet", "voice": "Ruth\\u0000"}' % PROMPT, 422,
         "voice", "enum:config.voices"),
        ('{"prompt": "%s", "model": "claude-4-sonnet", "k\\u0000": 1}' % PROMPT, 400, "body",
         "json"),
    ]
    for body, code, field, rule in cases:
        st, _, data = d.request("POST", "/api/v1/videos", body,
                                {"Content-Type": "application/json"})
        doc = json.loads(data) if data else {}
        t.ok(st == code and doc.get("field") == field and doc.get("rule") == rule,
             "%s: %d naming %s (%s)" % (body[-40:], code, field, rule), (st, doc))
    t.ok(count_jobs(d) == before, "none of these queued a job", (before, count_jobs(d)))
    # What is ignored may hold anything JSON can: a NUL, an integer past 64
    # bits (both were a 400 "malformed JSON").
    for extra in ('"note": "a\\u0000b"', '"n": 123456789012345678901234567890',
                  '"deep": [[[{"a": -1e300}]]]'):
        body = '{"prompt": "%s", "model": "claude-4-sonnet", %s}' % (PRIMES, extra)
        st, _, data = d.request("POST", "/api/v1/videos", body,
                                {"Content-Type": "application/json"})
        t.ok(st == 202, "an ignored field holding %s: 202" % extra.split(":", 1)[1].strip(),
             (st, data[:200]))
    # A cursor is next_cursor's digits, nothing else.
    for q in ("before=", "before=0", "before=01", "before=%2B5", "before=1234567890123456789"):
        st, _, doc = d.json("GET", "/api/v1/videos?" + q)
        t.ok(st == 422 and doc and doc.get("field") == "before", "list %s: 422" % q, (st, doc))
    st, _, doc = d.json("GET", "/api/v1/videos?before=123456789012345678")
    t.ok(st == 200, "list before=<18 digits>: 200", (st, doc))
    # A path naming no job is not there for a preflight either; an id in
    # upper case names its job.
    st, _, doc = d.json("OPTIONS", "/api/v1/videos/not-a-uuid/status")
    t.ok(st == 404 and doc and doc.get("field") == "video_id",
         "OPTIONS on a malformed id: 404 naming video_id", (st, doc))
    st, _, doc = d.create(PROMPT)
    vid = doc["video_id"]
    st, _, doc = d.json("GET", "/api/v1/videos/%s/status" % vid.upper())
    t.ok(st == 200 and doc["video_id"] == vid, "an id in upper case finds its job", (st, doc))
    d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"))


def test_list(t, d):
    ids = []
    for i in range(5):
        st, _, doc = d.create("%s (%d)" % (PRIMES, i))
        ids.append(doc["video_id"])
    st, _, page1 = d.json("GET", "/api/v1/videos?limit=2")
    t.ok(st == 200 and [v["video_id"] for v in page1["videos"]] == ids[::-1][:2],
         "list: newest first, limit respected", page1)
    t.ok(page1.get("next_cursor") is not None, "list: a full page has a next_cursor")
    st, _, page2 = d.json("GET", "/api/v1/videos?limit=3&before=" + page1["next_cursor"])
    t.ok(st == 200 and [v["video_id"] for v in page2["videos"]] == ids[::-1][2:5],
         "list: before=cursor continues where the page ended", page2)
    t.ok(all(set(v) == RESPONSE_KEYS for v in page2["videos"]),
         "list items are VideoResponses")
    for q, field in (("limit=0", "limit"), ("limit=101", "limit"), ("limit=abc", "limit"),
                     ("before=xyz", "before")):
        st, _, doc = d.json("GET", "/api/v1/videos?" + q)
        t.ok(st == 422 and doc and doc.get("field") == field,
             "list %s: 422 naming '%s'" % (q, field), (st, doc))
    for vid in ids:
        d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"))


def test_media_and_web(t, d, web_dir):
    vid = "0b6c5e1c-2f4e-4d3a-9c1b-5e6f7a8b9c0d"
    vdir = os.path.join(d.data_dir, "videos")
    os.makedirs(vdir, exist_ok=True)
    content = bytes(range(256)) * 40  # 10240 bytes
    with open(os.path.join(vdir, vid + ".mp4"), "wb") as f:
        f.write(content)
    path = "/media/%s.mp4" % vid
    st, h, body = d.request("GET", path)
    t.ok(st == 200 and body == content and h.get("content-type") == "video/mp4" and
         h.get("accept-ranges") == "bytes", "media: whole file, video/mp4, Accept-Ranges",
         (st, h))
    st, h, body = d.request("GET", path, headers={"Range": "bytes=100-199"})
    t.ok(st == 206 and body == content[100:200] and
         h.get("content-range") == "bytes 100-199/10240",
         "media: Range bytes=100-199 gives 206 and those bytes", (st, h))
    st, h, body = d.request("GET", path, headers={"Range": "bytes=10000-"})
    t.ok(st == 206 and body == content[10000:] and
         h.get("content-range") == "bytes 10000-10239/10240", "media: open-ended range")
    st, h, body = d.request("GET", path, headers={"Range": "bytes=-16"})
    t.ok(st == 206 and body == content[-16:], "media: suffix range (last 16 bytes)")
    st, h, body = d.request("GET", path, headers={"Range": "bytes=20000-"})
    t.ok(st == 416 and h.get("content-range") == "bytes */10240",
         "media: a range past the end is 416", (st, h))
    st, h, body = d.request("HEAD", path)
    t.ok(st == 200 and h.get("content-length") == "10240" and body == b"",
         "media: HEAD gives the length, no body", (st, h))
    for bad in ("/media/../jobs.db", "/media/%2e%2e/jobs.db", "/media/x.mp4",
                "/media/" + vid, "/media/" + vid + ".mp4/../../jobs.db",
                "/media/6f1c1a0e-0000-4000-8000-000000000000.mp4"):
        st, _, _ = d.request("GET", bad)
        t.ok(st == 404, "media: %s is 404" % bad, st)
    st, h, body = d.request("POST", path, b"")
    t.ok(st == 405, "media: POST is 405", st)
    # The captions and poster beside the video, with their content types.
    for suffix, ctype in ((".vtt", "text/vtt; charset=utf-8"), (".srt", "application/x-subrip"),
                          (".jpg", "image/jpeg"), (".thumb.jpg", "image/jpeg")):
        with open(os.path.join(vdir, vid + suffix), "wb") as f:
            f.write(suffix.encode())
        st, h, body = d.request("GET", "/media/" + vid + suffix)
        t.ok(st == 200 and body == suffix.encode() and h.get("content-type") == ctype,
             "media: %s is served as %s" % (suffix, ctype), (st, h))
    for bad in (".json", ".thumb.vtt", ".vtt.mp4x", ".exe", "x.vtt"):
        with open(os.path.join(vdir, vid + bad), "wb") as f:
            f.write(b"no")
        st, _, _ = d.request("GET", "/media/" + vid + bad)
        t.ok(st == 404, "media: a file ending %s is not served" % bad, st)

    st, h, body = d.request("GET", "/")
    t.ok(st == 200 and body == b"<html>vidgen test page</html>\n" and
         h.get("content-type", "").startswith("text/html"), "GET / serves index.html", (st, h))
    st, h, body = d.request("GET", "/assets/app.js")
    t.ok(st == 200 and h.get("content-type", "").startswith("text/javascript") and
         body == b"console.log('x');\n", "GET /assets/app.js: text/javascript", (st, h))
    st, h, _ = d.request("GET", "/assets/style.css")
    t.ok(st == 200 and h.get("content-type", "").startswith("text/css"), "style.css: text/css")
    for bad in ("/assets/../index.html", "/assets/.hidden", "/assets/missing.js",
                "/assets/a%2fb.js", "/assets/"):
        st, _, _ = d.request("GET", bad)
        t.ok(st == 404, "assets: %s is 404" % bad, st)


def test_metrics(t, d):
    st, h, body = d.request("GET", "/metrics")
    text = body.decode()
    t.ok(st == 200 and h.get("content-type", "").startswith("text/plain"),
         "/metrics answers text/plain", (st, h))
    for needle in ('vidgen_http_requests_total{code="202"}',
                   'vidgen_http_requests_total{code="422"}',
                   'vidgen_jobs{status="completed"}', "vidgen_queue_length 0",
                   'vidgen_stage_duration_seconds_count{stage="explain"}',
                   "# TYPE vidgen_stage_duration_seconds summary"):
        t.ok(needle in text, "/metrics has %s" % needle, text[:1500])


def test_sse_and_walk(t, d):
    st, _, doc = d.create(PROMPT)
    vid = doc["video_id"]
    st, ctype, evs = d.events(vid)
    t.ok(st == 200 and ctype.startswith("text/event-stream"), "events: text/event-stream",
         (st, ctype))
    docs = [e[1] for e in evs]
    t.ok(len(docs) >= 4, "events: one per change (%d events)" % len(docs),
         [(e[0], x["status"], x["progress"]) for e, x in zip(evs, docs)])
    ok, why = walk_ok(docs)
    t.ok(ok, "events arrive in order, progress never goes back", why)
    t.ok(docs and docs[-1]["status"] == "completed" and evs[-1][0] == "end",
         "events end after 'completed'", evs[-1] if evs else None)
    ids = d.last_event_ids
    t.ok(ids and None not in ids and ids == list(range(ids[0], ids[0] + len(ids))),
         "events: every change is sent (consecutive ids)", ids)
    statuses = [x["status"] for x in docs]
    t.ok(all(s in statuses for s in ("generating_initial_explanation", "refining_explanation",
                                     "generating_script", "validating_script")),
         "events show every stage's status", statuses)
    st, ctype, evs2 = d.events(vid, timeout=5)
    t.ok(st == 200 and len(evs2) == 1 and evs2[0][1]["status"] == "completed",
         "events of a finished job: one event, then the stream ends", evs2)
    st, _, _ = d.events("6f1c1a0e-0000-4000-8000-000000000000", timeout=5)
    t.ok(st == 404, "events of an unknown job: 404")


def test_concurrency_and_cancel(t, d, log):
    ids = [d.create(PROMPT)[2]["video_id"] for _ in range(3)]
    seen = {i: [] for i in ids}
    max_active, queued_while_busy = 0, False
    end = time.time() + 30
    while time.time() < end:
        states = {}
        for i in ids:
            st, _, doc = d.status(i)
            states[i] = doc["status"]
            seen[i].append(doc)
        active = [i for i, s in states.items() if s not in ("queued", "completed", "failed")]
        max_active = max(max_active, len(active))
        if active and any(s == "queued" for s in states.values()):
            queued_while_busy = True
        if all(s in ("completed", "failed") for s in states.values()):
            break
        time.sleep(0.02)
    t.ok(max_active == 1, "MAX_CONCURRENT_VIDEOS=1: never two jobs running", max_active)
    t.ok(queued_while_busy, "a waiting job shows 'queued' while another runs")
    firsts = []
    for i in ids:
        for k, doc in enumerate(seen[i]):
            if doc["status"] != "queued":
                firsts.append((k, i))
                break
    order = [i for _, i in sorted(firsts)]
    t.ok(order == ids, "jobs start in FIFO order")
    t.ok(all(seen[i][-1]["status"] == "completed" for i in ids), "all three complete")

    # Cancel: A runs, B waits. B is cancelled while queued, A while running.
    a = d.create(PROMPT)[2]["video_id"]
    b = d.create(PRIMES)[2]["video_id"]
    d.wait_for(a, lambda x: x["status"] == "generating_initial_explanation")
    st, _, doc = d.json("DELETE", "/api/v1/videos/" + b)
    t.ok(st == 200 and doc["status"] == "failed" and "cancel" in doc["message"].lower(),
         "DELETE of a queued job: 200, failed, message says cancelled", (st, doc))
    st, _, doc = d.json("DELETE", "/api/v1/videos/" + a)
    t.ok(st == 202, "DELETE of a running job: 202", (st, doc))
    final, _ = d.wait_for(a, lambda x: x["status"] in ("completed", "failed"), timeout=10)
    t.ok(final and final["status"] == "failed" and "cancel" in final["message"].lower(),
         "the running job ends failed, message says cancelled", final)
    t.ok(final and final["progress"] < 100 or final["status"] == "failed",
         "a cancelled job keeps its fields")
    st, _, doc = d.json("DELETE", "/api/v1/videos/" + a)
    t.ok(st == 409 and doc and doc.get("detail"), "DELETE of a finished job: 409", (st, doc))
    st, _, doc = d.json("DELETE", "/api/v1/videos/6f1c1a0e-0000-4000-8000-000000000000")
    t.ok(st == 404, "DELETE of an unknown job: 404", st)
    time.sleep(0.3)
    t.ok(replay_calls(log, b) == {}, "the cancelled queued job never called a model",
         replay_calls(log, b))
    st, _, doc = d.status(b)
    t.ok(doc["status"] == "failed", "the cancelled queued job stays failed", doc)

    # Racing DELETEs of one queued job: one cancels it, the others find it
    # finished, and the job queued behind it still runs (the queue length
    # once dropped per DELETE, and no worker woke for it).
    a = d.create(PROMPT)[2]["video_id"]
    b = d.create(PRIMES)[2]["video_id"]
    c = d.create(PROMPT)[2]["video_id"]
    d.wait_for(a, lambda x: x["status"] != "queued")
    codes = []
    ths = [threading.Thread(target=lambda: codes.append(
        d.json("DELETE", "/api/v1/videos/" + b)[0])) for _ in range(4)]
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    t.ok(sorted(codes) == [200, 409, 409, 409],
         "racing DELETEs of a queued job: one 200, the others 409", codes)
    final, _ = d.wait_for(c, lambda x: x["status"] in ("completed", "failed"), timeout=20)
    t.ok(final and final["status"] == "completed",
         "the job queued behind a cancelled one still runs to the end", final)


def test_access(t, base):
    d = Daemon(base, env={"VIDGEN_API_KEYS": "key-one, key-two",
                          "VIDGEN_CORS_ORIGINS": "http://app.example"}).start()
    try:
        st, h, doc = d.create(PROMPT)
        t.ok(st == 401 and "bearer" in h.get("www-authenticate", "").lower() and
             doc.get("field") == "Authorization", "API keys set: POST without a key is 401",
             (st, doc))
        st, _, doc = d.create(PROMPT, headers={"Authorization": "Bearer wrong-key"})
        t.ok(st == 401, "a wrong key is 401")
        st, _, doc = d.create(PROMPT, headers={"Authorization": "Bearer key-one-and-more"})
        t.ok(st == 401, "a key with a valid prefix is 401")
        st, _, doc = d.create(PROMPT, headers={"Authorization": "Bearer key-two"})
        t.ok(st == 202, "the second key of the list is accepted", (st, doc))
        vid = doc["video_id"]
        st, _, _ = d.status(vid)
        t.ok(st == 200, "status needs no key")
        st, _, _ = d.json("DELETE", "/api/v1/videos/" + vid)
        t.ok(st == 401, "DELETE without a key is 401")
        st, h, _ = d.request("GET", "/api/v1/config", headers={"Origin": "http://app.example"})
        t.ok(h.get("access-control-allow-origin") == "http://app.example",
             "CORS: an allowed origin is echoed", h)
        st, h, _ = d.request("GET", "/api/v1/config", headers={"Origin": "http://evil.example"})
        t.ok("access-control-allow-origin" not in h, "CORS: another origin gets no header")
        st, h, _ = d.request("OPTIONS", "/api/v1/videos",
                             headers={"Origin": "http://app.example",
                                      "Access-Control-Request-Method": "POST"})
        t.ok(st == 204 and "POST" in h.get("access-control-allow-methods", "") and
             "Authorization" in h.get("access-control-allow-headers", ""),
             "CORS preflight: 204 with methods and headers", (st, h))
    finally:
        t.ok(d.stop() == 0, "SIGTERM: the daemon exits 0")

    # Keys asked for but none given ("$A,$B" of unset variables): the
    # daemon must not start with an open API.
    for keys in (",", " , ,"):
        d = Daemon(os.path.join(base, "nokeys%d" % len(keys)), env={"VIDGEN_API_KEYS": keys})
        os.makedirs(d.workdir)
        try:
            d.start()
            started = True
            d.stop()
        except RuntimeError:
            started = False
        t.ok(not started and "holds no key" in d.log(),
             "VIDGEN_API_KEYS=%r: the daemon refuses to start" % keys, d.log()[-500:])


def test_idle_timeout(t, base):
    """A request left half-sent holds its connection only for
    VIDGEN_HTTP_IDLE_TIMEOUT seconds."""
    os.makedirs(os.path.join(base, "idle"))
    d = Daemon(os.path.join(base, "idle"), env={"VIDGEN_HTTP_IDLE_TIMEOUT": "2"}).start()
    try:
        s = socket.create_connection(("127.0.0.1", d.port), timeout=20)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # no blank line
        t0 = time.time()
        try:
            got = s.recv(100)
        except socket.timeout:
            got = None
        waited = time.time() - t0
        s.close()
        st, _, _ = d.request("GET", "/healthz")
        t.ok(got == b"" and 1.5 < waited < 6 and st == 200,
             "VIDGEN_HTTP_IDLE_TIMEOUT=2: a half-sent request is dropped after 2 s, "
             "the daemon serves on", (got, waited, st))
    finally:
        d.stop()


def http_threads(pid):
    """{tid: (allowed CPUs, voluntary context switches)} of the daemon's
    libmicrohttpd threads."""
    out = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        base = "/proc/%d/task/%s/" % (pid, tid)
        try:
            with open(base + "comm") as f:
                if not f.read().startswith("MHD"):
                    continue
            with open(base + "status") as f:
                st = dict(l.split(":", 1) for l in f if ":" in l)
        except OSError:
            continue
        out[tid] = (st["Cpus_allowed_list"].strip(), int(st["voluntary_ctxt_switches"]))
    return out


def test_http_threads(t, base):
    """One HTTP thread per CPU, each pinned, each serving the connections
    made from its CPU (listen.h)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        for what in ("pinned", "steered", "re-homed", "unpinned"):
            t.skip("HTTP threads %s: needs 2 CPUs" % what)
        return
    for sub in ("pin", "nopin"):
        os.makedirs(os.path.join(base, sub))
    d = Daemon(os.path.join(base, "pin"), env={"VIDGEN_HTTP_THREADS": "2"}).start()
    saved = os.sched_getaffinity(0)
    steered = []
    try:
        for j in (0, 1):
            os.sched_setaffinity(0, {cpus[j]})
            before = http_threads(d.proc.pid)
            for _ in range(20):  # each on a new connection
                d.request("GET", "/healthz")
            after = http_threads(d.proc.pid)
            grew = {tid: after[tid][1] - before.get(tid, ("", 0))[1] for tid in after}
            # A thread may handle several connections per wake-up (slower
            # under valgrind and the sanitizers: once 9 wake-ups for 20): the
            # one that served them grew, the others hardly.
            busy = max(grew, key=grew.get)
            steered.append(grew[busy] >= 5 and after[busy][0] == str(cpus[j]) and
                           all(n < 5 for tid, n in grew.items() if tid != busy))
        os.sched_setaffinity(0, saved)
        threads = http_threads(d.proc.pid)
        allowed = sorted(a for a, _ in threads.values())
        t.ok(allowed == sorted(str(c) for c in cpus[:2]),
             "VIDGEN_HTTP_THREADS=2: two HTTP threads, each pinned to its own CPU", threads)
        t.ok(steered == [True, True],
             "connections made from a CPU are served by the thread pinned to it",
             (steered, http_threads(d.proc.pid)))

        # A keep-alive client that stays on its CPU is never closed; one
        # whose thread moves to the other CPU is closed after three checks
        # in a row (every 256 requests) so that it reconnects from there.
        def keepalive(first_cpu, then_cpu, total):
            os.sched_setaffinity(0, {first_cpu})
            c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
            try:
                for i in range(1, total + 1):
                    if i == 11:
                        os.sched_setaffinity(0, {then_cpu})
                    c.request("GET", "/healthz")
                    r = c.getresponse()
                    r.read()
                    if (r.getheader("Connection") or "").lower() == "close":
                        return i
                return None
            finally:
                c.close()
                os.sched_setaffinity(0, saved)
        stayed = keepalive(cpus[0], cpus[0], 1000)
        moved = keepalive(cpus[0], cpus[1], 1000)
        metrics = d.request("GET", "/metrics")[2].decode()
        t.ok(stayed is None and moved == 768 and
             "vidgen_http_rehomed_connections_total 1\n" in metrics,
             "a keep-alive client that moves to another CPU is closed at its 768th request, "
             "one that stays is not", (stayed, moved))
    finally:
        os.sched_setaffinity(0, saved)
        d.stop()
    d = Daemon(os.path.join(base, "nopin"), env={"VIDGEN_HTTP_THREADS": "2",
                                                 "VIDGEN_HTTP_AFFINITY": "0"}).start()
    try:
        d.request("GET", "/healthz")
        mine = set(str(c) for c in cpus)
        # libmicrohttpd names a thread from inside it: under load the second
        # one may not have its name yet.
        for _ in range(50):
            threads = http_threads(d.proc.pid)
            if len(threads) == 2:
                break
            time.sleep(0.05)
        t.ok(len(threads) == 2 and all(a not in mine for a, _ in threads.values()),
             "VIDGEN_HTTP_AFFINITY=0: the HTTP threads are not pinned", threads)
    finally:
        d.stop()


def main():
    t = Tap()
    base = workdir()
    web = os.path.join(base, "web")
    os.makedirs(web)
    for name, text in (("index.html", "<html>vidgen test page</html>\n"),
                       ("app.js", "console.log('x');\n"), ("style.css", "body{}\n")):
        with open(os.path.join(web, name), "w") as f:
            f.write(text)
    with open(os.path.join(base, "secret.txt"), "w") as f:
        f.write("not for the web\n")

    d1dir = os.path.join(base, "d1")
    os.makedirs(d1dir)
    d1 = Daemon(d1dir, web_dir=web).start()
    try:
        test_shapes(t, d1)
        test_bad_input(t, d1)
        test_strict_types(t, d1)
        test_list(t, d1)
        test_media_and_web(t, d1, web)
        test_metrics(t, d1)
    finally:
        t.ok(d1.stop() == 0, "SIGTERM: the daemon exits 0", d1.log()[-2000:])

    d2dir = os.path.join(base, "d2")
    os.makedirs(d2dir)
    log = os.path.join(d2dir, "replay.log")
    d2 = Daemon(d2dir, env={"SERVE_DELAY_MS": "120", "MAX_CONCURRENT_VIDEOS": "1",
                            "VIDGEN_REPLAY_LOG": log}).start()
    try:
        test_sse_and_walk(t, d2)
        test_concurrency_and_cancel(t, d2, log)
    finally:
        t.ok(d2.stop() == 0, "SIGTERM: the daemon exits 0", d2.log()[-2000:])

    d3dir = os.path.join(base, "d3")
    os.makedirs(d3dir)
    test_access(t, d3dir)
    test_http_threads(t, base)
    test_idle_timeout(t, base)
    cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
