"""Renders one scene as k slices of its animations in parallel (doc/render.md,
"Sliced, parallel render"), inside the sandbox, for vidgen_render.py.

One process, Manim imported once, runs construct() with every animation
skipped (no frame drawn: the layout check, the segment records, the sounds
and the TeX and text caches are made here). Where the scene clock crosses
j/k of the scene's length, just before that animation starts, it forks: the
child stops skipping and draws from there, in exactly the state a
one-process render would have reached, until the animation where the next
child starts. Nothing is replayed, and the children draw while the parent
is still reading ahead. The parent then joins every partial movie in order,
by stream copy, and lays the recorded sounds under them: what Manim's own
one-process render does at its end.

A child never runs ahead of the parent: before it runs the script's code
after its animation n, it waits until the parent has started animation n+1,
so every TeX and text file that code needs is already complete in the
shared caches (nobody writes a cache file another process may be reading),
and it knows whether n+1 belongs to the next slice.

The scene's length comes from the narration (a single narrated scene) or,
without one, from a first skipped pass of its own.
"""
import ctypes
import mmap
import os
import shutil
import signal
import threading
import time

POLL_S = 0.05
CHILD_NICE = 5
WAIT_S = 0.002


def cpus():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Plan:
    """What the parent tells its children, in memory shared across fork():
    how many animations it has started, whether it has finished, and the
    first animation of each slice (-1: not started yet), and after the last
    slice, of the run of animations the cache has at the end, if any."""

    def __init__(self, k):
        self.k = k
        self.mem = mmap.mmap(-1, 8 * (3 + k))
        cells = [ctypes.c_int64.from_buffer(self.mem, 8 * i) for i in range(3 + k)]
        self.reached, self.over, self.first = cells[0], cells[1], cells[2:]
        for c in self.first:
            c.value = -1

    def end_of(self, index):
        """The last animation of slice `index`, or None while unknown."""
        nxt = self.first[index + 1].value if index + 1 < len(self.first) else -1
        return nxt - 1 if nxt >= 0 else None

    def wait_for(self, plays):
        """Until the parent has started `plays` animations or finished."""
        while self.reached.value < plays and not self.over.value:
            time.sleep(WAIT_S)


class SliceFailed(Exception):
    """A slice failed: its own error text, or none when it was killed (its
    watchdog fired: stall.txt has the dump)."""


class Inconsistent(Exception):
    """A slice saw a segment fail that the pass did not (an exception only
    while drawing), or the other way round: the slices' timelines may
    differ."""


class Recorder:
    """Replaces scene.add_sound in the parent: every sound with its scene
    time, for the parent to lay under the joined video (a skipped
    animation's sound would be dropped by Manim, and each slice draws only
    part of the scene)."""

    def __init__(self, scene, events):
        self.scene, self.events = scene, events

    def __call__(self, sound_file, time_offset=0, gain=None, **kwargs):
        self.events.append((str(sound_file), float(self.scene.renderer.time) + time_offset,
                            gain, kwargs))


def private_partials(fw, slice_no):
    """Each child writes its partial movies under a name of its own and
    renames them to their hashed names once encoded: two slices drawing the
    same animation (same hash) never write one file at once."""
    begin = fw.begin_animation
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


