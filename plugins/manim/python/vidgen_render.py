"""Renders one Manim scene for vidgen, inside the sandbox (doc/render.md).

    python vidgen_render.py SCRIPT SCENE QUALITY OUT.mp4 ERRORS.txt [LAYOUT PROGRESS]

Does what `manim render` does for one scene, but in-process so that a
failure is written to ERRORS.txt as a short traceback naming the script's
own lines (what the repair model needs), not a terminal-sized rich dump.
After each play()/wait() it checks the layout (text off screen, texts on
top of each other; the problems go to LAYOUT) and appends a progress line to
PROGRESS; "-" turns either off.
"""
import glob
import importlib.util
import os
import sys
import traceback

QUALITIES = {"480p15": "low_quality", "720p30": "medium_quality",
             "1080p60": "high_quality"}
MAX_FRAMES = 6
MAX_PROBLEMS = 40
EDGE_TOLERANCE = 0.1   # scene units a mobject may stick out of the frame
OVERLAP_MIN = 0.15     # share of the smaller box that counts as overlapping


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
        f = sys._getframe(2)
        while f is not None:
            if f.f_code.co_filename == self.script:
                return f.f_lineno
            f = f.f_back
        return 0

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
        self.scene = scene
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.animations = 0

    def __call__(self):
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


def hook_scene(scene, script, layout, progress):
    """Wraps the scene's play() (wait() calls it too) to run the layout
    check and the progress report after each animation."""
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
    if check is None and prog is None:
        return check
    inner = scene.play
    depth = [0]
    state = {"check": check, "prog": prog}

    def play(*args, **kwargs):
        depth[0] += 1
        try:
            inner(*args, **kwargs)
        finally:
            depth[0] -= 1
        if depth[0] != 0:
            return
        if state["check"] is not None:
            try:
                state["check"]()
            except Exception:
                state["check"] = None
        if state["prog"] is not None:
            state["prog"].animations += 1
            state["prog"]()
    scene.play = play
    if prog is not None:
        import vidgen_narration
        vidgen_narration.on_segment_done = prog
    return check


def render(script, scene_name, quality, out, layout=None, progress=None):
    from manim import config
    work = os.path.dirname(script)
    config.media_dir = os.path.join(work, "media")
    config.quality = QUALITIES[quality]
    config.disable_caching = True
    config.progress_bar = "none"
    config.verbosity = "WARNING"
    config.input_file = script
    config.output_file = scene_name
    config.write_to_movie = True
    config.format = "mp4"

    spec = importlib.util.spec_from_file_location("scene", script)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scene"] = module
    spec.loader.exec_module(module)
    if scene_name == "-":  # unchecked script: find its one scene here
        from manim import Scene
        found = [c for c in module.__dict__.values()
                 if isinstance(c, type) and issubclass(c, Scene)
                 and c.__module__ == "scene"]
        if len(found) != 1:
            raise LookupError("the script must define exactly one Scene "
                              "subclass (found %d)" % len(found))
        cls = found[0]
        scene_name = cls.__name__
        config.output_file = scene_name
    else:
        cls = module.__dict__.get(scene_name)
    if cls is None:
        raise LookupError("the script defines no class named %s" % scene_name)
    scene = cls()
    try:
        from manim.manager import Manager
        Manager(scene)
    except ImportError:
        pass
    check = hook_scene(scene, script, layout, progress)
    scene.render()
    if check is not None:
        try:
            with open(layout, "w", encoding="utf-8") as f:
                f.write("".join(p + "\n" for p in check.problems))
        except OSError:  # the video matters more than its report
            pass

    movie = None
    for holder in (getattr(scene, "manager", None), getattr(scene, "renderer", None)):
        fw = getattr(holder, "file_writer", None)
        if fw is not None and getattr(fw, "movie_file_path", None):
            movie = str(fw.movie_file_path)
            break
    if not movie or not os.path.isfile(movie):
        found = [p for p in glob.glob(os.path.join(config.media_dir, "videos", "**", "*.mp4"),
                                      recursive=True) if "partial_movie_files" not in p]
        if not found:
            raise RuntimeError("the scene rendered no video (did construct() play anything?)")
        movie = max(found, key=os.path.getmtime)
    os.replace(movie, out)
    write_probe(out)


def write_probe(out):
    """Describes the video for the mux (as ffprobe would) while PyAV is
    loaded anyway: saves the engine a sandboxed ffprobe run."""
    try:
        import av
        info = {"video_s": 0.0, "h264": False, "has_audio": False, "audio_s": 0.0}
        with av.open(out) as c:
            for s in c.streams:
                secs = float(s.duration * s.time_base) if s.duration else 0.0
                if s.type == "video" and not info["video_s"]:
                    info["video_s"] = secs or (c.duration or 0) / 1e6
                    info["h264"] = s.codec_context.name == "h264"
                elif s.type == "audio" and not info["has_audio"]:
                    info["has_audio"] = True
                    info["audio_s"] = secs
        import json
        with open(out + ".probe.json", "w", encoding="utf-8") as f:
            json.dump(info, f)
    except Exception:  # the engine runs ffprobe instead
        pass


def main(argv):
    if len(argv) not in (6, 8) or argv[3] not in QUALITIES:
        print("usage: vidgen_render.py SCRIPT SCENE 480p15|720p30|1080p60 OUT ERRORS "
              "[LAYOUT|- PROGRESS|-]", file=sys.stderr)
        return 2
    script = os.path.abspath(argv[1])
    extra = [None if a == "-" else a for a in argv[6:8]] or [None, None]
    main_pid = os.getpid()
    try:
        render(script, argv[2], argv[3], argv[4], *extra)
    except BaseException as exc:  # noqa: the report is the point
        if os.getpid() != main_pid:  # a process the script forked
            os._exit(1)
        if isinstance(exc, SystemExit) and exc.code in (0, None):
            return 0
        text = trimmed_traceback(exc, script)
        with open(argv[5], "w", encoding="utf-8") as f:
            f.write(text)
        sys.stderr.write(text)
        return 1
    if os.getpid() != main_pid:
        os._exit(0)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
