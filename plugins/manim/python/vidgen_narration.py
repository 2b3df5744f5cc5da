"""vidgen's narration helper for Manim scripts (API: doc/narration.md).

    with narration(self, 0) as seg:          # starts segment 0's audio now
        self.play(Write(title), run_time=seg.duration * 0.4)
        self.play(Create(tri), run_time=seg.remaining)
    # leaving the block waits until segment 0's audio has finished

The narration file comes from the VIDGEN_NARRATION environment variable (set
by vidgen's manim plugin). Without it, segments() is empty and every segment
lasts 1.0 s, so a script also renders on its own for testing.
"""
import json
import math
import os

__all__ = ["narration", "segments", "Segment"]

_MIN_REMAINING = 0.1
_cache = None
# Set once a segment's audio went into the scene: the plugin then keeps the
# scene's own soundtrack instead of laying the whole narration under it.
used = False
# Indices of the segments whose block has finished, and who to tell (the
# render wrapper's progress report; None when the script runs on its own).
done = set()
on_segment_done = None
# The render wrapper's segment guard (doc/render.md): told when a block
# starts, and asked what to do when one raises (None on its own).
guard = None


def _load():
    global _cache
    if _cache is not None:
        return _cache
    _cache = {"segments": [], "dir": ""}
    path = os.environ.get("VIDGEN_NARRATION")
    if not path:
        return _cache
    with open(path, "r", encoding="utf-8") as f:
        data = json.load(f)
    _cache["dir"] = os.path.dirname(os.path.abspath(path))
    segs = data.get("segments") if isinstance(data, dict) else None
    if isinstance(segs, list):
        _cache["segments"] = [s for s in segs if isinstance(s, dict)]
    return _cache


def _frame_time():
    try:
        from manim import config
        return 1.0 / float(config.frame_rate)
    except Exception:  # no manim config: standalone use
        return 0.0


def _scene_time(scene):
    t = getattr(scene, "time", None)
    if isinstance(t, (int, float)):
        return float(t)
    return float(scene.renderer.time)


class Segment:
    """One narrated sentence: index, text, duration (s), remaining (s)."""

    def __init__(self, index, text="", duration=0.0, file=None):
        self.index = index
        self.text = text
        self.duration = float(duration)
        self.file = file
        self._scene = None
        self._start = None

    @property
    def remaining(self):
        """Seconds of this segment's audio not yet covered (at least 0.1)."""
        if self._scene is None or self._start is None:
            left = self.duration
        else:
            left = self.duration - (_scene_time(self._scene) - self._start)
        return max(_MIN_REMAINING, left)

    def __repr__(self):
        return "Segment(%d, %.2fs, %r)" % (self.index, self.duration, self.text)


def _segment(index):
    data = _load()
    if not os.environ.get("VIDGEN_NARRATION"):
        return Segment(index, "", 1.0)
    segs = data["segments"]
    if not isinstance(index, int) or index < 0 or index >= len(segs):
        return Segment(index, "", 0.0)
    s = segs[index]
    dur = s.get("duration", 0.0)
    if not isinstance(dur, (int, float)) or not math.isfinite(dur) or dur < 0:
        dur = 0.0
    name = s.get("file")
    path = None
    if isinstance(name, str) and name and "/" not in name and name not in (".", ".."):
        path = os.path.join(data["dir"], name)
    text = s.get("text") if isinstance(s.get("text"), str) else ""
    return Segment(index, text, dur, path)


def segments():
    """All narration segments, in order (empty without a narration)."""
    return [_segment(i) for i in range(len(_load()["segments"]))]


class narration:
    """Context manager: plays segment `index` from the current scene time and,
    on leaving, waits until its audio has finished."""

    def __init__(self, scene, index):
        self.scene = scene
        self.seg = _segment(index)

    def __enter__(self):
        global used
        seg = self.seg
        seg._scene = self.scene
        seg._start = _scene_time(self.scene)
        if seg.file and seg.duration > 0 and os.path.exists(seg.file):
            self.scene.add_sound(seg.file)
            used = True
        if guard is not None:
            guard.enter(self.scene, seg)
        return seg

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            # The guard may replace the failed block with a fallback card
            # (it then says so and the script goes on with the next block).
            handled = guard is not None and guard.failed(self.scene, self.seg, exc)
            if handled:
                done.add(self.seg.index)
                if on_segment_done is not None:
                    on_segment_done()
            return handled
        if guard is not None:
            guard.leave(self.scene, self.seg)
        left = self.seg.duration - (_scene_time(self.scene) - self.seg._start)
        if left > 1e-3:
            # One frame more: frames are whole, and a video that ends a
            # fraction of a frame before its audio would need re-encoding.
            self.scene.wait(left + _frame_time())
        done.add(self.seg.index)
        if on_segment_done is not None:
            on_segment_done()
        return False
