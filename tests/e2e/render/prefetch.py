from manim import *

TOP = ["t_1", "t_2"]


class Base(Scene):
    LIST = []

    def construct(self):
        a = MathTex(self.LIST[0], color=BLUE)
        b = MathTex("x^2", "+", "y^2", tex_to_color_map={"x": RED})
        for s in TOP:
            Tex(s)
        name = "not" + "literal"
        MathTex(name)
        MathTex(r"\frac{1}{2}", tex_template=TexTemplate())
        self.add(a, b)


class Derived(Base):
    LIST = ["a + b", "c"]

    def construct(self):
        super().construct()
        SingleStringMathTex(r"\sqrt{2}")


class Other(Scene):
    def construct(self):
        MathTex("z")
