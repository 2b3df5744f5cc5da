"""Renders one Manim scene for vidgen, inside the sandbox (doc/render.md).

    python vidgen_render.py SCRIPT SCENE QUALITY OUT.mp4 ERRORS.txt [NAME=VALUE ...]
        layout=FILE      the layout report (text off screen, texts on top of
                         each other), checked after each play()/wait()
        progress=FILE    a progress line appended after each play()/wait()
        segments=MODE    an exception inside a `with narration(self, i)`
                         block: fail (the render fails, naming the block) or
                         fallback (a card replaces the block, the rest renders;
                         segments.txt and segment_errors.txt say what fell back)
        media=DIR        Manim's media folder, kept across attempts: caching
                         on (partial movies reused by their hash); stats.txt
                         says how many animations were drawn and how many
                         came from the cache
        jobs=K           render in K slices of the animations at once (forked
                         children of this one process; 0 = one per CPU); 1 =
                         one process, as Manim does
        stall=SECONDS    stop the render when no frame is drawn and no play()
                         ends for that long: every thread's stack goes to
                         stall.txt, segment.txt says which block it was in

Does what `manim render` does for one scene, but in-process so that a
failure is written to ERRORS.txt as a short traceback naming the script's
own lines (what the repair model needs), not a terminal-sized rich dump.
"""
import glob
import importlib.util
import os
import sys
import traceback

QUALITIES = {"480p15": "low_quality", "720p30": "medium_quality",
             "1080p60": "high_quality"}
MAX_FRAMES = 6
MAX_FILES_CACHED = 100000  # Manim prunes its cache to this many partial movies
MAX_PROBLEMS = 40
PROGRESS_S = 0.1       # at most this often a progress line while drawing
EDGE_TOLERANCE = 0.1   # scene units a mobject may stick out of the frame
OVERLAP_MIN = 0.15     # share of the smaller box that counts as overlapping


def script_line(script, depth):
    """The line of the innermost frame of the script on the stack, from
    `depth` frames above this function's caller."""
    f = sys._getframe(depth)
    while f is not None:
        if f.f_code.co_filename == script:
            return f.f_lineno
        f = f.f_back
    return 0


def trimmed_traceback(exc, script):
    """The exception and the frames in the user's script (innermost last),
    plus the innermost frame wherever it is, so the message says where the
    Manim API refused the call."""
    frames = traceback.extract_tb(exc.__traceback__)
    mine = [f for f in frames if os.path.abspath(f.filename) == script]
    out = ["Traceback (script frames, innermost last):"]
    for f in mine[-MAX_FRAMES:]:
        out.append('  script line %d, in %s\n    %s' % (f.lineno, f.name,
                                                        (f.line or "").strip()))
    if frames and (not mine or frames[-1] is not mine[-1]):
        f = frames[-1]
        out.append("  (raised in %s:%d, in %s)" % (os.path.basename(f.filename),
                                                   f.lineno, f.name))
    msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    if len(msg) > 1500:
        msg = msg[:1500] + " ..."
    out.append(msg)
    return "\n".join(out) + "\n"


