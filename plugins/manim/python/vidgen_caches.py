"""Manim's TeX and text caches, safe to share between the processes of a
sliced render (doc/render.md, "Sliced, parallel render"), for
vidgen_render.py.

Manim writes a formula's .tex, .dvi and .svg, and a text's .svg, straight
into the cache folder and takes any file it finds there as finished: a
second process reading the folder while the first writes may read half a
file (parallel Manim processes sharing a media folder crash on this). Here
every such file is made under a name of the writing process's own and moved
into place with one rename (and the scratch copy Manim writes beside an SVG
to parse it is named after its process too, and the text SVG that Manim
trims in place each time a Text is made is trimmed by a rename, only when
it changes), so a reader sees a whole file or none; two
processes making the same file at once each make their own and the later
rename wins (the contents are the same). The file names, and so Manim's
cache hashes, do not change.
"""
import ast
import os
import re
import shutil
import signal
import time



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
                      (text_mobject.PangoUtils, "remove_last_M"),
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
        claim = final.with_suffix(".claim")
        shared.mkdir(parents=True, exist_ok=True)
        if not _claim(final, claim):
            return final  # another process made it meanwhile
        own = shared / (".build-%d" % os.getpid())
        before = config.tex_dir
        config.tex_dir = str(own)
        try:
            made = compile_tex(expression, environment, tex_template)
            os.replace(made, final)
        finally:
            config.tex_dir = before
            _unlink(claim)
        shutil.rmtree(own, ignore_errors=True)
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

    class PangoUtils:
        """text_mobject's view of manimpango.PangoUtils, whose remove_last_M
        rewrites a cached text SVG in place each time a Text is made (so a
        reader elsewhere could find it empty): here only when it changes,
        and by a rename."""

        def __getattr__(self, name):
            return getattr(pango_utils, name)

        @staticmethod
        def remove_last_M(file_name):
            with open(file_name, encoding="utf-8") as f:
                content = f.read()
            trimmed = re.sub(r'Z M [^A-Za-z]*? "\/>', 'Z "/>', content)
            if trimmed == content:
                return
            tmp = "%s.%d.tmp" % (file_name, os.getpid())
            try:
                with open(tmp, "w", encoding="utf-8") as f:
                    f.write(trimmed)
                os.replace(tmp, file_name)
            finally:
                _unlink(tmp)

    markup_utils, pango_utils = text_mobject.MarkupUtils, text_mobject.PangoUtils
    svg_mobject.SVGMobject.generate_mobject = generate_mobject
    text_mobject.PangoUtils = PangoUtils()
    tex_file_writing.tex_to_svg_file = tex_to_svg_file
    tex_mobject.tex_to_svg_file = tex_to_svg_file
    manimpango.text2svg = text2svg
    text_mobject.MarkupUtils = MarkupUtils()
    tex_file_writing._vidgen_atomic = True
    return True


CLAIM_POLL_S = 0.01


def _claim(final, claim):
    """Whether this process is to make `final`: False once it exists. Only
    one live process makes a formula at a time (its pid in `claim`); the
    others wait for it, and take over from one that died."""
    while not final.exists():
        try:
            fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                with open(claim, encoding="ascii") as f:
                    owner = int(f.read() or 0)
            except (OSError, ValueError):
                owner = 0
            if owner > 0 and not _alive(owner):
                _unlink(claim)
                continue
            time.sleep(CLAIM_POLL_S)
            continue
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write("%d" % os.getpid())
        if final.exists():  # made between the check and the claim
            _unlink(claim)
            return False
        return True
    return False


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


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


# ---- TeX ahead of the script --------------------------------------------

TEX_CLASSES = ("MathTex", "Tex", "SingleStringMathTex")
TEX_KEYWORDS = ("arg_separator", "substrings_to_isolate", "tex_environment")
MAX_PREFETCH = 48


