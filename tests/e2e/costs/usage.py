"""Usage and cost per job end to end (run by tests/e2e/costs_usage.sh): the
fakes report known token counts (Bedrock 10 in / 20 out; OpenAI 10 / 10 with
4 reasoning) and the job record, `vidgen run --json` and the daemon's status
show exactly those; the price table gives the expected sum; hostile usage
fields are left out without a crash; /metrics has the totals; `vidgen check`
names a bad price at its line. TAP on stdout."""

import json
import os
import re
import subprocess
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from costs_lib import (Fake, Tap, clean_env, counters, narration, run, vidgen_path,  # noqa: E402
                       workdir, HERE)
from serve_lib import Daemon  # noqa: E402

Q = "Explain the Pythagorean theorem with visual proof"


def expected_cost(out, doc):
    chars = sum(len(s["text"]) for s in narration(out, doc)["segments"])
    return (10 * 3.0 + 20 * 15.0 + 10 * 1.25 + 10 * 10.0 + chars * 16.0) / 1e6, chars


def check_counts(t, doc, where):
    e, r = counters(doc, "explain"), counters(doc, "refine")
    t.ok(e.get("input_tokens") == 10 and e.get("output_tokens") == 20 and
         e.get("requests") == 1 and "reasoning_tokens" not in e,
         "%s: explain (Bedrock) shows 10 input and 20 output tokens" % where, e)
    t.ok(r.get("input_tokens") == 10 and r.get("output_tokens") == 10 and
         r.get("reasoning_tokens") == 4,
         "%s: refine (OpenAI) shows 10 input, 10 output, 4 reasoning tokens" % where, r)


def run_and_record(t, fake, work):
    out = os.path.join(work, "jobs")
    env = clean_env(fake.env)
    rc, doc, err = run("usage.cfg", Q, out, env)
    t.ok(rc == 0 and doc and doc["status"] == "completed", "the job completes on the fakes",
         err[-800:])
    if rc != 0:
        return None, out
    check_counts(t, doc, "vidgen run --json")
    with open(os.path.join(out, doc["video_id"], "job.json")) as f:
        rec = json.load(f)
    t.ok(rec.get("usage") == doc["usage"], "job.json records the same usage object")
    with open(os.path.join(out, doc["video_id"], "stages", "explain", "result.json")) as f:
        res = json.load(f)
    t.ok(res["usage"]["input_tokens"] == 10 and res["usage"]["output_tokens"] == 20 and
         res["usage"]["attempts"] == 1, "stages/explain/result.json keeps its counters",
         res)
    want, chars = expected_cost(out, doc)
    n = counters(doc, "narrate")
    t.ok(n.get("characters") == chars and n.get("requests") == len(
        narration(out, doc)["segments"]), "narrate shows the %d characters Polly billed" % chars,
        n)
    cost = doc["usage"]["cost"]
    t.ok(cost["currency"] == "USD" and abs(cost["total"] - want) < 1e-9,
         "the price table gives the expected sum, %.7f USD" % want, cost)
    tot = doc["usage"]["totals"]
    t.ok(tot["input_tokens"] == 20 and tot["output_tokens"] == 30 and
         tot["reasoning_tokens"] == 4, "the totals add the stages", tot)
    t.ok(re.search(r"usage: 20 input \+ 30 output tokens \(4 reasoning\), %d characters "
                   r"narrated .*estimated cost %.4f USD" % (chars, want), err) is not None,
         "vidgen run's closing summary gives tokens, characters and the cost", err[-500:])
    return doc, out