class LayoutCheck:
    """Looks at what is on screen after each play()/wait() (never during one:
    a Transform's intermediate frames may overlap on purpose) and records
    each problem once, with the script line of the call that produced it."""

    def __init__(self, scene, script):
        import numpy
        from manim import (DecimalNumber, MarkupText, Paragraph,
                           SingleStringMathTex, Text)
        self.np = numpy
        self.scene = scene
        self.script = script
        self.text_types = (Text, MarkupText, Paragraph, SingleStringMathTex,
                           DecimalNumber)
        self.problems = []
        self.seen = set()
        self.keep = []  # reported mobjects stay alive: their ids stay unique
        self.enabled = "ThreeD" not in type(scene.camera).__name__

    def script_line(self):
        return script_line(self.script, 3)

    def visible(self, m):
        """Whether the mobject itself (not its family) draws anything."""
        try:
            if len(m.points) == 0:
                return False
            fill = getattr(m, "fill_rgbas", None)
            stroke = getattr(m, "stroke_rgbas", None)
            if fill is None and stroke is None:
                return True  # not a VMobject: images and the like
            if fill is not None and len(fill) and float(fill[:, 3].max()) > 0.01:
                return True
            return (stroke is not None and len(stroke) and
                    float(getattr(m, "stroke_width", 1) or 0) > 0 and
                    float(stroke[:, 3].max()) > 0.01)
        except Exception:  # an exotic mobject: count it as drawn
            return True

    def box(self, mob, own_only=False):
        """(x0, y0, x1, y1) of what the mobject draws, or None."""
        parts = [mob] if own_only else mob.get_family()
        pts = [m.points for m in parts if self.visible(m)]
        if not pts:
            return None
        a = self.np.concatenate(pts) if len(pts) > 1 else pts[0]
        lo, hi = a.min(axis=0), a.max(axis=0)
        return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))

    def name(self, mob):
        kind = type(mob).__name__
        for attr in ("tex_string", "original_text", "text"):
            v = getattr(mob, attr, None)
            if isinstance(v, str) and v.strip():
                v = " ".join(v.split()).replace('"', "'")
                if len(v) > 40:
                    v = v[:37] + "..."
                return '%s "%s"' % (kind, v)
        if isinstance(mob, self.text_types[-1]):
            try:
                return "%s %g" % (kind, mob.get_value())
            except Exception:
                pass
        return kind

    def report(self, key, line, text, *mobs):
        if key in self.seen or len(self.problems) >= MAX_PROBLEMS:
            return
        self.seen.add(key)
        self.keep.extend(mobs)
        self.problems.append("line %d: %s" % (line, text))

    def frame(self):
        from manim import config
        cam = self.scene.camera
        try:
            c = cam.frame_center
            w, h = float(cam.frame_width), float(cam.frame_height)
            return (float(c[0]) - w / 2, float(c[1]) - h / 2,
                    float(c[0]) + w / 2, float(c[1]) + h / 2)
        except Exception:
            w, h = float(config.frame_width), float(config.frame_height)
            return (-w / 2, -h / 2, w / 2, h / 2)

    def big(self, box, fw, fh):
        """Backgrounds, planes and full-width rules are meant to fill (or
        overfill) the frame."""
        return box is not None and (box[2] - box[0] >= 0.98 * fw or
                                    box[3] - box[1] >= 0.98 * fh)

    def collect(self, fw, fh):
        """The outermost text-like mobjects, and the other mobjects that
        draw something (each with its own points only; none from inside a
        top-level mobject that fills the frame, such as a dashed rule)."""
        texts, shapes, seen = [], [], set()
        stack = []
        for m in reversed(self.scene.mobjects):
            filler = (not isinstance(m, self.text_types) and
                      self.big(self.box(m), fw, fh))
            stack.append((m, filler))
        while stack:
            m, filler = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            if isinstance(m, self.text_types):
                texts.append(m)
                continue
            if len(m.points) and not filler:
                shapes.append(m)
            stack.extend((s, filler) for s in reversed(m.submobjects))
        return texts, shapes

    def off_screen(self, line, mob, box, fr, text=True):
        x0, y0, x1, y1 = box
        fx0, fy0, fx1, fy1 = fr
        t = EDGE_TOLERANCE
        # (how far out, edge, the box's far side, its near side, the edge)
        out = [(x1 - fx1, "right", "x=%.1f" % x1, "x=%.1f" % x0, fx1),
               (fx0 - x0, "left", "x=%.1f" % x0, "x=%.1f" % x1, fx0),
               (y1 - fy1, "top", "y=%.1f" % y1, "y=%.1f" % y0, fy1),
               (fy0 - y0, "bottom", "y=%.1f" % y0, "y=%.1f" % y1, fy0)]
        excess, edge, far, near, lim = max(out)
        if excess <= t:
            return
        entirely = x0 > fx1 or x1 < fx0 or y0 > fy1 or y1 < fy0
        if entirely and not text:
            return  # a shape moved out of view (slid away): nothing shows
        where = near if entirely else far
        self.report(("off", id(mob)), line, "%s %s the %s edge (%s, frame edge %.1f)"
                    % (self.name(mob), "is entirely past" if entirely
                       else "extends past", edge, where, lim), mob)

    def __call__(self):
        if not self.enabled:
            return
        line = self.script_line()
        fr = self.frame()
        fw, fh = fr[2] - fr[0], fr[3] - fr[1]
        texts, shapes = self.collect(fw, fh)
        boxes = []
        for m in texts:
            b = self.box(m)
            if b is None:
                continue
            boxes.append((m, b))
            self.off_screen(line, m, b, fr)
        for m in shapes:
            b = self.box(m, own_only=True)
            if b is None or self.big(b, fw, fh):
                continue
            self.off_screen(line, m, b, fr, text=False)
        # Sorted by left edge, each box is compared only with the boxes
        # that start before it ends: scenes with hundreds of numbers stay fast.
        boxes.sort(key=lambda mb: mb[1][0])
        for i in range(len(boxes)):
            ma, (ax0, ay0, ax1, ay1) = boxes[i]
            for j in range(i + 1, len(boxes)):
                mb, (bx0, by0, bx1, by1) = boxes[j]
                if bx0 >= ax1:
                    break
                w = min(ax1, bx1) - max(ax0, bx0)
                h = min(ay1, by1) - max(ay0, by0)
                if w <= 0 or h <= 0:
                    continue
                small = min(max((ax1 - ax0) * (ay1 - ay0), 1e-4),
                            max((bx1 - bx0) * (by1 - by0), 1e-4))
                share = min(1.0, w * h / small)
                if share < OVERLAP_MIN:
                    continue
                self.report(("overlap", frozenset((id(ma), id(mb)))), line,
                            "%s overlaps %s (%d%% of the smaller)"
                            % (self.name(ma), self.name(mb), round(share * 100)),
                            ma, mb)


class Progress:
    """Appends `p ANIMATIONS SEGMENTS_DONE SCENE_SECONDS` lines for the
    plugin, which reads the last one while the render runs."""

    def __init__(self, scene, path):
        import time
        self.scene = scene
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.animations = 0
        self.clock = time.monotonic
        self.last = 0.0

    def tick(self):
        """A frame was drawn: a line at most every PROGRESS_S, so a long
        animation shows progress while it is drawn, not only at its end."""
        now = self.clock()
        if now - self.last >= PROGRESS_S:
            self()

    def __call__(self):
        self.last = self.clock()
        import vidgen_narration
        try:
            t = float(vidgen_narration._scene_time(self.scene))
        except Exception:
            t = 0.0
        line = "p %d %d %.2f\n" % (self.animations, len(vidgen_narration.done), t)
        try:
            os.write(self.fd, line.encode())
        except OSError:  # progress is a nicety; the render goes on
            pass


