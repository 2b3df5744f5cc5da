"""Hands Manim's frames to its encoder with less copying, and draws nothing
while skipping (doc/render.md, "Frames to the encoder"), for vidgen_render.py.

Manim 0.22 copies each frame out of the camera (get_frame), queues the copy
for its encoder thread, which copies it again into an RGBA video frame and
converts that to the encoder's YUV 4:2:0; a held frame (a wait()) is copied
and converted once for every repeat. Here each frame is converted to YUV
straight from the camera's buffer, on the drawing thread (swscale runs
without the GIL, so the encoder thread goes on meanwhile), and queued once
however often it repeats. While animations are skipped (a slice's
pass, animations taken from the cache) Manim still draws each one's last
frame and its background, which nothing ever writes: not here. The encoder receives the same pixels through the
same conversion (same swscale flags and threads), so the partial movies
are the same bytes as Manim's own; with another Manim version, or anything
unexpected, nothing is changed.
"""
from fractions import Fraction

MANIM_VERSION = "0.22.0"


def patchable(holder, marker, wanted):
    """Whether Manim is the version vidgen's patches were written against,
    holder has no marker yet (not patched twice), and every (object, name)
    of wanted is callable."""
    import manim
    return getattr(manim, "__version__", "") == MANIM_VERSION and \
        not getattr(holder, marker, False) and \
        all(callable(getattr(o, n, None)) for o, n in wanted)


def install():
    """Patches Manim's frame path; returns whether it did."""
    try:
        import av
        from av.video.reformatter import VideoReformatter
        from manim.renderer.cairo_renderer import CairoRenderer
        from manim.scene.scene_file_writer import SceneFileWriter
        from manim.scene.video_segment_encoder import VideoSegmentEncoder
    except ImportError:
        return False
    wanted = [(CairoRenderer, n) for n in ("render", "update_frame", "add_frame",
                                           "save_static_frame_data")]
    wanted += [(SceneFileWriter, "write_frame"), (VideoSegmentEncoder, "write_frame"),
               (VideoSegmentEncoder, "_validate_frame")]
    if not patchable(CairoRenderer, "_vidgen_frames", wanted):
        return False

    def render(self, scene, time, moving_mobjects=None):
        # Manim: update_frame, then add_frame(get_frame()), a copy. The
        # camera's own buffer is converted before anything draws into it.
        self.update_frame(scene, moving_mobjects)
        self.add_frame(self.camera.pixel_array)

    writer_write = SceneFileWriter.write_frame

    def write_frame(self, pixels, *, repeat=1):
        job = getattr(self, "_current_encode_job", None)
        encoder = getattr(job, "encoder", None)
        if job is None or job.failed or not isinstance(encoder, VideoSegmentEncoder) or \
                not self.output_spec.is_video or self.output_spec.is_image_sequence:
            return writer_write(self, pixels.copy(), repeat=repeat)
        encoder._validate_frame(pixels, repeat)
        job.put(repeat, yuv_frame(encoder, pixels))

    def yuv_frame(encoder, pixels):
        """The frame as the codec context would convert it in encode()."""
        cc = encoder._stream.codec_context
        src = av.VideoFrame.from_numpy_buffer(pixels, format="rgba")
        conv = getattr(encoder, "_vidgen_sws", None)
        if conv is None:
            conv = encoder._vidgen_sws = VideoReformatter()
        frame = conv.reformat(src, cc.width, cc.height, cc.format,
                              threads=cc.thread_count)
        return frame if frame is not src else src.reformat()  # never the live buffer

    encoder_write = VideoSegmentEncoder.write_frame

    def encode_frame(self, pixels, *, repeat=1):
        if not isinstance(pixels, av.VideoFrame):
            return encoder_write(self, pixels, repeat=repeat)
        time_base = Fraction(self.spec.frame_rate.denominator,
                             self.spec.frame_rate.numerator)
        try:
            for _ in range(repeat):
                pixels.pts = self._next_pts
                pixels.time_base = time_base
                self._next_pts += 1
                for packet in self._stream.encode(pixels):
                    self._container.mux(packet)
        except BaseException as error:
            raise self._operation_error("encode", error) from error

    update, save_static = CairoRenderer.update_frame, CairoRenderer.save_static_frame_data

    def update_frame(self, *args, **kwargs):
        # Nothing drawn while skipping is ever written. But Manim's cache
        # hashes the camera, which gains its display_funcs on the first
        # mobject it draws: until then, draw as Manim does.
        if self.skip_animations and hasattr(self.camera, "display_funcs"):
            return
        return update(self, *args, **kwargs)

    def save_static_frame_data(self, scene, static_mobjects):
        if self.skip_animations:
            self.static_image = None
            return None
        return save_static(self, scene, static_mobjects)

    CairoRenderer.render = render
    CairoRenderer.update_frame = update_frame
    CairoRenderer.save_static_frame_data = save_static_frame_data
    SceneFileWriter.write_frame = write_frame
    VideoSegmentEncoder.write_frame = encode_frame
    CairoRenderer._vidgen_frames = True
    return True
