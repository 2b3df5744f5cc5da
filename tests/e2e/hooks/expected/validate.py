from manim import *

config.background_color = "#1C1F26"

class PythagoreanProof(Scene):
    def construct(self):
        title = Text("Pythagorean Theorem", font_size=72)
        eq = MathTex("a^2 + b^2 = c^2", font_size=24)
        self.play(Write(title), Write(eq))
        self.wait(1)
