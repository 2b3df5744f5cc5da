"""The narration cache end to end (run by tests/e2e/costs_cache.sh): a second
identical job runs espeak-ng zero times and calls the Polly fake zero times;
two jobs run at once on shared sentences both finish with whole files; a
1 MB cap holds while sentences keep coming. TAP on stdout."""

import filecmp
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from costs_lib import (Fake, Tap, clean_env, counters, counting_espeak, narration,  # noqa: E402
                       run, stage_dir, start, tree_bytes, vidgen_path, wav_whole, workdir, HERE)

TEXT = ("The sun is a star. Light from it reaches us in eight minutes. "
        "Plants turn that light into sugar. Animals eat the plants. "
        "That is how energy moves through life.")


def espeak_cold_warm(t, work):
    prog, runs = counting_espeak(work)
    env = clean_env({"ESPEAK_PROGRAM": prog})
    out = os.path.join(work, "jobs")
    rc, cold, err = run("espeak.cfg", TEXT, out, env)
    n = len(narration(out, cold)["segments"]) if rc == 0 else 0
    t.ok(rc == 0 and n == 5 and runs() == 5, "cold: 5 sentences, 5 espeak-ng runs",
         "rc %d runs %d\n%s" % (rc, runs(), err))
    t.ok(counters(cold, "narrate").get("cache_misses") == 5 and
         counters(cold, "narrate").get("requests") == 5 and
         "cache_hits" not in counters(cold, "narrate"),
         "cold: the job's usage counts 5 misses and 5 TTS requests", cold and cold.get("usage"))
    rc, warm, err = run("espeak.cfg", TEXT, out, env)
    t.ok(rc == 0 and runs() == 5, "warm: an identical job runs espeak-ng zero times",
         "rc %d runs %d\n%s" % (rc, runs(), err))
    wc = counters(warm, "narrate")
    t.ok(wc.get("cache_hits") == 5 and "requests" not in wc and "characters" not in wc,
         "warm: 5 cache hits, no request and no characters billed", wc)
    same = all(filecmp.cmp(os.path.join(stage_dir(out, cold), "seg%03d.wav" % i),
                           os.path.join(stage_dir(out, warm), "seg%03d.wav" % i), shallow=False)
               for i in range(5))
    t.ok(same and narration(out, cold)["segments"] == narration(out, warm)["segments"],
         "warm: the same audio files and narration.json as the cold job")
    t.ok("5 of 5 sentences from the cache" in err, "vidgen run's summary says so",
         err[-600:])
    # A new sentence among known ones: only it is synthesized.
    rc, mixed, err = run("espeak.cfg", TEXT + " Only this sentence is new.", out, env)
    t.ok(rc == 0 and runs() == 6 and counters(mixed, "narrate").get("cache_hits") == 5,
         "a job repeating 5 sentences and adding one runs espeak-ng once", runs())
    # Another voice is another entry.
    rc, other, err = run("espeak.cfg", TEXT, out, env, "-v", "Matthew")
    t.ok(rc == 0 and runs() == 11, "another voice synthesizes again (a key part)", runs())
    return env


def polly_cold_warm(t, work):
    fake = Fake(work)
    try:
        env = clean_env(fake.env)
        out = os.path.join(work, "polly-jobs")
        rc, cold, err = run("polly.cfg", TEXT, out, env)
        t.ok(rc == 0 and fake.calls("polly") == 5, "Polly cold: 5 SynthesizeSpeech calls",
             "rc %d calls %d\n%s" % (rc, fake.calls("polly"), err))
        billed = sum(len(s["text"]) for s in narration(out, cold)["segments"]) if rc == 0 else -1
        t.ok(counters(cold, "narrate").get("characters") == billed,
             "Polly cold: the characters Polly billed (%d) are in the usage" % billed,
             counters(cold, "narrate"))
        rc, warm, err = run("polly.cfg", TEXT, out, env)
        t.ok(rc == 0 and fake.calls("polly") == 5,
             "Polly warm: an identical job makes zero calls to the Polly fake",
             "rc %d calls %d\n%s" % (rc, fake.calls("polly"), err))
        t.ok(counters(warm, "narrate").get("cache_hits") == 5, "Polly warm: 5 cache hits",
             counters(warm, "narrate"))
        rc, _, err = run("polly.cfg", TEXT, out, env, "-v", "Matthew")
        t.ok(rc == 0 and fake.calls("polly") == 10, "Polly: another voice calls Polly again",
             fake.calls("polly"))
    finally:
        fake.stop()


