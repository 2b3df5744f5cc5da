"""bench/render's six scenes (see bench/render/run): one narrated scene per
subclass, rendered one at a time (`-s Pythagoras`), a MathTex in every
narration segment; scenes/<name>.txt is each one's narration."""
from manim import *
from vidgen_narration import narration, segments


class BenchScene(Scene):
    TITLE = ""
    FORMULAS = []

    def construct(self):
        title = Text(self.TITLE, font_size=40).to_edge(UP)
        self.play(Write(title), run_time=0.8)
        shape = Square(side_length=2, color=BLUE).shift(DOWN * 1.5 + LEFT * 3)
        self.play(Create(shape), run_time=0.6)
        eq = None
        n = max(len(segments()), len(self.FORMULAS))
        for i in range(n):
            with narration(self, i) as seg:
                tex = MathTex(self.FORMULAS[i % len(self.FORMULAS)]).scale(0.9).shift(UP * 0.6)
                if eq is None:
                    self.play(Write(tex), run_time=seg.duration * 0.35)
                else:
                    self.play(TransformMatchingTex(eq, tex), run_time=seg.duration * 0.35)
                eq = tex
                self.move(shape, eq, i % 4, seg.duration * 0.3)
                self.wait(seg.remaining)
        self.play(FadeOut(eq), FadeOut(shape), FadeOut(title), run_time=0.8)

    def move(self, shape, eq, kind, t):
        if kind == 0:
            self.play(shape.animate.rotate(PI / 4).set_fill(BLUE, 0.4), run_time=t)
        elif kind == 1:
            self.play(shape.animate.shift(RIGHT * 6), run_time=t)
        elif kind == 2:
            self.play(Transform(shape, Circle(radius=1, color=GREEN).move_to(shape)), run_time=t)
        else:
            self.play(Indicate(eq), shape.animate.shift(LEFT * 6), run_time=t)


class Pythagoras(BenchScene):
    TITLE = 'Pythagoras'
    FORMULAS = ['a^2 + b^2 = c^2', 'c^2', 'a^2', 'b^2', 'a^2 + b^2', '(a+b)^2 = c^2 + 2ab', 'c^2', 'a^2 + b^2', 'a^2 + b^2 = c^2']


class Derivative(BenchScene):
    TITLE = 'Derivative'
    FORMULAS = ["f'(x)", 'y = x^2', '(x, x^2)', '\\frac{\\Delta y}{\\Delta x}', '\\frac{(x+h)^2 - x^2}{h}', '\\lim_{h \\to 0}', '2x', "f'(1) = 2"]


class Euler(BenchScene):
    TITLE = 'Euler'
    FORMULAS = ['e^{i\\pi} + 1 = 0', 'e^{i\\pi} + 1 = 0', 'e^{i\\theta} = \\cos\\theta + i\\sin\\theta', '|e^{i\\theta}| = 1', '\\theta = \\pi', '\\cos\\pi = -1,\\ \\sin\\pi = 0', 'e^{i\\pi} = -1', 'e^{i\\pi} + 1 = 0']


class Series(BenchScene):
    TITLE = 'Series'
    FORMULAS = ['\\sum_{n=1}^{\\infty} \\frac{1}{2^n}', '\\frac12, \\frac14, \\frac18', 'a_{n+1} = \\frac{a_n}{2}', '\\frac12', '\\frac12 + \\frac14', '1 - \\frac{1}{2^n}', '\\frac{1}{2^{10}} < 10^{-3}', '\\sum = 1']


class Quadratic(BenchScene):
    TITLE = 'Quadratic'
    FORMULAS = ['x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}', 'ax^2 + bx + c = 0', 'x^2 + \\frac{b}{a}x = -\\frac{c}{a}', '+\\left(\\frac{b}{2a}\\right)^2', '\\left(x + \\frac{b}{2a}\\right)^2', 'x + \\frac{b}{2a} = \\pm\\sqrt{\\cdots}', 'x = \\frac{-b \\pm \\sqrt{b^2-4ac}}{2a}', '\\Delta = b^2 - 4ac']


class Area(BenchScene):
    TITLE = 'Area'
    FORMULAS = ['\\int_a^b f(x)\\,dx', 'y = x^2', '\\Delta x = \\frac1n', '\\sum_i f(x_i)\\,\\Delta x', 'n = 4', '\\to \\frac13', '\\int_0^1 x^2\\,dx', '\\left[\\frac{x^3}{3}\\right]_0^1 = \\frac13']
