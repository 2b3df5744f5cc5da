"""SIGHUP reloads `vidgen serve`'s pipeline file (doc/deploy.md): a job
running on pipeline A finishes with A's output while new jobs run on B, a
keep-alive connection and an /events stream opened before the reload keep
working, /metrics counts the generations, and a broken file is refused with
its file:line in the log while the daemon keeps B. Prints TAP."""

import http.client
import json
import os
import re
import shutil
import signal
import threading
import time

from serve_lib import Daemon, Tap, HERE, workdir, cleanup

PROMPT = "Explain the Pythagorean theorem with visual proof"
ANSWERS = os.path.join(HERE, "serve", "answers", "pythagoras")

PIPELINE = """# pipeline {name}
name = "{name}";
voices = [{voices}];
default_voice = "Joanna";
models = ({models});
stages = (
  {{ id = "explain"; plugin = "replay"; inputs = ["question"];
    status = "generating_initial_explanation"; progress = 30; result = "initial_explanation";
    settings = {{ dir = "{answers}"; fallback = "q"; delay_ms = {delay}; }}; }},
  {{ id = "refine"; plugin = "replay"; inputs = ["explain"];
    status = "refining_explanation"; progress = 60; result = "refined_explanation";
    settings = {{ dir = "{answers}"; fallback = "q"; delay_ms = {delay}; }}; }}
);
"""


def pipeline_text(name, answers, delay, models, voices):
    return PIPELINE.format(
        name=name, answers=answers, delay=delay,
        voices=", ".join('"%s"' % v for v in voices),
        models=", ".join('{ name = "%s"; id = "replay-%s"; }' % (m, m) for m in models))


def make_answers(base, tag):
    d = os.path.join(base, "answers-" + tag, "q")
    os.makedirs(d)
    shutil.copy(os.path.join(ANSWERS, "question.txt"), d)
    for stage in ("explain", "refine"):
        with open(os.path.join(d, stage + ".txt"), "w") as f:
            f.write("%s from pipeline %s\n" % (stage, tag))
    return os.path.dirname(d)


def write(path, text):
    # In place, as an editor saving the file does.
    with open(path, "w") as f:
        f.write(text)


def metric(text, name):
    m = re.search(r"^%s (\d+)$" % re.escape(name), text, re.M)
    return int(m.group(1)) if m else None


class KeepAlive:
    """One HTTP/1.1 connection that must stay the same socket throughout."""

    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        self.c.connect()
        self.sock = self.c.sock
        self.closed_by_server = False

    def get(self, path):
        self.c.request("GET", path)
        r = self.c.getresponse()
        body = r.read()
        if (r.getheader("Connection") or "").lower() == "close" or self.c.sock is not self.sock:
            self.closed_by_server = True
        return r.status, body

    def same(self):
        return not self.closed_by_server and self.c.sock is self.sock

    def close(self):
        self.c.close()


def reload_with(d, ka, path, text, done):
    """Writes text to the pipeline file, sends SIGHUP and polls /metrics
    over ka until done(metrics) (10 s at most). Returns the last metrics."""
    write(path, text)
    d.proc.send_signal(signal.SIGHUP)
    end = time.time() + 10
    while True:
        metrics = ka.get("/metrics")[1].decode()
        if done(metrics) or time.time() > end:
            return metrics
        time.sleep(0.05)


def refused_count(metrics):
    m = re.search(r'vidgen_pipeline_reloads_total\{result="refused"\} (\d+)', metrics)
    return int(m.group(1)) if m else None


def follow_events(d, vid, out):
    """Reads vid's /events to the end into out (a list), on a thread."""
    st, _, evs = d.events(vid, timeout=60)
    out.append((st, evs))


