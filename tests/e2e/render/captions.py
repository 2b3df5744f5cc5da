#!/usr/bin/env python3
"""Checks a captions file (WebVTT or SRT) against its narration, reading it
with ffmpeg's own parser (an independent one): the cues hold the narration's
text in order, each at most two lines of about 42 characters, in the video's
timeline: each segment's first cue starts where the segment is heard, within
one frame, and no cue runs past the video's end.

  captions.py CAPTIONS NARRATION_JSON STARTS FPS VIDEO
STARTS: the render's segments.txt (a narration helper script), or
"laid" (the narration laid under the video from 0, one segment after the other).
Prints what is wrong and exits 1; exits 0 when all holds."""
import json
import re
import subprocess
import sys


def parse(path):
    """(start, end, text) of each cue, as ffmpeg reads the file."""
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "srt", "-"],
                         check=True, capture_output=True, text=True).stdout
    cues = []
    for block in re.split(r"\n\s*\n", out.strip()):
        lines = block.splitlines()
        m = re.match(r"(\d+):(\d+):(\d+),(\d+) --> (\d+):(\d+):(\d+),(\d+)", lines[1])
        t = [int(x) for x in m.groups()]
        cues.append((t[0] * 3600 + t[1] * 60 + t[2] + t[3] / 1000.0,
                     t[4] * 3600 + t[5] * 60 + t[6] + t[7] / 1000.0, "\n".join(lines[2:])))
    return cues


def main(path, narration, starts_src, fps, video):
    segs = json.load(open(narration))["segments"]
    frame = 1.0 / float(fps)
    if starts_src == "laid":
        starts, at = [], 0.0
        for s in segs:
            starts.append(at)
            at += s["duration"]
    else:
        starts = [None] * len(segs)
        for line in open(starts_src):
            f = line.split()
            if int(f[0]) < len(segs):  # a block past the narration has no cue
                starts[int(f[0])] = float(f[1])
    length = float(subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", video],
        check=True, capture_output=True, text=True).stdout)
    cues = parse(path)
    bad = []
    words = [w for s in segs for w in s["text"].split()]
    first_word = []
    n = 0
    for s in segs:
        first_word.append(n)
        n += len(s["text"].split())
    got = [w for c in cues for w in c[2].split()]
    if got != words:
        bad.append("the cues' words are not the narration's: %r" % got[:20])
    at = 0
    for i, (a, b, text) in enumerate(cues):
        lines = text.split("\n")
        if len(lines) > 2 or any(len(l) > 42 and " " in l for l in lines):
            bad.append("cue %d is not two lines of 42 characters at most: %r" % (i, text))
        if not b > a or (i and a < cues[i - 1][1] - 1e-6):
            bad.append("cue %d (%.3f-%.3f) is empty or overlaps the one before" % (i, a, b))
        if b > length + frame:
            bad.append("cue %d ends at %.3f, after the video (%.3f)" % (i, b, length))
        if at in first_word:
            k = first_word.index(at)
            if starts[k] is None or abs(a - starts[k]) > frame:
                bad.append("segment %d is heard at %s but its first cue starts at %.3f"
                           % (k, starts[k], a))
            else:
                print("segment %d: heard at %.3f, cue at %.3f" % (k, starts[k], a))
        at += len(text.split())
    for line in bad:
        print(line)
    return 1 if bad or not cues else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:6]))