class PlayState:
    """What one play() changes in the renderer before it finishes: an
    exception half-way leaves an open partial movie and a scene clock moved
    by the frames already drawn. Restoring them lets the video go on (with
    a fallback card) in step with its sound."""

    def __init__(self, scene):
        r = getattr(scene, "renderer", None)
        fw = getattr(r, "file_writer", None)
        self.ok = r is not None and fw is not None
        if not self.ok:
            return
        self.r, self.fw = r, fw
        self.time = r.time
        self.plays = r.num_plays
        self.hashes = len(getattr(r, "animations_hashes", []))
        self.files = len(getattr(fw, "partial_movie_files", []))
        sec = fw.sections[-1] if getattr(fw, "sections", None) else None
        self.section = sec
        self.sec_files = len(sec.partial_movie_files) if sec is not None else 0

    def restore(self):
        if not self.ok or self.r.num_plays != self.plays:
            return
        job = getattr(self.fw, "_current_encode_job", None)
        if job is not None:  # drop the half-written partial movie
            job.abort()
            self.fw._current_encode_job = None
            job.thread.join()
        del self.fw.partial_movie_files[self.files:]
        if self.section is not None:
            del self.section.partial_movie_files[self.sec_files:]
        if hasattr(self.r, "animations_hashes"):
            del self.r.animations_hashes[self.hashes:]
        self.r.time = self.time
        self.r.skip_animations = self.r._original_skipping_status


class Watchdog:
    """Stops a render that makes no progress: faulthandler's own thread
    (it needs no GIL, so it fires inside a C loop too) dumps every thread's
    stack to stall.txt and ends the process when it is not re-armed within
    `seconds`. Each frame drawn and each play() finished re-arms it (at
    most once a second: re-arming starts a thread)."""

    def __init__(self, seconds, path):
        import faulthandler
        import time
        self.fh, self.clock = faulthandler, time.monotonic
        self.seconds = seconds
        self.file = open(path, "w", encoding="utf-8")
        self.last = None
        self.arm()

    def arm(self):
        now = self.clock()
        if self.last is not None and now - self.last < 1.0:
            return
        self.last = now
        self.fh.dump_traceback_later(self.seconds, exit=True, file=self.file)

    def stop(self):
        self.fh.cancel_dump_traceback_later()
        self.last = None


def hook_renderer(scene):
    """On each frame: re-arms the watchdog and reports progress (at most
    every PROGRESS_S); disarms the watchdog for the final join of the
    partial movies (no frames are drawn then). Both come from
    scene.vidgen_hook, which a slice's child fills with its own."""
    r = getattr(scene, "renderer", None)
    if r is None:
        return
    state = scene.vidgen_hook
    add_frame = r.add_frame

    def frame(*args, **kwargs):
        if state["dog"] is not None:
            state["dog"].arm()
        if state["prog"] is not None:
            state["prog"].tick()
        return add_frame(*args, **kwargs)
    r.add_frame = frame
    disarm_at_finish(scene)


def disarm_at_finish(scene):
    fw = getattr(scene.renderer, "file_writer", None)
    if fw is None or not hasattr(fw, "finish"):
        return
    state, finish = scene.vidgen_hook, fw.finish

    def finished(*args, **kwargs):
        if state["dog"] is not None:
            state["dog"].stop()
        return finish(*args, **kwargs)
    fw.finish = finished


def frame_clock(scene, start):
    """After a play() that was skipped (a slice's first pass, the animations
    before a slice) or taken from the cache, puts the scene clock where
    drawing its frames would have: Manim adds the exact run time then, but
    whole frames when it draws, and the narration helper's waits (so the
    number of animations, the sounds' offsets and the cache's hashes after
    it) follow the clock."""
    r = scene.renderer
    dt = 1.0 / r.camera.frame_rate
    duration = float(scene.duration)
    if scene.is_current_animation_frozen_frame():
        r.time = start + int(duration / dt) * dt  # freeze_current_frame
        return
    t = start
    for _ in range(len(__import__("numpy").arange(0, duration, dt))):
        t += dt  # one add_frame per frame
    r.time = t


