"""For tests/e2e/render_hash.sh: compares the key files keys.py wrote
(VARIANT.RUN.txt, lines "SCENE N MANIM VIDGEN") and prints one JSON object:
  merged    vidgen keys standing for several of Manim's (never allowed: a
            stale partial movie would be reused)
  split     Manim keys that vidgen splits (cache hits lost; none expected)
  changed   {variant: [plays whose Manim key differs from base's]}
  vchanged  the same by vidgen's keys
  stable    whether the runs of one variant gave the same vidgen keys
"""
import collections
import glob
import json
import os
import sys

runs = collections.defaultdict(list)
for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.txt"))):
    variant = os.path.basename(path).split(".")[0]
    rows = [line.split() for line in open(path) if len(line.split()) == 4]
    runs[variant].append({(r[0], int(r[1])): (r[2], r[3]) for r in rows})
m2v, v2m = collections.defaultdict(set), collections.defaultdict(set)
for tables in runs.values():
    for table in tables:
        for m, v in table.values():
            m2v[m].add(v)
            v2m[v].add(m)
base = runs["base"][0]
changed, vchanged = {}, {}
for variant, tables in runs.items():
    if variant == "base":
        continue
    t = tables[0]
    changed[variant] = sorted("%s %d" % k for k in t if k in base and t[k][0] != base[k][0])
    vchanged[variant] = sorted("%s %d" % k for k in t if k in base and t[k][1] != base[k][1])
print(json.dumps({
    "plays": sum(len(t) for ts in runs.values() for t in ts),
    "merged": sum(1 for ms in v2m.values() if len(ms) > 1),
    "split": sum(1 for vs in m2v.values() if len(vs) > 1),
    "changed": changed, "vchanged": vchanged,
    "stable": all(all(t == ts[0] for t in ts) for ts in runs.values()),
}))