def concurrent_pair(t, work):
    prog, runs = counting_espeak(os.path.join(work, "pair"))
    env = clean_env({"ESPEAK_PROGRAM": prog})
    out = os.path.join(work, "pair-jobs")
    shared = " ".join("Shared sentence number %d is spoken by both jobs." % i for i in range(12))
    qs = [shared + " The first job ends here.", "The second job starts here. " + shared]
    procs = [start([vidgen_path(), "run", "-p", os.path.join(HERE, "espeak.cfg"), "-o", out,
                    "--json", q], env) for q in qs]
    res = [p.communicate() for p in procs]
    ok = all(p.returncode == 0 for p in procs)
    import json
    docs = [json.loads(r[0].decode()) if ok else None for r in res]
    whole = ok
    for d in docs if ok else []:
        sd = stage_dir(out, d)
        for s in narration(out, d)["segments"]:
            whole = whole and wav_whole(os.path.join(sd, s["file"]))
    t.ok(ok and whole, "two jobs at once on 12 shared sentences: every WAV of both is whole",
         "\n".join(r[1].decode(errors="replace")[-400:] for r in res))
    cache = os.path.join(out, "cache")
    entries = [os.path.join(r, n) for r, _, ns in os.walk(cache) for n in ns]
    t.ok(entries and all(wav_whole(e) for e in entries) and
         not any(".tmp-" in e for e in entries),
         "the shared cache holds only whole files (%d), no temporary one left" % len(entries))
    hits = sum(counters(d, "narrate").get("cache_hits", 0) for d in docs) if ok else -1
    t.ok(ok and runs() + hits == 26, "every sentence was either synthesized or a hit "
         "(%d runs + %d hits = 26)" % (runs(), hits))


def eviction(t, work):
    prog, runs = counting_espeak(os.path.join(work, "small"))
    env = clean_env({"ESPEAK_PROGRAM": prog})
    out = os.path.join(work, "small-jobs")
    cache = os.path.join(out, "cache")
    ok = True
    peak = 0
    for k in range(3):
        text = " ".join("Batch %d brings sentence %d to the small cache." % (k, i)
                        for i in range(10))
        rc, _, err = run("small-cache.cfg", text, out, env)
        ok = ok and rc == 0
        peak = max(peak, tree_bytes(cache)[0])
    size, files = tree_bytes(cache)
    t.ok(ok and 0 < peak <= 1024 * 1024, "30 sentences through a 1 MB cache: it never holds "
         "more than 1 MB (largest %d bytes, %d files now)" % (peak, files), err[-400:])
    first = " ".join("Batch 0 brings sentence %d to the small cache." % i for i in range(10))
    before = runs()
    rc, doc, _ = run("small-cache.cfg", first, out, env)
    t.ok(rc == 0 and runs() - before > 0 and files < 30,
         "the oldest batch was evicted: repeating it runs espeak-ng again (%d runs)"
         % (runs() - before))


def main():
    t = Tap()
    work = workdir()
    if not os.access("/usr/bin/espeak-ng", os.X_OK):
        t.skip("espeak-ng is not installed (scripts/install-deps.sh)")
        return t.done()
    espeak_cold_warm(t, work)
    polly_cold_warm(t, work)
    concurrent_pair(t, work)
    eviction(t, work)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
