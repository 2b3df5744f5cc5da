#!/usr/bin/env python3
"""Protocol fakes for Bedrock Runtime (Converse), Amazon Polly
(SynthesizeSpeech) and OpenAI Chat Completions, on one loopback port.

Each request is checked as the real service would: path, headers, JSON
shape, and for the AWS ones the SigV4 signature, recomputed here with the
known test secret (an implementation independent of vidgen's). Answers and
error bodies have the real services' shapes.

    cloud_fake.py --port-file FILE [--log FILE]

Test control (loopback only):
    POST /__fake/script  {"service": "bedrock", "responses": ["throttle", "ok"]}
                         queues behaviours for the next calls of a service;
                         {"service": ..., "default": "slow"} sets the one used
                         when the queue is empty; {"service": ..., "usage": X}
                         makes the next answers' usage object X (any JSON, to
                         play a hostile upstream; null restores the default).
    GET  /__fake/log     every request seen: service, path, status, problem.
Behaviours: ok, long, throttle, denied, ondemand, slow, error500 (bedrock);
ok, no_neural, throttle (polly); ok, ratelimit, quota (openai); a wrong key
always gets OpenAI's 401. Hostile answers, for any of the three
(tests/e2e/cloud_hostile.sh): truncated (the connection ends halfway
through the announced body), badlength (more bytes than Content-Length
says), error200 (200 with an error body), badutf8 (200, the service's
answer shape, invalid UTF-8 in the text), huge (200 with a 1 GiB body,
streamed).
"""
import argparse
import datetime
import hashlib
import hmac
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

KEYS = {"AKIDVIDGENTEST": "vidgen/test+secret/KEY0123456789abcdefghij"}
OPENAI_KEY = "sk-vidgen-test-key"
STATE = {"queues": {}, "defaults": {}, "log": [], "usage": {}}
HOSTILE = ("truncated", "badlength", "error200", "badutf8", "huge")
# The usage objects the model fakes answer with by default: known counts the
# tests compare the job's record with.
USAGE = {"bedrock": {"inputTokens": 10, "outputTokens": 20, "totalTokens": 30},
         "openai": {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20,
                    "completion_tokens_details": {"reasoning_tokens": 4}}}


def usage_of(service):
    with LOCK:
        return STATE["usage"].get(service, USAGE[service])
LOCK = threading.Lock()


def next_behaviour(service):
    with LOCK:
        q = STATE["queues"].get(service) or []
        if q:
            return q.pop(0)
        return STATE["defaults"].get(service, "ok")


# ---- SigV4 ------------------------------------------------------------------

def _normalize(path):
    out = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    norm = "/" + "/".join(out)
    if path.endswith("/") and norm != "/":
        norm += "/"
    return norm


def _enc(s):
    return urllib.parse.quote(s, safe="-_.~")


