# For tests/e2e/render_warm.sh: four narrated segments of shapes; COLOR
# (environment) is the last segment's colour.
import os

from manim import BLUE, GREEN, RED, UP, Circle, Create, FadeOut, Scene, Square, Triangle

from vidgen_narration import narration

LAST = {"red": RED, "green": GREEN}[os.environ.get("COLOR", "red")]
SECOND = {"blue": BLUE, "green": GREEN}[os.environ.get("SECOND", "blue")]


class Warm(Scene):
    def construct(self):
        shapes = [Square(color=BLUE), Circle(color=SECOND), Triangle(color=BLUE),
                  Square(color=LAST, fill_color=LAST, fill_opacity=1.0).scale(3)]
        for i, shape in enumerate(shapes):
            with narration(self, i) as seg:
                self.play(Create(shape), run_time=seg.duration * 0.4)
                self.play(shape.animate.shift(0.3 * UP), run_time=0.2)
                self.wait(0.1)
            if i < 3:
                self.play(FadeOut(shape), run_time=0.2)
