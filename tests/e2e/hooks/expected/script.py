from manim import *

class PythagoreanProof(Scene):
    def construct(self):
        title = Text("Pythagorean Theorem", font_size=48)
        self.play(Write(title))
        self.wait(1)