class Slicer:
    """Wraps the scene's play() in the parent: skips every animation and
    forks a child where each slice begins. In a child, the same wrapper
    keeps it behind the parent and ends it where its slice ends."""

    def __init__(self, scene, k, length, work, progress_path, on_child, dog=None,
                 failures=None, stretch=None):
        from manim import config
        self.config = config
        self.scene = scene
        self.plan = Plan(k)
        self.length = max(float(length), 1e-3)
        self.work = work
        self.progress_path = progress_path
        self.on_child = on_child     # called in a new child: (scene, index)
        self.dog = dog               # the parent's watchdog (vidgen_render)
        self.failures = failures     # how many segments have failed so far
        self.failed_before = 0
        self.stretch = stretch       # how much longer than planned the scene runs
        self.drawn_s = 0.0           # scene seconds the slices have drawn so far
        self.index = None            # this process's slice; None: the parent
        self.pids = {}
        self.starts = {}             # slice -> (first animation, scene time)
        self.depth = 0
        self.reported = None         # the last progress written
        self.soundtrack = None       # the AAC soundtrack finished() encoded
        self.mixer = None            # the thread that lays and encodes it
        self.mix_error = None
        self.sounds = []
        self.head = {}               # animation -> its partial movie, from the
        self.head_s = 0.0            # cache before the first slice; their seconds
        self.tail = {}               # the same for the animations the cache has
        self.tail_s = 0.0            # after the last one it lacks (once warm)
        self.tail_t = 0.0            # and where that run begins
        self.warm = None             # whether the cache had partial movies at all
        r = scene.renderer
        r._original_skipping_status = True
        r.skip_animations = True
        scene.add_sound = Recorder(scene, self.sounds)
        self.inner = scene.play
        scene.play = self.play
        self.compile = scene.compile_animation_data
        scene.compile_animation_data = self.compiled

    def play(self, *args, **kwargs):
        r = self.scene.renderer
        self.depth += 1
        try:
            self.inner(*args, **kwargs)
        finally:
            self.depth -= 1
        if self.depth == 0 and self.index is not None:
            self.after(r.num_plays - 1)

    def compiled(self, *args, **kwargs):
        """Manim's compile_animation_data, at the start of each play(): in
        the parent, once the animation is known, where a slice may start."""
        got = self.compile(*args, **kwargs)
        if self.index is None and self.depth == 1:
            r = self.scene.renderer
            self.before(r.num_plays, float(r.time))
        return got

    def cached(self, n):
        """Animation n's partial movie when the cache has it (Manim's key
        for the play being compiled), else None."""
        scene, r = self.scene, self.scene.renderer
        if self.config.disable_caching or self.warm is False:
            return None
        try:
            from manim.renderer import cairo_renderer
            from manim._config.video_encoder import video_encoder_fingerprint
            key = cairo_renderer.get_hash_from_play_call(
                scene, r.camera, scene.animations, scene.mobjects, backend="cairo",
                encoder_fingerprint=video_encoder_fingerprint(scene.session_spec.video_encoder),
                renderer_state=())
            fw = r.file_writer
            path = str(fw.output_plan.segment_path(key))
            if self.warm is None:
                # A first attempt's cache is empty: no key is worth computing.
                folder = os.path.dirname(path)
                self.warm = os.path.isdir(folder) and any(
                    not n.startswith(".") for n in os.listdir(folder))
            if not fw.is_already_cached(key):
                return None
            return path
        except Exception:   # a slice draws it (and keys it as Manim does)
            return None

    def before(self, n, t):
        """In the parent, once animation n (at scene time t) is compiled:
        forks the next slice here when it is due and the cache lacks this
        animation. Before the first slice the parent takes animations from
        the cache itself; a scene the cache has whole forks nothing."""
        plan = self.plan
        j = len(self.starts)
        # Never where a segment has just failed (its card's first animation
        # has the failed one's number): the slice before would end short of
        # the failure, the next would start after it.
        failed = self.failures() if self.failures is not None else 0
        calm, self.failed_before = failed == self.failed_before, failed
        # The slices after the first share what is left after it (in a
        # repair, the part the cache lacks) and what the slices running
        # have not drawn yet: slice j starts where, had the scene's length
        # been split evenly, the scene seconds left undrawn are. The length
        # grows as the pass finds the scene longer than its narration.
        origin = self.starts[0][1] if self.starts else 0.0
        due = j < plan.k
        if due and j > 0:
            length = self.length * (self.stretch() if self.stretch is not None else 1.0)
            due = calm and t >= origin + (length - origin) * j / plan.k + \
                self.drawn_s / plan.k - 1e-9
        path = self.cached(n) if due or (j > 0 and self.warm) else None
        if path is not None:
            due = False
            lasts = float(getattr(self.scene, "duration", 0.0) or 0.0)
            if j == 0:
                self.head[n] = path
                self.head_s = t + lasts
            else:
                if not self.tail:
                    self.tail_t = t
                self.tail[n] = path
                self.tail_s += lasts
        elif j > 0:
            self.tail, self.tail_s = {}, 0.0
        if due:
            plan.first[j].value = n
            self.starts[j] = (n, t)
            # faulthandler's watchdog thread holds a lock a child would wait
            # for forever when it arms its own: none may run at fork().
            if self.dog is not None:
                self.dog.stop()
            pid = os.fork()
            if pid == 0:
                self.become_child(j, n)
                return
            self.pids[j] = pid
            if self.dog is not None:
                self.dog.arm()
        plan.reached.value = n + 1
        self.report()

    def become_child(self, index, n):
        self.index = index
        # The pass decides where the later slices start: a slice (and its
        # encoder's threads) must not starve it.
        try:
            os.nice(CHILD_NICE)
        except OSError:
            pass
        self.config.from_animation_number = n
        self.config.upto_animation_number = -1
        r = self.scene.renderer
        r._original_skipping_status = False
        r.skip_animations = False      # this play is compiled, not yet begun
        self.scene.add_sound = lambda *a, **k: None
        private_partials(r.file_writer, index)
        self.on_child(self.scene, index)

    def after(self, n):
        """In a child, after its animation n: wait for the parent to start
        n+1, and stop here if n+1 is the next slice's."""
        from manim.utils.exceptions import EndSceneEarlyException
        # Waiting for the pass is not a stall of this slice (the pass has a
        # watchdog of its own, whose dump names the line it is stuck on).
        dog = getattr(self.scene, "vidgen_hook", {}).get("dog")
        pause = dog is not None and self.plan.reached.value < n + 2 and not self.plan.over.value
        if pause:
            dog.stop()
        self.plan.wait_for(n + 2)
        if pause:
            dog.arm()
        end = self.plan.end_of(self.index)
        if end is not None and n >= end:
            self.config.upto_animation_number = end
            raise EndSceneEarlyException()

    def finished(self):
        """In the parent, once construct() has returned: lays the recorded
        sounds into the soundtrack while the children draw (decoding and
        mixing them took 1-2 s at the end of a render). The last slice ends
        where the run of animations the cache has at the end begins: the
        parent takes those itself."""
        if self.tail and self.starts:
            self.plan.first[len(self.starts)].value = min(self.tail)
        self.plan.over.value = 1
        # On a thread of its own: wait() reports the children's progress
        # meanwhile. Nothing forks from here on.
        self.mixer = threading.Thread(target=self.mix, name="vidgen-soundtrack")
        self.mixer.start()

    def mix(self):
        fw = self.scene.renderer.file_writer
        try:
            for sound, at, gain, kwargs in self.sounds:
                fw.add_sound(sound, at, gain, **kwargs)
        except Exception as exc:  # the join reports it
            self.mix_error = exc
            return
        self.soundtrack = encode_soundtrack(fw)

    def kill(self):
        self.plan.over.value = 1
        for pid in self.pids.values():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in self.pids.values():
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        self.pids = {}

    def report(self):
        """The children's summed progress, for the plugin (animations drawn,
        scene seconds drawn); keeps the seconds the slices drew for
        before()."""
        anims, secs, drawn = len(self.head), self.head_s, 0.0
        if self.plan.over.value:
            anims, secs = anims + len(self.tail), secs + self.tail_s
        for index, (first, start) in self.starts.items():
            a, t = progress_of(self.work, index)
            # A slice may take animations past its end from the cache
            # before it knows where it ends: counted once, in the tail.
            nxt = self.starts.get(index + 1)
            if nxt is None and self.plan.over.value and self.tail:
                nxt = (min(self.tail), self.tail_t)
            if nxt is not None:
                a, t = min(a, nxt[0] - first), min(t, nxt[1])
            anims += max(0, a)
            secs += max(0.0, t - start)
            drawn += max(0.0, t - start)
        self.drawn_s = drawn
        if not self.progress_path or (anims, round(secs, 2)) == self.reported:
            return
        self.reported = (anims, round(secs, 2))
        try:
            with open(self.progress_path, "a", encoding="ascii") as f:
                f.write("p %d 0 %.2f\n" % (anims, secs))
        except OSError:
            pass

    def wait(self):
        """Waits for every child, reporting their progress; kills the others
        as soon as one fails. Returns the index of a failed child, or None."""
        left = dict(self.pids)
        failed = None
        while left:
            for index, pid in list(left.items()):
                done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    continue
                del left[index]
                if failed is None and not (os.WIFEXITED(status) and
                                           os.WEXITSTATUS(status) == 0):
                    failed = index
                    for other in left.values():
                        try:
                            os.kill(other, signal.SIGKILL)
                        except OSError:
                            pass
            self.report()
            if left:
                time.sleep(POLL_S)
        self.pids = {}
        return failed


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