def hook_scene(scene, script, layout, progress, dog=None):
    """Wraps the scene's play() (wait() calls it too) to run the layout
    check and the progress report after each animation, to re-arm the
    watchdog, and to undo what a play() that raised half-way left behind."""
    # Neither may ever break a render: whatever goes wrong in them (a
    # Manim version without these classes, an exotic mobject) turns them off.
    try:
        check = LayoutCheck(scene, script) if layout else None
    except Exception:
        check = None
    try:
        prog = Progress(scene, progress) if progress else None
    except Exception:
        prog = None
    inner = scene.play
    depth = [0]
    # A slice's child swaps these for its own (render_sliced).
    state = scene.vidgen_hook = {"check": check, "prog": prog, "dog": dog}
    counts = scene.vidgen_counts = {"rendered": 0, "cached": 0}
    durations = scene.vidgen_durations = []

    def play(*args, **kwargs):
        before = None
        if depth[0] == 0:
            try:
                before = PlayState(scene)
            except Exception:
                before = None
        depth[0] += 1
        try:
            inner(*args, **kwargs)
        except BaseException:
            if before is not None:
                try:
                    before.restore()
                except Exception:
                    pass
            raise
        finally:
            depth[0] -= 1
        if depth[0] != 0:
            return
        if state["dog"] is not None:
            state["dog"].arm()
        durations.append(float(getattr(scene, "duration", 0.0) or 0.0))
        r = getattr(scene, "renderer", None)
        # A play() served from the cache leaves the renderer skipping.
        if r is not None and r.skip_animations and not r._original_skipping_status:
            counts["cached"] += 1
        else:
            counts["rendered"] += 1
        if r is not None and r.skip_animations and before is not None and before.ok:
            try:
                frame_clock(scene, before.time)
            except Exception:
                pass
        if state["check"] is not None:
            try:
                state["check"]()
            except Exception:
                state["check"] = None
        if state["prog"] is not None:
            state["prog"].animations += 1
            state["prog"]()
    scene.play = play
    hook_renderer(scene)
    if prog is not None:
        import vidgen_narration
        vidgen_narration.on_segment_done = prog
    return check