def main():
    t = Tap()
    base = workdir()
    ans_a, ans_b = make_answers(base, "A"), make_answers(base, "B")
    path = os.path.join(base, "pipeline.cfg")
    text_a = pipeline_text("A", ans_a, 700, ["claude-4-sonnet"], ["Joanna", "Matthew"])
    text_b = pipeline_text("B", ans_b, 0, ["claude-4-sonnet", "claude-3-haiku"],
                           ["Joanna", "Ruth"])
    write(path, text_a)
    os.makedirs(os.path.join(base, "d"))
    d = Daemon(os.path.join(base, "d"), pipeline=path,
               env={"MAX_CONCURRENT_VIDEOS": "1", "VIDGEN_HTTP_THREADS": "1"}).start()
    ka = None
    try:
        ka = KeepAlive(d.port)
        st, body = ka.get("/metrics")
        t.ok(st == 200 and metric(body.decode(), "vidgen_pipeline_generation") == 1,
             "at start: vidgen_pipeline_generation 1", body[-600:])

        st, _, doc = d.create(PROMPT, model="claude-4-sonnet")
        old = doc["video_id"]
        running, _ = d.wait_for(old, lambda x: x["status"] == "generating_initial_explanation")
        t.ok(running is not None, "a job runs on pipeline A (slow stages)", running)
        # Queued behind it, a job with a voice only A has.
        st, _, doc = d.create(PROMPT, voice="Matthew")
        queued = doc["video_id"] if st == 202 else None
        t.ok(st == 202 and doc["status"] == "queued", "a job with A's voice Matthew waits",
             (st, doc))
        events = []
        th = threading.Thread(target=follow_events, args=(d, old, events))
        th.start()
        time.sleep(0.2)

        metrics = reload_with(d, ka, path, text_b,
                              lambda m: metric(m, "vidgen_pipeline_generation") == 2)
        t.ok(metric(metrics, "vidgen_pipeline_generation") == 2, "after SIGHUP with pipeline B: vidgen_pipeline_generation 2", metrics[-800:])
        st, doc = d.status(old)[0], d.status(old)[2]
        t.ok(doc["status"] not in ("completed", "failed"),
             "the job on A was still running when B was loaded", doc)
        t.ok(metric(metrics, "vidgen_pipelines_loaded") == 2,
             "two pipelines in memory while the job on A runs", metrics[-800:])
        t.ok("reloaded %s (generation 2)" % path in d.log(), "the log says the reload took",
             d.log()[-1000:])

        st, _, cfg = d.json("GET", "/api/v1/config")
        t.ok(cfg == {"models": ["claude-4-sonnet", "claude-3-haiku"],
                     "voices": ["Joanna", "Ruth"]}, "GET /api/v1/config lists B's models and voices",
             cfg)
        st, _, spec = d.json("GET", "/api/v1/openapi.json")
        req = spec["components"]["schemas"]["VideoRequest"]["properties"]
        t.ok(req["model"]["enum"] == ["claude-4-sonnet", "claude-3-haiku"],
             "the served OpenAPI document describes B", req["model"])
        st, _, doc = d.create(PROMPT, voice="Matthew")
        t.ok(st == 422 and doc["field"] == "voice", "a voice only A had is refused now", (st, doc))
        st, _, doc = d.create(PROMPT, model="claude-3-haiku", voice="Ruth")
        t.ok(st == 202, "a model only B has is accepted", (st, doc))
        new = doc["video_id"]
        final_new, _ = d.wait_for(new, lambda x: x["status"] in ("completed", "failed"))
        t.ok(final_new and final_new["status"] == "completed" and
             final_new["initial_explanation"] == "explain from pipeline B",
             "the new job runs on B (B's answers)", final_new)

        final_q, _ = d.wait_for(queued, lambda x: x["status"] in ("completed", "failed"))
        t.ok(final_q and final_q["status"] == "failed" and "Matthew" in final_q["message"] and
             "pipeline loaded now" in final_q["message"],
             "the job queued under A with a voice B lacks fails when it starts, saying why",
             final_q)
        final_old, _ = d.wait_for(old, lambda x: x["status"] in ("completed", "failed"))
        t.ok(final_old and final_old["status"] == "completed" and
             final_old["initial_explanation"] == "explain from pipeline A" and
             final_old["refined_explanation"] == "refine from pipeline A",
             "the job started on A finishes on A (A's answers for both stages)", final_old)
        th.join(30)
        st, evs = events[0] if events else (None, [])
        t.ok(st == 200 and evs and evs[-1][0] == "end" and
             evs[-1][1]["status"] == "completed",
             "an /events stream opened before the reload runs to the job's end",
             [(e, x["status"]) for e, x in evs])
        st, body = ka.get("/metrics")
        t.ok(metric(body.decode(), "vidgen_pipelines_loaded") == 1,
             "once that job ended, only B stays in memory", body[-600:])

        # A broken file is refused with its file:line; B stays.
        broken = text_b.replace('name = "B";', 'name = "B"\nvoices = ;')
        metrics = reload_with(d, ka, path, broken, lambda m: refused_count(m) == 1)
        t.ok(refused_count(metrics) == 1 and metric(metrics, "vidgen_pipeline_generation") == 2,
             "a broken file: refused (reloads_total{result=refused} 1), generation stays 2",
             metrics[-800:])
        line = broken.splitlines().index("voices = ;") + 1
        log = d.log()
        t.ok(re.search(r"reload refused.*%s:\d+:" % re.escape(path), log) is not None and
             ("%s:%d:" % (path, line) in log or "%s:%d:" % (path, line + 1) in log),
             "the log names the file and line at fault", log[-1000:])
        # One that parses but names a setting replay does not have.
        bad_setting = text_b.replace('fallback = "q";', 'fallback = "q"; speed = 3;', 1)
        write(path, bad_setting)
        d.proc.send_signal(signal.SIGHUP)
        want = "%s:%d:" % (path, [i for i, l in enumerate(bad_setting.splitlines(), 1)
                                  if "speed = 3" in l][0])
        end = time.time() + 10
        while time.time() < end and want not in d.log():
            time.sleep(0.05)
        t.ok(want in d.log() and "speed" in d.log(),
             "an unknown plugin setting is refused with its file:line (%s)" % want,
             d.log()[-800:])
        st, _, doc = d.create(PROMPT, model="claude-3-haiku", voice="Ruth")
        final, _ = d.wait_for(doc["video_id"], lambda x: x["status"] in ("completed", "failed"))
        t.ok(st == 202 and final and final["initial_explanation"] == "explain from pipeline B",
             "after the refusals, jobs still run on B", (st, final))
        st, _, cfg = d.json("GET", "/api/v1/config")
        t.ok(cfg["voices"] == ["Joanna", "Ruth"], "and the config is still B's", cfg)
        st, body = ka.get("/healthz")
        t.ok(st == 200 and ka.same(),
             "the keep-alive connection opened at start served every request on one socket")
    finally:
        if ka:
            ka.close()
        rc = d.stop()
    t.ok(rc == 0, "SIGTERM: the daemon exits 0", d.log()[-1500:])
    bad = [l for l in d.log().splitlines() if "Sanitizer" in l or "runtime error:" in l]
    t.ok(not bad, "no sanitizer report", "\n".join(bad[:20]))
    cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
