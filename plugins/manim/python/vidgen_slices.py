"""Renders one scene as k slices of its animations in parallel (doc/render.md,
"Sliced, parallel render"), inside the sandbox, for vidgen_render.py.

One process, Manim imported once: a first pass runs construct() with every
animation skipped (no frame is drawn; the layout check, the segment records,
the sounds and each animation's length are collected, and the TeX and text
caches filled). The animations are then cut into k runs of about equal
length, and a forked child per run renders its own (Manim's
from_animation_number / upto_animation_number) with its own text and TeX
folders (copies of the first pass's, as parallel Manim processes that
share one crash on its text cache). The parent joins all partial movies in order, by stream copy, and
lays the recorded sounds under them: what Manim's own one-process render
does at its end.
"""
import os
import shutil
import signal
import time

POLL_S = 0.25


def cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def split(durations, k):
    """[(first, last)] animation indices of k runs of about equal length
    (each at least one animation)."""
    n = len(durations)
    k = max(1, min(k, n))
    total = sum(max(d, 1e-3) for d in durations)
    runs, first, acc = [], 0, 0.0
    for i, d in enumerate(durations):
        acc += max(d, 1e-3)
        left_runs = k - len(runs) - 1
        if left_runs > 0 and acc >= total * (len(runs) + 1) / k and n - i - 1 >= left_runs:
            runs.append((first, i))
            first = i + 1
    runs.append((first, n - 1))
    return runs


class Recorder:
    """Replaces scene.add_sound: every sound with its scene time, for the
    parent to lay under the joined video (a skipped animation's sound would
    be dropped by Manim, and each slice sees only its own)."""

    def __init__(self, scene, events):
        self.scene, self.events = scene, events

    def __call__(self, sound_file, time_offset=0, gain=None, **kwargs):
        self.events.append((str(sound_file), float(self.scene.renderer.time) + time_offset,
                            gain, kwargs))


def seed_dir(src, dst):
    """dst gets a copy of every file of src: the child's own cache folder
    starts with what the first pass made. Copies, not hard links: Manim
    rewrites some cache files in place, and a file shared by two slices
    would be read half-written."""
    for root, _dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in files:
            a, b = os.path.join(root, name), os.path.join(dst, rel, name)
            if os.path.exists(b):
                continue
            shutil.copyfile(a, b)


def private_partials(fw, slice_no):
    """Each child writes its partial movies under a name of its own and
    renames them to their hashed names once encoded: two slices drawing the
    same animation (same hash) never write one file at once."""
    begin, finish = fw.begin_animation, fw.finish
    moves = []

    def begin_animation(allow_write=False, *, animation_index, file_path=None):
        if allow_write and file_path is None:
            final = fw.partial_movie_files[animation_index]
            if final is not None:
                root, ext = os.path.splitext(final)
                file_path = "%s.slice%d%s" % (root, slice_no, ext)
                moves.append((file_path, final))
        return begin(allow_write, animation_index=animation_index, file_path=file_path)

    def finished(*args, **kwargs):
        fw.join_all_encode_jobs()
        for tmp, final in moves:
            if os.path.exists(tmp):  # not an animation that raised half-way
                os.replace(tmp, final)
    fw.begin_animation = begin_animation
    fw.finish = finished
    return finish


def child(make_scene, index, run, work, media, hooks, report):
    """Runs in the forked child: renders animations run[0]..run[1] and
    writes the list of their partial movies (slice<i>.txt), what it drew
    (slice<i>.stats), a segment failure the first pass did not see
    (slice<i>.new) or its error (slice<i>.err). Never returns."""
    code = 1
    try:
        from manim import config
        config.from_animation_number = run[0]
        config.upto_animation_number = run[1]
        for key, sub in (("text_dir", "texts"), ("tex_dir", "Tex")):
            shared = os.path.join(media, sub)
            own = os.path.join(media, "slices", "%d" % index, sub)
            if os.path.isdir(shared):
                seed_dir(shared, own)
            os.makedirs(own, exist_ok=True)
            config[key] = own
        scene = make_scene()
        hooks(scene, index)
        scene.add_sound = lambda *a, **k: None
        private_partials(scene.renderer.file_writer, index)
        scene.render()
        fw = scene.renderer.file_writer
        with open(os.path.join(work, "slice%d.txt" % index), "w", encoding="utf-8") as f:
            for i, path in enumerate(fw.partial_movie_files):
                if run[0] <= i <= run[1] and path is not None:
                    f.write(path + "\n")
        counts = scene.vidgen_counts
        with open(os.path.join(work, "slice%d.stats" % index), "w", encoding="utf-8") as f:
            # The animations before the run were skipped, which counts as
            # taken from the cache in the hook.
            f.write("%d %d\n" % (counts["rendered"], max(0, counts["cached"] - run[0])))
        guard, seen = scene.vidgen_guard_check
        if any(f.split(":", 1)[0] not in seen for f in guard.failures):
            open(os.path.join(work, "slice%d.new" % index), "w").close()
        code = 0
    except BaseException as exc:  # noqa: the parent reports it
        try:
            with open(os.path.join(work, "slice%d.err" % index), "w",
                      encoding="utf-8") as f:
                f.write(report(exc))
        except BaseException:
            pass
    finally:
        os._exit(code)


