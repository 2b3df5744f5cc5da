"""Manim's TeX and text caches, safe to share between the processes of a
sliced render (doc/render.md, "Sliced, parallel render"), for
vidgen_render.py.

Manim writes a formula's .tex, .dvi and .svg, and a text's .svg, straight
into the cache folder and takes any file it finds there as finished: a
second process reading the folder while the first writes may read half a
file (parallel Manim processes sharing a media folder crash on this). Here
every such file is made under a name of the writing process's own and moved
into place with one rename (and the scratch copy Manim writes beside an SVG
to parse it is named after its process too), so a reader sees a whole file or none; two
processes making the same file at once each make their own and the later
rename wins (the contents are the same). The file names, and so Manim's
cache hashes, do not change.
"""
import os



def install():
    """Patches Manim's cache writers; returns whether it did."""
    try:
        import manimpango
        import svgelements as se
        from xml.etree import ElementTree as ET
        from manim import config
        from manim.constants import RIGHT
        from manim.mobject.svg import svg_mobject
        from manim.mobject.text import tex_mobject, text_mobject
        from manim.utils import tex_file_writing
        from vidgen_frames import patchable
    except ImportError:
        return False
    if not patchable(tex_file_writing, "_vidgen_atomic",
                     [(tex_file_writing, "tex_to_svg_file"), (tex_mobject, "tex_to_svg_file"),
                      (manimpango, "text2svg"), (text_mobject.MarkupUtils, "text2svg"),
                      (svg_mobject.SVGMobject, "generate_mobject")]):
        return False
    compile_tex = tex_file_writing.tex_to_svg_file

    def tex_to_svg_file(expression, environment=None, tex_template=None):
        """Compiles in a folder of this process's own (latex and dvisvgm
        write as they go), then renames the .svg into the cache."""
        shared = config.get_dir("tex_dir")
        template = tex_template if tex_template is not None else config["tex_template"]
        if environment is not None:
            code = template.get_texcode_for_expression_in_env(expression, environment)
        else:
            code = template.get_texcode_for_expression(expression)
        final = shared / (tex_file_writing.tex_hash(code) + ".svg")
        if final.exists():
            return final
        own = shared / (".build-%d" % os.getpid())
        before = config.tex_dir
        config.tex_dir = str(own)
        try:
            made = compile_tex(expression, environment, tex_template)
        finally:
            config.tex_dir = before
        os.replace(made, final)
        try:
            os.rmdir(own)  # Manim removed the rest (unless no_latex_cleanup)
        except OSError:
            pass
        return final

    def text2svg(*args, **kwargs):
        return _atomic(manimpango_text2svg, 4, "filename", args, kwargs)

    manimpango_text2svg = manimpango.text2svg
    markup_text2svg = text_mobject.MarkupUtils.text2svg

    class MarkupUtils:
        """text_mobject's view of manimpango.MarkupUtils, whose text2svg
        writes atomically (the Cython class itself cannot be patched)."""

        def __getattr__(self, name):
            return getattr(markup_utils, name)

        @staticmethod
        def text2svg(*args, **kwargs):
            return _atomic(markup_text2svg, 7, "file_name", args, kwargs)

    def generate_mobject(self):
        """SVGMobject.generate_mobject with its scratch copy of the SVG
        (beside the cached file, under one fixed name, unlinked after
        parsing: two processes parsing one SVG unlink each other's) named
        after this process."""
        path = self.get_file_path()
        tree = self.modify_xml_tree(ET.parse(path))
        scratch = path.with_name("%s_%d%s" % (path.stem, os.getpid(), path.suffix))
        tree.write(scratch)
        try:
            svg = se.SVG.parse(scratch)
        finally:
            scratch.unlink()
        mobjects, self.id_to_vgroup_dict = self.get_mobjects_from(svg)
        self.add(*mobjects)
        self.flip(RIGHT)
        return self

    markup_utils = text_mobject.MarkupUtils
    svg_mobject.SVGMobject.generate_mobject = generate_mobject
    tex_file_writing.tex_to_svg_file = tex_to_svg_file
    tex_mobject.tex_to_svg_file = tex_to_svg_file
    manimpango.text2svg = text2svg
    text_mobject.MarkupUtils = MarkupUtils()
    tex_file_writing._vidgen_atomic = True
    return True


def _atomic(write, position, keyword, args, kwargs):
    """Calls write() with its file name argument (args[position], or
    kwargs[keyword]) replaced by a name of this process's own, then renames
    that file to the name asked for; returns that name."""
    args = list(args)
    if len(args) > position:
        final = args[position]
        args[position] = tmp = "%s.%d.tmp" % (final, os.getpid())
    elif keyword in kwargs:
        final = kwargs[keyword]
        kwargs[keyword] = tmp = "%s.%d.tmp" % (final, os.getpid())
    else:
        return write(*args, **kwargs)
    try:
        write(*args, **kwargs)
        os.replace(tmp, final)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return final
