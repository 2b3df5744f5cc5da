# A script using the narration helper (tests/e2e/render_cmd.sh,
# render_captions.sh): a formula written during segment 0, indicated once
# in each later segment, and a block past the narration's end.
from manim import *
from vidgen_narration import narration, segments


class Synced(Scene):
    def construct(self):
        title = MathTex(r"a^2 + b^2 = c^2")
        with narration(self, 0) as seg:
            self.play(Write(title), run_time=seg.duration * 0.5)
            self.play(title.animate.scale(1.4), run_time=seg.remaining)
        for i in range(1, len(segments())):
            with narration(self, i) as seg:
                self.play(Indicate(title), run_time=seg.duration * 0.5)
        with narration(self, 99) as seg:  # past the end: no audio, no error
            assert seg.text == "" and seg.duration == 0