def progress_of(work, index):
    """The last complete progress line of a child: (animations, seconds)."""
    try:
        with open(os.path.join(work, "progress.%d.txt" % index), "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256))
            lines = f.read().decode("ascii", "replace").split("\n")
        parts = lines[-2].split() if len(lines) >= 2 else []
        return int(parts[1]), float(parts[3])
    except (OSError, ValueError, IndexError):
        return 0, 0.0


def wait_children(pids, runs, starts, work, progress_path):
    """Waits for every child, writing their summed progress (animations
    drawn, scene seconds drawn) to the progress file; kills the others as
    soon as one fails. Returns the index of a failed child, or None."""
    left = dict(pids)
    failed = None
    while left:
        for index, pid in list(left.items()):
            done, status = os.waitpid(pid, os.WNOHANG)
            if done == 0:
                continue
            del left[index]
            if failed is None and not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0):
                failed = index
                for other in left.values():
                    try:
                        os.kill(other, signal.SIGKILL)
                    except OSError:
                        pass
        anims, secs = 0, 0.0
        for index in pids:
            a, t = progress_of(work, index)
            anims += max(0, a - runs[index][0])
            secs += max(0.0, t - starts[index])
        if progress_path:
            try:
                with open(progress_path, "a", encoding="ascii") as f:
                    f.write("p %d 0 %.2f\n" % (anims, secs))
            except OSError:
                pass
        if left:
            time.sleep(POLL_S)
    return failed


class SliceFailed(Exception):
    """A slice failed: its own error text, or none when it was killed (its
    watchdog fired: stall.txt has the dump)."""


class Inconsistent(Exception):
    """A slice saw a segment fail that the first pass did not (an exception
    only while drawing): the slices' timelines may differ."""


def summed_counts(work, n):
    counts = {"rendered": 0, "cached": 0}
    for index in range(n):
        try:
            with open(os.path.join(work, "slice%d.stats" % index), encoding="utf-8") as f:
                drawn, cached = (int(v) for v in f.read().split())
        except (OSError, ValueError):
            continue
        counts["rendered"] += drawn
        counts["cached"] += cached
    return counts


def render_sliced(first_scene, make_scene, k, work, media, progress_path, hooks, report):
    """first_scene has rendered with every animation skipped (the first
    pass); its file writer makes the video. Returns the number of slices
    used; raises SliceFailed or Inconsistent."""
    r = first_scene.renderer
    durations = first_scene.vidgen_durations
    runs = split(durations, k)
    starts = []
    for first, _last in runs:
        starts.append(sum(durations[:first]))
    pids = {}
    for index, run in enumerate(runs):
        pid = os.fork()
        if pid == 0:
            child(make_scene, index, run, work, media, hooks, report)
        pids[index] = pid
    failed = wait_children(pids, runs, starts, work, progress_path)
    if failed is not None:
        try:
            with open(os.path.join(work, "slice%d.err" % failed), encoding="utf-8") as f:
                text = f.read()
        except OSError:
            text = ""
        raise SliceFailed(text)
    if any(os.path.exists(os.path.join(work, "slice%d.new" % i)) for i in range(len(runs))):
        raise Inconsistent()
    fw = r.file_writer
    files = []
    for index in range(len(runs)):
        with open(os.path.join(work, "slice%d.txt" % index), encoding="utf-8") as f:
            files.extend(line.rstrip("\n") for line in f if line.strip())
    fw.partial_movie_files = files
    for sound, at, gain, kwargs in first_scene.vidgen_sounds:
        fw.add_sound(sound, at, gain, **kwargs)
    fw.combine_to_movie()
    return len(runs)