def child_done(scene, slicer, work, failures, walls):
    """In a child whose scene has rendered: writes the list of its partial
    movies (slice<i>.txt), what it drew (slice<i>.stats), the segments
    that failed in it (slice<i>.fails) and the wall seconds it spent in each
    segment (slice<i>.walls)."""
    index = slicer.index
    first = slicer.config.from_animation_number
    end = slicer.plan.end_of(index)
    fw = scene.renderer.file_writer
    with open(os.path.join(work, "slice%d.txt" % index), "w", encoding="utf-8") as f:
        for i, path in enumerate(fw.partial_movie_files):
            if i >= first and (end is None or i <= end) and path is not None:
                f.write(path + "\n")
    counts = scene.vidgen_counts
    with open(os.path.join(work, "slice%d.stats" % index), "w", encoding="utf-8") as f:
        f.write("%d %d\n" % (counts["rendered"], counts["cached"]))
    with open(os.path.join(work, "slice%d.fails" % index), "w", encoding="utf-8") as f:
        f.write("".join(head + "\n" for head in failures))
    with open(os.path.join(work, "slice%d.walls" % index), "w", encoding="utf-8") as f:
        f.write("".join("%d %.3f\n" % (i, w) for i, w in sorted(walls.items())))


def summed_walls(work, n):
    """{segment: wall seconds the slices spent drawing it}."""
    walls = {}
    for index in range(n):
        try:
            with open(os.path.join(work, "slice%d.walls" % index), encoding="utf-8") as f:
                for line in f:
                    i, w = line.split()
                    walls[int(i)] = walls.get(int(i), 0.0) + float(w)
        except (OSError, ValueError):
            continue
    return walls


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