def formulas(source, scene=None):
    """The formulas scene (a class of the script; None: all of it) will most
    likely typeset, in the order the file names them: (class name, args,
    kwargs) of each MathTex/Tex call whose text is literal: strings, or an
    element of (or a loop over) a list of literal strings the script
    assigns (NAME[i], self.NAME[i], for x in NAME). A guess: what it gets
    wrong is only typeset for nothing."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    scope = _class_chain(tree, scene) if scene is not None else [tree]
    if not scope:
        return []
    lists, loops = {}, {}
    top = [n for n in tree.body if isinstance(n, ast.Assign)]
    for node in top + [n for s in scope for n in ast.walk(s)]:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            items = _strings(node.value)
            if items is not None:
                lists[node.targets[0].id] = items
    scope = [n for s in scope for n in ast.walk(s)]
    for node in scope:
        if isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            items = _strings(node.iter)
            if items is None and isinstance(node.iter, ast.Name):
                items = lists.get(node.iter.id)
            if items is not None:
                loops[node.target.id] = items
    calls = sorted((n for n in scope if isinstance(n, ast.Call)),
                   key=lambda n: (n.lineno, n.col_offset))
    out, seen = [], set()
    for call in calls:
        f = call.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        if name not in TEX_CLASSES or any(isinstance(a, ast.Starred) for a in call.args):
            continue
        kwargs = {}
        for kw in call.keywords:
            if kw.arg == "tex_template" or kw.arg is None:
                kwargs = None
                break
            if kw.arg in TEX_KEYWORDS:
                try:
                    kwargs[kw.arg] = ast.literal_eval(kw.value)
                except ValueError:
                    kwargs = None
                    break
            elif kw.arg == "tex_to_color_map" and isinstance(kw.value, ast.Dict):
                keys = [_literal(k) for k in kw.value.keys]
                if not all(isinstance(k, str) for k in keys):
                    kwargs = None
                    break
                kwargs[kw.arg] = dict.fromkeys(keys, "#FFFFFF")
        if kwargs is None or not call.args:
            continue
        choices = [[]]
        for arg in call.args:
            options = _options(arg, lists, loops)
            if options is None:
                choices = []
                break
            choices = [c + [o] for c in choices for o in options][:MAX_PREFETCH]
        for args in choices:
            key = (name, tuple(args), repr(sorted(kwargs.items())))
            if key not in seen:
                seen.add(key)
                out.append((name, args, kwargs))
        if len(out) >= MAX_PREFETCH:
            break
    return out[:MAX_PREFETCH]


def _class_chain(tree, name):
    """The script's class `name` after the classes of the script it derives
    from (bases first: a subclass's lists override its base's)."""
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    chain, todo = [], [name]
    while todo and len(chain) < 16:
        node = classes.get(todo.pop())
        if node is None or node in chain:
            continue
        chain.insert(0, node)
        todo.extend(b.id for b in node.bases if isinstance(b, ast.Name))
    return chain


def _literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return None


def _strings(node):
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_literal(e) for e in node.elts]
        if items and all(isinstance(i, str) for i in items):
            return items
    return None


def _options(arg, lists, loops):
    value = _literal(arg)
    if isinstance(value, str):
        return [value]
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Name):
        return lists.get(arg.value.id)
    if isinstance(arg, ast.Subscript) and isinstance(arg.value, ast.Attribute):
        return lists.get(arg.value.attr)  # self.NAME[i]
    if isinstance(arg, ast.Name):
        return loops.get(arg.id)
    return None


class Typeset(Exception):
    """In the prefetch process: a formula's SVG is in the cache."""


def prefetch(script, scene):
    """Forks a process that typesets the likely formulas of scene (a class
    name; formulas()) into the shared TeX cache while the script runs, on a
    CPU the render would leave idle. Returns its pid, or None; stop() ends
    it."""
    try:
        with open(script, encoding="utf-8") as f:
            wanted = formulas(f.read(), scene)
    except OSError:
        return None
    if len(wanted) < 2:
        return None
    pid = os.fork()
    if pid != 0:
        return pid
    code = 0
    try:
        import manim
        from manim.mobject.svg.svg_mobject import SVGMobject

        def typeset_only(self, *args, **kwargs):
            # The SVG is in the cache once this is called: nobody here
            # needs it parsed (a formula's parse is most of its CPU when
            # the TeX cache is warm, as in a repair).
            raise Typeset()
        SVGMobject.init_svg_mobject = typeset_only
        for name, args, kwargs in wanted:
            try:
                getattr(manim, name)(*args, **kwargs)
            except Exception:  # the script's own use will report it
                pass
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def stop(pid):
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except OSError:
        pass