def narration_blocks(script):
    """(first, last) script lines of each `with narration(...)` block."""
    import ast
    try:
        with open(script, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return []
    blocks = []
    for node in ast.walk(tree):
        if not isinstance(node, (ast.With, ast.AsyncWith)):
            continue
        for item in node.items:
            call = item.context_expr
            f = call.func if isinstance(call, ast.Call) else None
            name = f.id if isinstance(f, ast.Name) else \
                f.attr if isinstance(f, ast.Attribute) else None
            if name == "narration":
                blocks.append((node.lineno, node.end_lineno or node.lineno))
                break
    return blocks


class SegmentGuard:
    """The narration segment (one `with narration(self, i)` block) as the
    unit of failure. An exception inside a block is recorded with the
    block's lines and code; in fallback mode the block is replaced by a
    plain card with the segment's text over its narration, from a cleared
    screen, and the script goes on with the next block. An exception
    outside the blocks, once one has started, ends construct(): the
    segments not yet reached get cards too."""

    MAX_CODE_LINES = 30

    def __init__(self, script, mode, lines, where=None):
        self.where = where       # file naming the block being rendered
        self.script = script
        self.mode = mode
        self.lines = lines
        self.blocks = narration_blocks(script)
        self.current = None      # (index, first, last) of the open block
        self.started = False
        self.failures = []       # report entries, in order
        self.record = {}         # index -> [start, end, status]
        self.fatal_prefix = ""   # fail mode: names the failing block
        self.offset = 0.0        # video seconds before this scene (several)
        self.touched = None      # a slice's child: the segments it drew
        import time
        self.clock = time.monotonic

    def script_line(self):
        return script_line(self.script, 3)

    def block_of(self, line):
        best = None
        for a, b in self.blocks:
            if a <= line <= b and (best is None or a >= best[0]):
                best = (a, b)
        return best or (line, line)

    def enter(self, scene, seg):
        a, b = self.block_of(self.script_line())
        self.current = (seg.index, a, b)
        self.started = True
        self.say("segment %d" % seg.index)
        self.record[seg.index] = [self.now(scene), None, "rendered", self.clock()]
        if self.touched is not None:
            self.touched.add(seg.index)

    def leave(self, scene, seg):
        if seg.index in self.record:
            self.record[seg.index][1] = self.now(scene)
            self.record[seg.index][3] = self.clock() - self.record[seg.index][3]
        self.current = None
        self.say("after %d" % seg.index)

    def now(self, scene):
        """Seconds into the video (the scenes before this one included)."""
        import vidgen_narration
        return self.offset + vidgen_narration._scene_time(scene)

    def mark(self):
        """What to roll back to when a scene is rendered again."""
        import vidgen_narration
        return (len(self.failures), dict((k, list(v)) for k, v in self.record.items()),
                set(vidgen_narration.done))

    def rollback(self, mark):
        import vidgen_narration
        n, record, done = mark
        del self.failures[n:]
        self.record = record
        self.current = None
        self.started = bool(record)
        vidgen_narration.done = set(done)

    def say(self, text):
        """Where the render is, for the plugin's stall message."""
        if self.where is None:
            return
        try:
            with open(self.where, "w", encoding="utf-8") as f:
                f.write(text + "\n")
        except OSError:
            pass

    def code(self, a, b):
        last = min(b, a + self.MAX_CODE_LINES - 1)
        out = ["  %d: %s" % (n, self.lines[n - 1].rstrip())
               for n in range(a, last + 1) if 0 < n <= len(self.lines)]
        if last < b:
            out.append("  ... (%d more lines)" % (b - last))
        return "\n".join(out)

    def failed(self, scene, seg, exc):
        if not isinstance(exc, Exception) or manim_control(exc):
            return False  # KeyboardInterrupt, SystemExit, Manim's own: not the script's
        index, a, b = self.current or (seg.index, 0, 0)
        self.current = None
        self.say("after %d" % index)
        head = "segment %d (script lines %d-%d)" % (index, a, b)
        self.failures.append("%s: %s\n%sThe segment's code:\n%s\n" % (
            head, exception_line(exc), trimmed_traceback(exc, self.script),
            self.code(a, b)))
        if self.mode != "fallback":
            self.fatal_prefix = head + ": "
            return False
        try:
            card(scene, seg)
        except Exception as exc_card:
            if manim_control(exc_card):
                # A slice ends inside the card (its end was set where the
                # pass, which drew nothing, saw no failure): the slice ends
                # here, and the join, seeing a failure the pass did not,
                # renders the scene in one process.
                raise
            return False  # the original error fails the render
        rec = self.record.setdefault(index, [0.0, None, "fallback", self.clock()])
        rec[1] = self.now(scene)
        rec[2] = "fallback"
        rec[3] = self.clock() - rec[3]
        return True

    def after_blocks(self, scene, exc):
        """construct() raised outside a block after blocks had started:
        the rest of the narration is laid over cards. Returns False when
        the error must end the render instead."""
        if self.mode != "fallback" or not self.started or not isinstance(exc, Exception) \
                or manim_control(exc):
            return False
        import vidgen_narration
        line = 0
        for f in traceback.extract_tb(exc.__traceback__):
            if os.path.abspath(f.filename) == self.script:
                line = f.lineno
        last = max(self.record) if self.record else -1
        left = [s for s in vidgen_narration.segments()
                if s.index not in vidgen_narration.done and s.index not in self.record]
        self.failures.append("script line %d (after segment %d, outside any narration "
                             "block): %s\n%s%s\n" % (
                                 line, last, exception_line(exc),
                                 trimmed_traceback(exc, self.script),
                                 "The segments after it (%s) were not reached." %
                                 ", ".join(str(s.index) for s in left) if left else ""))
        try:
            for seg in left:
                start = vidgen_narration._scene_time(scene)
                at = self.now(scene)
                if seg.file and seg.duration > 0 and os.path.exists(seg.file):
                    scene.add_sound(seg.file)
                    vidgen_narration.used = True
                seg._scene, seg._start = scene, start
                card(scene, seg)
                self.record[seg.index] = [at, self.now(scene), "fallback", 0.0]
                vidgen_narration.done.add(seg.index)
                if vidgen_narration.on_segment_done is not None:
                    vidgen_narration.on_segment_done()
        except Exception:
            return False
        if scene.renderer.num_plays == 0:
            return False  # nothing at all to show
        return True

    def start_slice(self):
        """In a slice's child: from now on, count the wall seconds of the
        segments it draws (the open one from now)."""
        self.touched = set()
        if self.current is not None and self.current[0] in self.record:
            self.record[self.current[0]][3] = self.clock()
            self.touched.add(self.current[0])

    def slice_walls(self):
        """In a slice's child: {segment: wall seconds it spent drawing it}."""
        now, walls = self.clock(), {}
        for i in self.touched or ():
            rec = self.record.get(i)
            if rec is not None:
                walls[i] = rec[3] if rec[1] is not None else now - rec[3]
        return walls

    def write(self, segments_path, errors_path):
        with open(segments_path, "w", encoding="utf-8") as f:
            for i in sorted(self.record):
                start, end, status, wall = self.record[i]
                if end is None:  # never left (the render ended inside it)
                    end, wall = start, 0.0
                f.write("%d %.3f %.3f %s %.2f\n" % (i, start, end, status, wall))
        if self.failures:
            with open(errors_path, "w", encoding="utf-8") as f:
                f.write("\n".join(self.failures))


def card(scene, seg):
    """A cleared screen, the segment's text on a plain card, held until
    the segment's narration has been heard (at least half a second)."""
    import textwrap
    from manim import Text, VGroup, DOWN, WHITE, config
    import vidgen_narration
    scene.clear()
    scene.updaters = []
    frame = getattr(scene.camera, "frame", None)
    if frame is not None:  # a moving camera: back to the plain view
        try:
            frame.move_to([0, 0, 0])
            frame.set(width=config.frame_width)
        except Exception:
            pass
    text = " ".join((seg.text or "").split()) or "(segment %d)" % seg.index
    lines = textwrap.wrap(text, 42)[:8] or [text[:42]]
    group = VGroup(*[Text(line, font_size=34, color=WHITE) for line in lines])
    group.arrange(DOWN, buff=0.25)
    fw, fh = config.frame_width * 0.85, config.frame_height * 0.8
    if group.width > fw or group.height > fh:
        group.scale(min(fw / group.width, fh / group.height))
    scene.add(group)
    left = seg.duration - (vidgen_narration._scene_time(scene) - (seg._start or 0))
    scene.wait(max(left, 0.5) + vidgen_narration._frame_time())
    # Empty again (the wait leaves Manim's placeholder mobject too): the
    # next block starts from the screen a repaired block would most likely
    # leave, so its partial movies can come from the cache.
    scene.clear()


def manim_control(exc):
    """Manim's own control flow (the end of a slice's animations), which
    must pass through construct() untouched."""
    return type(exc).__name__ in ("EndSceneEarlyException", "RerunSceneException")


def exception_line(exc):
    msg = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return msg.splitlines()[-1][:300] if msg else type(exc).__name__


def render(script, scene_name, quality, out, opts):
    from manim import config
    import vidgen_caches
    import vidgen_frames
    import vidgen_hash
    vidgen_caches.install()
    vidgen_frames.install()
    vidgen_hash.install()
    work = os.path.dirname(script)
    # A media folder that outlives the attempt (the plugin's, per job stage)
    # keeps Manim's partial movies: an animation whose inputs did not
    # change since the last attempt is taken from it, not drawn again.
    config.media_dir = opts.get("media") or os.path.join(work, "media")
    config.quality = QUALITIES[quality]
    config.disable_caching = "media" not in opts
    config.max_files_cached = MAX_FILES_CACHED
    config.progress_bar = "none"
    config.verbosity = "WARNING"
    config.input_file = script
    config.output_file = scene_name
    config.write_to_movie = True
    config.format = "mp4"

    with open(script, encoding="utf-8") as f:
        lines = f.read().splitlines()
    guard = SegmentGuard(script, opts.get("segments", "fail"), lines,
                         os.path.join(work, "segment.txt"))
    stall = float(opts.get("stall", 0))
    dog = Watchdog(stall, os.path.join(work, "stall.txt")) if stall > 0 else None
    import vidgen_narration
    vidgen_narration.guard = guard
    opts["_guard"] = guard

    module = load_script(script)
    classes = scene_classes(module, script, scene_name)
    parts, problems, counts = [], [], {"rendered": 0, "cached": 0}
    slices = 1
    # One narrated scene is as long as its narration: its slices can be cut
    # before it is known how long each animation is.
    length = narration_length() if len(classes) == 1 and guard.blocks else None
    for cls in classes:
        config.output_file = cls.__name__
        guard.offset = sum(p[1] for p in parts)
        scene, check, part_counts, sliced = render_scene(
            cls, script, lines, work, opts, guard, dog, length)
        parts.append((scene_movie(scene, config), scene_length(scene)))
        if check is not None:
            problems.extend(p for p in check.problems if p not in problems)
        for key in counts:
            counts[key] += part_counts[key]
        slices = max(slices, sliced)
    if dog is not None:
        dog.stop()
    layout = opts.get("layout")
    if layout:
        try:
            with open(layout, "w", encoding="utf-8") as f:
                f.write("".join(p + "\n" for p in problems))
        except OSError:  # the video matters more than its report
            pass
    guard.write(os.path.join(work, "segments.txt"),
                os.path.join(work, "segment_errors.txt"))
    with open(os.path.join(work, "stats.txt"), "w", encoding="utf-8") as f:
        f.write("rendered %(rendered)d cached %(cached)d\n" % counts)
        f.write("slices %d\n" % slices)
        import resource  # CPU of this process and of the slices it waited for
        me, kids = resource.getrusage(resource.RUSAGE_SELF), \
            resource.getrusage(resource.RUSAGE_CHILDREN)
        f.write("cpu %.2f\n" % (me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime))
    if len(parts) == 1:
        movie = parts[0][0]
        try:
            os.replace(movie, out)
        except OSError:  # the media folder is a mount of its own (the cache)
            import shutil
            shutil.copyfile(movie, out)
            os.unlink(movie)
    else:
        join_parts([m for m, _len in parts], out, work)
    write_probe(out)


def narration_length():
    """The narration's length in seconds, or None without one."""
    import vidgen_narration
    total = sum(s.duration for s in vidgen_narration.segments())
    return total if total > 0 else None


def load_script(script):
    """Runs the script as module "scene", without its top-level
    `if __name__ == "__main__":` blocks (vidgen_check.py)."""
    import ast
    from vidgen_check import strip_main_guards
    with open(script, encoding="utf-8") as f:
        tree = strip_main_guards(ast.parse(f.read(), filename=script))
    spec = importlib.util.spec_from_file_location("scene", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scene"] = module
    exec(compile(tree, script, "exec"), module.__dict__)  # noqa: the sandboxed script
    return module


def scene_classes(module, script, names):
    """The Scene subclasses to render, in order: those named ("A,B"), or,
    for an unchecked script ("-"), every one the file defines that no other
    derives from, in the file's order."""
    from manim import Scene
    if names != "-":
        out = []
        for name in names.split(","):
            cls = module.__dict__.get(name)
            if not (isinstance(cls, type) and issubclass(cls, Scene)):
                raise LookupError("the script defines no Scene class named %s" % name)
            out.append(cls)
        return out
    import ast
    with open(script, encoding="utf-8") as f:
        order = {n.name: n.lineno for n in ast.walk(ast.parse(f.read()))
                 if isinstance(n, ast.ClassDef)}
    found = [c for c in module.__dict__.values()
             if isinstance(c, type) and issubclass(c, Scene) and c.__module__ == "scene"]
    bases = {b for c in found for b in c.__mro__[1:]}
    found = sorted((c for c in found if c not in bases),
                   key=lambda c: order.get(c.__name__, 0))
    if not found:
        raise LookupError("the script defines no Scene subclass")
    return found


def scene_movie(scene, config):
    for holder in (getattr(scene, "manager", None), getattr(scene, "renderer", None)):
        fw = getattr(holder, "file_writer", None)
        if fw is not None and getattr(fw, "movie_file_path", None):
            movie = str(fw.movie_file_path)
            if os.path.isfile(movie):
                return movie
    found = [p for p in glob.glob(os.path.join(config.media_dir, "videos", "**",
                                               "%s.mp4" % type(scene).__name__),
                                  recursive=True) if "partial_movie_files" not in p]
    if not found:
        raise RuntimeError("the scene %s rendered no video (did construct() play "
                           "anything?)" % type(scene).__name__)
    return max(found, key=os.path.getmtime)


def scene_length(scene):
    return float(scene.renderer.time)


def join_parts(movies, out, work):
    """Several scenes' videos, one after the other, by stream copy (each has
    its own soundtrack, as long as its video)."""
    import subprocess
    listing = os.path.join(work, "parts.txt")
    with open(listing, "w", encoding="utf-8") as f:
        for m in movies:
            f.write("file '%s'\n" % m.replace("'", "'\\''"))
    r = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "concat",
                        "-safe", "0", "-i", listing, "-c", "copy", out],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("cannot join the scenes: %s" % r.stderr[-500:])


def render_scene(cls, script, lines, work, opts, guard, dog, length=None):
    """Renders one Scene subclass, in slices when opts["jobs"] allows;
    returns (scene, layout check, counts, slices). length: the scene's
    length in seconds when known beforehand (its narration), else None."""
    import vidgen_slices
    layout = opts.get("layout")
    mark = guard.mark()
    jobs = int(opts.get("jobs", "1"))
    k = jobs if jobs > 0 else vidgen_slices.cpus()
    if k > 1 and length is None:
        length = skipped_pass(cls, script, guard, mark)
    if k > 1 and length is not None:
        done = render_sliced(cls, script, lines, work, opts, guard, dog, k, length)
        if done is not None:
            return done
        # A segment failed only while being drawn (or only while not):
        # one process, as Manim renders.
        guard.rollback(mark)
    scene = make_scene(cls)
    check = hook_scene(scene, script, layout, opts.get("progress"), dog)
    guard_construct(scene, guard)
    scene.render()
    return scene, check, dict(scene.vidgen_counts), 1


def make_scene(cls):
    scene = cls()
    try:
        from manim.manager import Manager
        Manager(scene)
    except ImportError:
        pass
    return scene


def guard_construct(scene, guard):
    """An exception outside the narration blocks, once one has started,
    lays the rest of the narration over cards (SegmentGuard.after_blocks)."""
    construct = scene.construct

    def guarded_construct():
        try:
            construct()
        except Exception as exc:
            if not guard.after_blocks(scene, exc):
                raise
    scene.construct = guarded_construct


def skipped_pass(cls, script, guard, mark):
    """The scene's length, from a run of construct() with every animation
    skipped (it also fills the TeX and text caches); None when it has fewer
    than two animations, or fails (the one-process render reports that)."""
    scene = make_scene(cls)
    scene.renderer._original_skipping_status = True
    scene.renderer.skip_animations = True
    scene.add_sound = lambda *a, **k: None
    hook_scene(scene, script, None, None)
    guard_construct(scene, guard)
    try:
        scene.render()
    except Exception:
        return None
    finally:
        guard.rollback(mark)
    if len(scene.vidgen_durations) < 2:
        return None
    return float(scene.renderer.time)


def failure_heads(failures):
    return [f.split(":", 1)[0] for f in failures]


def render_sliced(cls, script, lines, work, opts, guard, dog, k, length):
    """One skipped pass that forks a child where each of k slices of the
    scene's length begins (vidgen_slices). Returns what render_scene does,
    or None when the slices disagree with the pass (vidgen_slices.Inconsistent)."""
    import vidgen_caches
    import vidgen_narration
    import vidgen_slices
    scene = make_scene(cls)
    first_failure = len(guard.failures)
    check = hook_scene(scene, script, opts.get("layout"), None, dog)
    guard_construct(scene, guard)
    forked = {}

    def on_child(child_scene, index):
        """In a new child: its own progress file and watchdog, no layout
        check (the parent's pass makes it), its own counts."""
        forked["failures"] = len(guard.failures)
        guard.start_slice()
        state = child_scene.vidgen_hook
        state["check"] = None
        child_dog = Watchdog(float(opts["stall"]), os.path.join(work, "stall.txt")) \
            if dog is not None else None
        state["dog"] = child_dog
        disarm_at_finish(child_scene)  # its file writer's finish is a new one
        try:
            state["prog"] = Progress(child_scene, os.path.join(work, "progress.%d.txt" % index))
        except OSError:
            state["prog"] = None
        vidgen_narration.on_segment_done = state["prog"]
        for key in child_scene.vidgen_counts:
            child_scene.vidgen_counts[key] = 0

    def stretch():
        """How much longer than its narration the scene runs so far (each
        segment's last animations may outlast its audio): where the latest
        segment started in the scene over where it starts in the narration."""
        if not guard.record:
            return 1.0
        i = max(guard.record)
        narr = sum(s.duration for s in vidgen_narration.segments()[:i])
        at = guard.record[i][0] - guard.offset
        return max(1.0, at / narr) if i > 0 and narr > 0 else 1.0

    slicer = vidgen_slices.Slicer(scene, k, length, work, opts.get("progress"), on_child, dog,
                                  lambda: len(guard.failures), stretch)
    # The pass typesets every formula in turn, and the first slice waits for
    # each: a process typesets the likely ones ahead of it meanwhile.
    ahead = vidgen_caches.prefetch(script, cls.__name__)
    try:
        scene.render()
    except BaseException as exc:
        if slicer.index is not None:
            child_failed(work, slicer.index, exc, script)
        vidgen_caches.stop(ahead)
        slicer.kill()
        raise
    if slicer.index is None:
        vidgen_caches.stop(ahead)
    if slicer.index is not None:
        try:
            vidgen_slices.child_done(scene, slicer, work,
                                     failure_heads(guard.failures[forked["failures"]:]),
                                     guard.slice_walls())
        except BaseException as exc:
            child_failed(work, slicer.index, exc, script)
        os._exit(0)
    slicer.finished()
    if dog is not None:
        dog.stop()
    failed = slicer.wait()
    if failed is not None:
        raise vidgen_slices.SliceFailed(vidgen_slices.slice_error(work, failed))
    try:
        n = vidgen_slices.join(slicer, work, failure_heads(guard.failures[first_failure:]))
    except vidgen_slices.Inconsistent:
        return None
    # The pass drew nothing: each segment took as long as its slices drew it.
    for i, wall in vidgen_slices.summed_walls(work, n).items():
        if i in guard.record:
            guard.record[i][3] = wall
    counts = vidgen_slices.summed_counts(work, n)
    # A slice may have taken animations past its end from the cache before
    # it knew where it ended: every animation not drawn came from it.
    counts["cached"] = max(0, scene.renderer.num_plays - counts["rendered"])
    return scene, check, counts, n


def child_failed(work, index, exc, script):
    """In a slice's child: its error for the parent (slice<i>.err); never
    returns."""
    try:
        with open(os.path.join(work, "slice%d.err" % index), "w", encoding="utf-8") as f:
            f.write(trimmed_traceback(exc, script))
    finally:
        os._exit(1)


def write_probe(out):
    """Describes the video for the mux (as ffprobe would) while PyAV is
    loaded anyway: saves the engine a sandboxed ffprobe run."""
    try:
        import av
        info = {"video_s": 0.0, "h264": False, "has_audio": False, "audio_s": 0.0,
                "aac": False}
        with av.open(out) as c:
            for s in c.streams:
                secs = float(s.duration * s.time_base) if s.duration else 0.0
                if s.type == "video" and not info["video_s"]:
                    info["video_s"] = secs or (c.duration or 0) / 1e6
                    info["h264"] = s.codec_context.name == "h264"
                elif s.type == "audio" and not info["has_audio"]:
                    info["has_audio"] = True
                    info["audio_s"] = secs
                    info["aac"] = s.codec_context.name == "aac"
        import json
        with open(out + ".probe.json", "w", encoding="utf-8") as f:
            json.dump(info, f)
    except Exception:  # the engine runs ffprobe instead
        pass


OPTIONS = {"layout", "progress", "segments", "stall", "media", "jobs"}


def parse_options(args):
    """NAME=VALUE options after the positional arguments; "-" is none."""
    opts = {}
    for arg in args:
        name, eq, value = arg.partition("=")
        if not eq or name not in OPTIONS:
            return None
        if value != "-":
            opts[name] = value
    if opts.get("segments", "fail") not in ("fail", "fallback"):
        return None
    try:
        if not 0 <= float(opts.get("stall", 0)) <= 86400 or \
                not 0 <= int(opts.get("jobs", "1")) <= 64:
            return None
    except ValueError:
        return None
    return opts


def main(argv):
    opts = parse_options(argv[6:]) if len(argv) >= 6 else None
    if opts is None or argv[3] not in QUALITIES:
        print("usage: vidgen_render.py SCRIPT SCENE 480p15|720p30|1080p60 OUT ERRORS "
              "[layout=FILE] [progress=FILE] [segments=fail|fallback] [stall=SECONDS] "
              "[media=DIR] [jobs=K]", file=sys.stderr)
        return 2
    script = os.path.abspath(argv[1])
    main_pid = os.getpid()
    try:
        render(script, argv[2], argv[3], argv[4], opts)
    except BaseException as exc:  # noqa: the report is the point
        if os.getpid() != main_pid:  # a process the script forked
            os._exit(1)
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        stall = os.path.join(os.path.dirname(script), "stall.txt")
        try:
            with open(stall, encoding="utf-8", errors="replace") as f:
                if "most recent call first" in f.read(4096):
                    return 1  # a slice's watchdog fired: the plugin reads its dump
        except OSError:
            pass
        guard = opts.get("_guard")
        if type(exc).__name__ == "SliceFailed":
            text = exc.args[0] if exc.args and exc.args[0] else \
                "a slice of the render was killed (a limit: memory, CPU time, " \
                "processes or file size)\n"
            with open(argv[5], "w", encoding="utf-8") as f:
                f.write(text)
            sys.stderr.write(text)
            return 1
        text = (guard.fatal_prefix if guard is not None else "") + \
            trimmed_traceback(exc, script)
        if guard is not None and guard.fatal_prefix and guard.failures:
            text = guard.failures[-1]
        with open(argv[5], "w", encoding="utf-8") as f:
            f.write(text)
        sys.stderr.write(text)
        return 1
    if os.getpid() != main_pid:
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