def join(slicer, work, failures):
    """In the parent, after wait(): checks the children against the pass and
    makes the scene's movie from their partial movies and the soundtrack
    (finished() laid it). Returns the number of slices; raises SliceFailed, Inconsistent."""
    n = len(slicer.starts)
    seen = set()
    for index in range(n):
        try:
            with open(os.path.join(work, "slice%d.fails" % index), encoding="utf-8") as f:
                seen.update(line.rstrip("\n") for line in f if line.strip())
        except OSError:
            pass
    if seen != set(failures):
        raise Inconsistent()
    files = [slicer.head[i] for i in sorted(slicer.head)]
    for index in range(n):
        with open(os.path.join(work, "slice%d.txt" % index), encoding="utf-8") as f:
            files.extend(line.rstrip("\n") for line in f if line.strip())
    files.extend(slicer.tail[i] for i in sorted(slicer.tail))
    if slicer.mixer is not None:
        slicer.mixer.join()
    if slicer.mix_error is not None:
        raise slicer.mix_error
    fw = slicer.scene.renderer.file_writer
    fw.partial_movie_files = files
    from manim.scene import scene_file_writer
    convert = scene_file_writer.convert_audio

    def encoded(source, target, codec):
        """Manim encodes the soundtrack here: finished() already did."""
        if str(target) != slicer.soundtrack or codec != "aac":
            convert(source, target, codec)
    scene_file_writer.convert_audio = encoded
    try:
        fw.combine_to_movie()
    finally:
        scene_file_writer.convert_audio = convert
    return n


def encode_soundtrack(fw):
    """Encodes the scene's soundtrack to AAC where Manim's combine_to_movie
    would at the very end (after the slices, on no one's critical path
    now: 0.6 CPU s a half minute). Returns the AAC file's path, or None
    when Manim is to do it itself."""
    try:
        from pydub import AudioSegment
        from manim.scene import scene_file_writer
        out = fw.output_spec
        if not fw.includes_sound or out.is_gif or out.segment_extension != ".mp4" or \
                not callable(getattr(scene_file_writer, "convert_audio", None)):
            return None
        wav = fw.movie_file_path.with_suffix(".wav")
        wav.parent.mkdir(parents=True, exist_ok=True)
        # What combine_to_movie does first: the same soundtrack, the same file.
        fw.add_audio_segment(AudioSegment.silent(0))
        fw.audio_segment.export(wav, format="wav", bitrate="312k")
        aac = wav.with_suffix(".aac")
        kept = kept_soundtrack(wav)
        if kept is not None and os.path.isfile(kept):
            shutil.copyfile(kept, aac)
            return str(aac)
        scene_file_writer.convert_audio(wav, aac, "aac")
        if kept is not None:
            keep_soundtrack(aac, kept)
        return str(aac)
    except Exception:  # Manim encodes it at the end, as it would have
        return None


def kept_soundtrack(wav):
    """Where the media folder keeps the AAC of this soundtrack (its WAV's
    SHA-256): a repair that leaves the narration's timing alone has the
    same soundtrack, and its encoding took 0.9 s of a 2 s render whose
    animations all came from the cache."""
    import hashlib
    from manim import config
    h = hashlib.sha256()
    with open(wav, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return os.path.join(str(config.media_dir), "soundtracks", h.hexdigest() + ".aac")


def keep_soundtrack(aac, kept):
    """Copies a new soundtrack into the media folder's (a file of its own,
    renamed: a reader never sees half of one)."""
    try:
        os.makedirs(os.path.dirname(kept), exist_ok=True)
        tmp = "%s.%d.tmp" % (kept, os.getpid())
        shutil.copyfile(aac, tmp)
        os.replace(tmp, kept)
    except OSError:
        pass


def slice_error(work, index):
    try:
        with open(os.path.join(work, "slice%d.err" % index), encoding="utf-8") as f:
            return f.read()
    except OSError:
        return ""
