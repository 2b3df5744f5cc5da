"""Renders one Manim scene for vidgen, inside the sandbox (doc/render.md).

    python vidgen_render.py SCRIPT SCENE QUALITY OUT.mp4 ERRORS.txt

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


def render(script, scene_name, quality, out):
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
    scene.render()

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
    if len(argv) != 6 or argv[3] not in QUALITIES:
        print("usage: vidgen_render.py SCRIPT SCENE 480p15|720p30|1080p60 OUT ERRORS",
              file=sys.stderr)
        return 2
    script = os.path.abspath(argv[1])
    main_pid = os.getpid()
    try:
        render(script, argv[2], argv[3], argv[4])
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