def hostile(t, fake, work):
    out = os.path.join(work, "hostile")
    env = clean_env(fake.env)
    fake.script({"service": "bedrock", "usage": {"inputTokens": -5, "outputTokens": "many"}})
    fake.script({"service": "openai", "usage": {"prompt_tokens": 1e30, "completion_tokens": 2.5,
                                                "completion_tokens_details": "lots"}})
    rc, doc, err = run("usage.cfg", Q + " (hostile)", out, env)
    e, r = (counters(doc, "explain"), counters(doc, "refine")) if doc else ({}, {})
    t.ok(rc == 0 and e.get("requests") == 1 and "input_tokens" not in e and
         "output_tokens" not in e and "input_tokens" not in r and "output_tokens" not in r
         and "reasoning_tokens" not in r,
         "negative, string, huge and fractional usage fields are left out; the job completes",
         err[-600:])
    t.ok("ignored input_tokens" in err and "ignored output_tokens" in err,
         "and each is named in a warning", err[-600:])
    fake.script({"service": "bedrock", "usage": ["not", "an", "object"]})
    fake.script({"service": "openai", "usage": None})
    fake.script({"service": "openai", "usage": "nope"})
    rc, doc, err = run("usage.cfg", Q + " (no usage)", out, env)
    t.ok(rc == 0 and "input_tokens" not in counters(doc, "explain"),
         "a usage of the wrong type is no crash either", err[-400:])
    fake.script({"service": "bedrock", "usage": None})
    fake.script({"service": "openai", "usage": None})


def served(t, fake, work, want_doc):
    env = clean_env(fake.env)
    env["VIDGEN_PLUGIN_PATH"] = os.environ.get("VIDGEN_PLUGIN_PATH", "")
    os.makedirs(work, exist_ok=True)
    d = Daemon(work, env=env, pipeline=os.path.join(HERE, "usage.cfg")).start()
    try:
        st, _, doc = d.create(Q, voice="Joanna")
        vid = doc["video_id"] if doc else None
        final, _ = d.wait_for(vid, lambda x: x["status"] in ("completed", "failed"), timeout=60)
        t.ok(final and final["status"] == "completed", "the daemon runs the job", d.log()[-600:])
        if not final:
            return
        check_counts(t, final, "GET /status")
        keys = list(final)
        t.ok(keys.index("usage") == keys.index("refined_explanation") + 1 ==
             len(keys) - 5, "usage comes after the seed's fields (then the media fields)", keys)
        with open(os.path.join(d.data_dir, vid, "job.json")) as f:
            rec = json.load(f)
        t.ok(rec["usage"] == final["usage"], "the status shows the job record's usage")
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % d.port) as r:
            m = r.read().decode()
        t.ok('vidgen_usage_total{counter="input_tokens"} 20.000' in m and
             'vidgen_usage_total{counter="reasoning_tokens"} 4.000' in m,
             "/metrics totals the tokens", m[-1500:])
        cost = final["usage"]["cost"]["total"]
        mc = re.search(r'vidgen_cost_total\{currency="USD"\} ([0-9.]+)', m)
        t.ok(mc and abs(float(mc.group(1)) - cost) < 1e-9,
             "/metrics totals the estimated cost", m[-800:])
        # The job narrated what the first run narrated (same fake answers)
        # from the daemon's own cache: a second job hits it.
        t.ok(re.search(r"vidgen_cache_misses_total [1-9]", m) and
             "vidgen_cache_hits_total" in m and re.search(r"vidgen_cache_bytes [1-9]", m),
             "/metrics has the cache's hits, misses and bytes")
        st, _, doc = d.create(Q, voice="Joanna")
        d.wait_for(doc["video_id"], lambda x: x["status"] in ("completed", "failed"), timeout=60)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % d.port) as r:
            m2 = r.read().decode()
        hits = int(re.search(r"vidgen_cache_hits_total (\d+)", m2).group(1))
        t.ok(hits >= 1, "a second job's sentences are cache hits in /metrics (%d)" % hits)
    finally:
        d.stop()


def check_errors(t, fake):
    p = subprocess.run([vidgen_path(), "check", os.path.join(HERE, "bad-prices.cfg")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    msg = p.stdout.decode()
    t.ok(p.returncode != 0 and "bad-prices.cfg:9:" in msg and "output_tokes" in msg,
         "vidgen check names the misspelt price counter at its file:line", msg)
    p = subprocess.run([vidgen_path(), "check", os.path.join(HERE, "usage.cfg")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       env=clean_env(fake.env))
    t.ok(p.returncode == 0, "vidgen check accepts the price table", p.stdout.decode())


def main():
    t = Tap()
    work = workdir()
    fake = Fake(work)
    try:
        check_errors(t, fake)
        doc, _ = run_and_record(t, fake, work)
        hostile(t, fake, work)
        served(t, fake, os.path.join(work, "serve"), doc)
    finally:
        fake.stop()
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