def check_sigv4(handler, body, service, region=None):
    """Returns None when the signature verifies, else (type, message)."""
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return ("MissingAuthenticationTokenException", "Missing Authentication Token")
    try:
        parts = dict(p.strip().split("=", 1) for p in auth[17:].split(","))
        akid, date, reg, svc, term = parts["Credential"].split("/")
        signed = parts["SignedHeaders"].split(";")
        sig = parts["Signature"]
    except (ValueError, KeyError):
        return ("IncompleteSignatureException", "Authorization header is malformed")
    if akid not in KEYS:
        return ("UnrecognizedClientException",
                "The security token included in the request is invalid.")
    if svc != service or term != "aws4_request" or (region and reg != region):
        return ("InvalidSignatureException", "Credential should be scoped to a valid "
                "region and service '%s'." % service)
    amz_date = handler.headers.get("X-Amz-Date", "")
    try:
        t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except ValueError:
        return ("IncompleteSignatureException", "X-Amz-Date is missing or malformed")
    if abs((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds()) > 900:
        return ("InvalidSignatureException", "Signature expired")
    if "host" not in signed or not amz_date.startswith(date):
        return ("InvalidSignatureException", "Host and date must be signed")
    url = urllib.parse.urlsplit(handler.path)
    # Every service but S3 signs the path as sent, encoded once more.
    canon_uri = _enc_path(_normalize(url.path))
    pairs = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
    canon_q = "&".join("%s=%s" % kv for kv in sorted((_enc(k), _enc(v)) for k, v in pairs))
    lines = []
    for h in signed:
        vals = handler.headers.get_all(h) or []
        lines.append("%s:%s\n" % (h, ",".join(" ".join(v.split()) for v in vals)))
    canonical = "\n".join([handler.command, canon_uri, canon_q, "".join(lines),
                           ";".join(signed), hashlib.sha256(body).hexdigest()])
    scope = "/".join([date, reg, svc, term])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                     hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + KEYS[akid]).encode()
    for m in (date, reg, svc, "aws4_request"):
        k = hmac.new(k, m.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return ("InvalidSignatureException",
                "The request signature we calculated does not match the signature you "
                "provided. Check your AWS Secret Access Key and signing method.")
    return None


def _enc_path(p):
    return urllib.parse.quote(p, safe="/-_.~")


# ---- answers ----------------------------------------------------------------

SCRIPT = '''Here is the script.

```python
from manim import *
from vidgen_narration import narration


class ExplainerScene(Scene):
    def construct(self):
        title = Text("A right triangle", font_size=40).to_edge(UP)
        tri = Polygon(ORIGIN, 3 * RIGHT, 3 * RIGHT + 2 * UP, color=BLUE).shift(DOWN + LEFT)
        with narration(self, 0) as seg:
            self.play(Write(title), run_time=max(0.2, seg.duration * 0.5))
        with narration(self, 1) as seg:
            self.play(Create(tri), run_time=max(0.2, seg.duration * 0.5))
        self.wait(0.2)
```
'''


def explanation(prompt, long=False):
    # The question is the prompt's longest line (the rest is instructions).
    question = max(prompt.splitlines() or [""], key=len).strip()[:200]
    text = ("Here is the explanation of %s. The first idea is a right triangle. "
            "The second idea is that the squares on the legs add up, e.g. 3 and 4 "
            "give 5. That is the whole story!" % question)
    if long:
        text += "".join(" Detail number %d makes this explanation longer." % i
                        for i in range(60))
    return text


def mp3_frames(seconds):
    """Silent MPEG-2 Layer III frames, 24 kHz mono 48 kbit/s (24 ms each)."""
    header = bytes([0xFF, 0xF3, 0x64, 0xC0])
    frame = header + bytes(144 - 4)
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x00"
    return id3 + frame * max(1, int(seconds / 0.024))


# ---- the handler ------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, status, body, ctype="application/json", headers=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", "fake-request-id")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def hostile(self, service, how):
        """Answers with one of the HOSTILE behaviours; False for any other."""
        if how not in HOSTILE:
            return False
        self.record(service, 200, None, {"hostile": how})
        good = {"bedrock": b'{"output":{"message":{"role":"assistant","content":[{"text":'
                           b'"An explanation."}]}},"stopReason":"end_turn"}',
                "openai": b'{"choices":[{"index":0,"finish_reason":"stop","message":'
                          b'{"role":"assistant","content":"A refinement."}}]}',
                "polly": mp3_frames(1.0)}[service]
        ctype = "audio/mpeg" if service == "polly" else "application/json"
        try:
            if how == "truncated":
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(good)))
                self.end_headers()
                self.wfile.write(good[:len(good) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
            elif how == "badlength":
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(good) // 2))
                self.end_headers()
                self.wfile.write(good)
                self.close_connection = True
            elif how == "error200":
                self.reply(200, json.dumps({"message": "Internal failure", "__type":
                                            "InternalFailure", "error": {"message": "failed"}}),
                           ctype="application/json")
            elif how == "badutf8":
                body = good.replace(b"An explanation.", b"An \xff\xfe explanation \xc3(.") \
                    .replace(b"A refinement.", b"A \xed\xa0\x80 refinement.")
                self.reply(200, body if service != "polly" else b"\xff\xfe\xc3(" * 64, ctype=ctype)
            elif how == "huge":
                size = 1 << 30
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = (b'{"output":' + b" " * 65526)[:65536] if service != "polly" \
                    else (good * (65536 // len(good) + 1))[:65536]
                sent = 0
                while sent < size:
                    self.wfile.write(chunk)
                    sent += len(chunk)
        except OSError:
            pass  # the client gave up: what a hostile answer is for
        return True

    def aws_error(self, status, etype, message):
        self.reply(status, json.dumps({"message": message}),
                   headers={"x-amzn-ErrorType": etype + ":http://internal.amazon.com/coral/"})

    def record(self, service, status, problem=None, extra=None):
        entry = {"service": service, "method": self.command,
                 "path": urllib.parse.urlsplit(self.path).path, "status": status,
                 "problem": problem}
        entry.update(extra or {})
        with LOCK:
            STATE["log"].append(entry)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        if self.path == "/__fake/log":
            with LOCK:
                self.reply(200, json.dumps(STATE["log"]))
            return
        self.reply(404, json.dumps({"message": "no such route"}))

    def do_POST(self):
        body = self.body()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/__fake/script":
            req = json.loads(body)
            with LOCK:
                if "responses" in req:
                    STATE["queues"].setdefault(req["service"], []).extend(req["responses"])
                if "default" in req:
                    STATE["defaults"][req["service"]] = req["default"]
                if "usage" in req:
                    if req["usage"] is None:
                        STATE["usage"].pop(req["service"], None)
                    else:
                        STATE["usage"][req["service"]] = req["usage"]
            self.reply(200, "{}")
        elif path.startswith("/model/") and path.endswith("/converse"):
            self.bedrock(body, path)
        elif path == "/v1/speech":
            self.polly(body)
        elif path.endswith("/chat/completions"):
            self.openai(body)
        else:
            self.reply(404, json.dumps({"message": "unknown operation"}))

    # Bedrock Runtime Converse
    def bedrock(self, body, path):
        bad = check_sigv4(self, body, "bedrock")
        if bad:
            self.record("bedrock", 403, bad[1])
            return self.aws_error(403, *bad)
        model = urllib.parse.unquote(path[len("/model/"):-len("/converse")])
        problem = None
        try:
            req = json.loads(body)
            msgs = req["messages"]
            text = msgs[0]["content"][0]["text"]
            if msgs[0]["role"] != "user" or not isinstance(text, str):
                problem = "first message must be a user text"
            cfg = req.get("inferenceConfig", {})
            if not isinstance(cfg.get("maxTokens", 1), int):
                problem = "inferenceConfig.maxTokens must be an integer"
            system = " ".join(b.get("text", "") for b in req.get("system", []))
        except (ValueError, KeyError, IndexError, TypeError):
            problem = "malformed Converse request"
        if self.headers.get("Content-Type") != "application/json":
            problem = "Content-Type must be application/json"
        if problem:
            self.record("bedrock", 400, problem)
            return self.aws_error(400, "ValidationException", problem)
        how = next_behaviour("bedrock")
        if self.hostile("bedrock", how):
            return
        if how == "throttle":
            self.record("bedrock", 429, None, {"model": model})
            return self.aws_error(429, "ThrottlingException",
                                  "Too many requests, please wait before trying again.")
        if how == "denied":
            self.record("bedrock", 403, None, {"model": model})
            return self.aws_error(403, "AccessDeniedException",
                                  "You don't have access to the model with the specified "
                                  "model ID.")
        if how == "ondemand":
            self.record("bedrock", 400, None, {"model": model})
            return self.aws_error(400, "ValidationException",
                                  "Invocation of model ID %s with on-demand throughput isn’t "
                                  "supported. Retry your request with the ID or ARN of an "
                                  "inference profile that contains this model." % model)
        if how == "error500":
            self.record("bedrock", 500, None, {"model": model})
            return self.aws_error(500, "InternalServerException", "internal error")
        if how == "slow":
            # Logged on arrival: the client gives up long before the answer.
            self.record("bedrock", 200, None, {"model": model, "kind": "slow"})
            time.sleep(4)
            try:
                self.reply(200, json.dumps({"output": {"message": {
                    "role": "assistant", "content": [{"text": "too late"}]}},
                    "stopReason": "end_turn"}))
            except OSError:
                pass
            return
        prompt = system + "\n" + text
        answer = SCRIPT if "Manim" in prompt else explanation(text, how == "long")
        self.record("bedrock", 200, None, {"model": model, "kind":
                                            "script" if answer is SCRIPT else "text"})
        self.reply(200, json.dumps({
            "output": {"message": {"role": "assistant", "content": [{"text": answer}]}},
            "stopReason": "end_turn",
            "usage": usage_of("bedrock"),
            "metrics": {"latencyMs": 5}}))

    # Polly SynthesizeSpeech
    def polly(self, body):
        bad = check_sigv4(self, body, "polly")
        if bad:
            self.record("polly", 403, bad[1])
            return self.aws_error(403, *bad)
        try:
            req = json.loads(body)
            text, voice, engine = req["Text"], req["VoiceId"], req.get("Engine", "standard")
            ok = (req["OutputFormat"] == "mp3" and voice in ("Joanna", "Matthew", "Ruth",
                                                             "Stephen")
                  and 0 < len(text) <= 3000 and engine in ("standard", "neural"))
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok:
            self.record("polly", 400, "bad SynthesizeSpeech request")
            return self.aws_error(400, "ValidationException", "1 validation error detected")
        how = next_behaviour("polly") if engine == "neural" else "ok"
        if self.hostile("polly", how):
            return
        if how == "no_neural":
            self.record("polly", 400, None, {"engine": engine})
            return self.aws_error(400, "EngineNotSupportedException",
                                  "This voice does not support the selected engine: neural")
        if how == "throttle":
            self.record("polly", 429, None)
            return self.aws_error(429, "ThrottlingException", "Rate exceeded")
        self.record("polly", 200, None, {"engine": engine, "voice": voice})
        self.reply(200, mp3_frames(0.06 * len(text)), ctype="audio/mpeg",
                   headers={"x-amzn-RequestCharacters": str(len(text))})

    # OpenAI Chat Completions
    def openai(self, body):
        def err(status, message, etype, code):
            self.record("openai", status, None)
            self.reply(status, json.dumps({"error": {"message": message, "type": etype,
                                                     "param": None, "code": code}}))
        if self.headers.get("Authorization") != "Bearer " + OPENAI_KEY:
            return err(401, "Incorrect API key provided.", "invalid_request_error",
                       "invalid_api_key")
        try:
            req = json.loads(body)
            model, msgs = req["model"], req["messages"]
            user = [m for m in msgs if m["role"] == "user"][-1]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            return err(400, "malformed request", "invalid_request_error", None)
        if model.startswith("gpt-5") and ("temperature" in req or "max_tokens" in req):
            return err(400, "Unsupported parameter: 'max_tokens' or 'temperature' is not "
                       "supported with this model.", "invalid_request_error",
                       "unsupported_parameter")
        how = next_behaviour("openai")
        if self.hostile("openai", how):
            return
        if how == "ratelimit":
            return err(429, "Rate limit reached", "requests", "rate_limit_exceeded")
        if how == "quota":
            return err(429, "You exceeded your current quota", "insufficient_quota",
                       "insufficient_quota")
        prompt = " ".join(m.get("content", "") for m in msgs if isinstance(m.get("content"), str))
        answer = SCRIPT if "Manim" in prompt else "Refined: " + user.strip()[-400:]
        self.record("openai", 200, None, {"model": model})
        self.reply(200, json.dumps({
            "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
            "model": model, "choices": [{"index": 0, "finish_reason": "stop",
                                         "message": {"role": "assistant", "content": answer}}],
            "usage": usage_of("openai")}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
