# For tests/e2e/render_hash.sh: scenes whose cache keys vidgen's function
# and Manim's must split alike. VARIANT (environment) changes one input.
import functools
import os

import numpy as np
from manim import (BLUE, DOWN, LEFT, RED, RIGHT, UP, Circle, Create, Dot, FadeIn,
                   ImageMobject, MathTex, Scene, Square, Transform, ValueTracker,
                   always_redraw, Write)

VARIANT = os.environ.get("VARIANT", "base")
STEP = 0.5 if VARIANT == "closure" else 0.25
POWER = 3.0 if VARIANT == "rate" else 2.0


def eased(t, p=POWER):
    return t ** p


def squeezed(t, lo, hi):
    return min(1.0, max(0.0, (t - lo) / (hi - lo)))


class Shapes(Scene):
    def construct(self):
        sq = Square(color=RED if VARIANT == "color" else BLUE)
        self.play(Create(sq))
        self.play(sq.animate.shift(LEFT))
        self.play(Transform(sq, Circle()), rate_func=eased)
        dot = Dot()
        step = STEP
        dot.add_updater(lambda m, dt: m.shift(step * dt * RIGHT))
        self.add(dot)
        self.wait(0.5)
        dot.clear_updaters()
        lo = 0.2 if VARIANT == "partial" else 0.1
        self.play(dot.animate.shift(UP), rate_func=functools.partial(squeezed, lo=lo, hi=0.9))
        self.wait(0.3)


class Pictures(Scene):
    def construct(self):
        pixels = np.zeros((8, 8), dtype=np.uint8)
        pixels[2, 3] = 255 if VARIANT == "image" else 128
        img = ImageMobject(pixels).scale(4)
        self.play(FadeIn(img))
        t = ValueTracker(1.0)
        ring = always_redraw(lambda: Circle(radius=t.get_value()).shift(DOWN))
        self.add(ring)
        self.play(t.animate.set_value(2.0))
        self.play(Write(MathTex(r"a^2 + b^2 = c^2")))
        self.wait(0.2)
