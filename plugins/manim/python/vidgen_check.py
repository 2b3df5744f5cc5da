"""Static check of a Manim script before vidgen renders it (doc/render.md).

    python vidgen_check.py SCRIPT [SCENE]

Parses the script with ast (never runs it) and refuses what a scene has no
business doing: imports outside an allowlist, builtins that run or open
things, dunder tricks that reach around the checks. On success prints the
name of the Scene subclass to render (several, comma-separated in the
order the file defines them, when it has several and SCENE is not given)
and exits 0; otherwise prints one line
per problem ("line N: ...") and exits 1. The sandbox still applies to what
passes: this check makes failures early and explainable, not safe.
"""
import ast
import sys

ALLOWED_MODULES = {
    "manim", "numpy", "math", "cmath", "random", "itertools", "functools",
    "operator", "colour", "vidgen_narration", "typing", "__future__",
    "dataclasses", "collections", "enum", "fractions", "decimal",
    "statistics", "string", "copy", "textwrap", "re",
}
REFUSED_NAMES = {
    "open": "reads or writes files",
    "exec": "runs arbitrary code",
    "eval": "runs arbitrary code",
    "compile": "builds code objects",
    "__import__": "imports around the allowlist",
    "globals": "reaches the module namespace",
    "locals": "reaches local namespaces",
    "vars": "reaches namespaces",
    "input": "waits for a terminal",
    "breakpoint": "starts a debugger",
    "exit": "ends the renderer",
    "quit": "ends the renderer",
    "help": "starts an interactive pager",
    "memoryview": "reaches raw memory",
    "__builtins__": "reaches the builtins",
    "__loader__": "reaches the import machinery",
    "__spec__": "reaches the import machinery",
    "os": "is the operating system interface",
    "sys": "is the interpreter interface",
    "subprocess": "runs programs",
    "socket": "opens network connections",
    "shutil": "manipulates files",
    "pathlib": "manipulates files",
    "importlib": "imports around the allowlist",
    "ctypes": "calls native code",
    "builtins": "reaches the builtins",
    "io": "opens files",
    "pickle": "runs code while loading",
    "marshal": "loads code objects",
    "signal": "handles process signals",
    "threading": "starts threads",
    "multiprocessing": "starts processes",
}
ALLOWED_DUNDERS = {"__init__", "__name__", "__doc__"}
# scipy's numerical packages (Manim itself installs scipy); not its file
# readers (scipy.io), nor what downloads or reads bundled data
# (scipy.datasets, scipy.misc), nor its test and build helpers.
SCIPY_ALLOWED = {
    "cluster", "constants", "differentiate", "fft", "fftpack", "integrate",
    "interpolate", "linalg", "ndimage", "odr", "optimize", "signal",
    "sparse", "spatial", "special", "stats",
}
# Allowed modules hold refused ones as attributes (random._os, typing.sys,
# collections._sys, numpy.ctypeslib): reaching one by attribute is refused
# like importing it.
MODULE_ATTRS = {
    "os", "sys", "subprocess", "socket", "shutil", "pathlib", "importlib",
    "ctypes", "ctypeslib", "builtins", "io", "pickle", "marshal", "signal",
    "threading", "multiprocessing", "datasets", "misc",
}
# Allowed only as a direct call with a constant, non-dunder attribute name:
# getattr(mob, "color") is harmless, getattr(x, name) can reach anything.
ATTR_FUNCS = {"getattr", "setattr", "delattr"}
SCENE_BASES = {
    "Scene", "MovingCameraScene", "ThreeDScene", "ZoomedScene",
    "VectorScene", "LinearTransformationScene", "SpecialThreeDScene",
}
MAX_SOURCE = 512 * 1024
MAX_SCENES = 20


def _base_name(node):
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class Checker(ast.NodeVisitor):
    def __init__(self, tree=None):
        self.problems = []
        self._attr_ok = set()
        self._top = set(id(n) for n in tree.body) if tree is not None else set()

    def refuse(self, node, msg):
        self.problems.append((getattr(node, "lineno", 0), msg))

    def scipy_refusal(self, dotted, names=()):
        """Why an import of scipy (dotted: "scipy", "scipy.x.y"; names: what
        a from-import takes) is refused, or None."""
        parts = dotted.split(".")
        sub = parts[1] if len(parts) > 1 else None
        if sub is None:
            bad = [n for n in names if n not in SCIPY_ALLOWED]
            return ", ".join("scipy." + n for n in bad) if bad else None
        if sub not in SCIPY_ALLOWED:
            return "scipy.%s" % sub
        return None

    def refuse_module(self, node, what):
        self.refuse(node, "import of '%s' is not allowed (allowed: %s; and scipy's "
                    "numerical packages: %s)" % (what, ", ".join(sorted(ALLOWED_MODULES)),
                                                 ", ".join(sorted(SCIPY_ALLOWED))))

    def visit_Import(self, node):
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top == "scipy":
                bad = self.scipy_refusal(alias.name)
                if bad:
                    self.refuse_module(node, bad)
            elif top not in ALLOWED_MODULES:
                self.refuse_module(node, alias.name)
        self.generic_visit(node)

    def visit_ImportFrom(self, node):
        top = (node.module or "").split(".")[0]
        if not node.level and top == "scipy":
            bad = self.scipy_refusal(node.module, [a.name for a in node.names]
                                     if node.module == "scipy" else ())
            if bad:
                self.refuse_module(node, bad)
        elif node.level or top not in ALLOWED_MODULES:
            self.refuse(node, "import from '%s%s' is not allowed (allowed: %s)"
                        % ("." * node.level, node.module or "",
                           ", ".join(sorted(ALLOWED_MODULES))))
        for alias in node.names:
            if alias.name in REFUSED_NAMES:
                self.refuse(node, "importing '%s' is not allowed: it %s"
                            % (alias.name, REFUSED_NAMES[alias.name]))
        self.generic_visit(node)

    def visit_Call(self, node):
        f = node.func
        if isinstance(f, ast.Name) and f.id in ATTR_FUNCS:
            name = node.args[1] if len(node.args) >= 2 else None
            if isinstance(name, ast.Constant) and isinstance(name.value, str) \
                    and not (name.value.startswith("__") and name.value.endswith("__")):
                self._attr_ok.add(id(f))
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id == "__name__" and not isinstance(node.ctx, ast.Load):
            self.refuse(node, "'__name__' may not be assigned (the main guard "
                        "must stay false)")
        elif node.id in ATTR_FUNCS and id(node) not in self._attr_ok:
            self.refuse(node, "'%s' is allowed only with a constant attribute "
                        "name that is not a dunder" % node.id)
        elif node.id in REFUSED_NAMES:
            self.refuse(node, "'%s' is not allowed: it %s"
                        % (node.id, REFUSED_NAMES[node.id]))

    def visit_Attribute(self, node):
        a = node.attr
        if a.startswith("__") and a.endswith("__") and a not in ALLOWED_DUNDERS:
            self.refuse(node, "attribute '%s' is not allowed (dunder access)" % a)
        elif a in ("f_globals", "f_locals", "f_back", "gi_frame", "tb_frame",
                   "co_code", "func_globals"):
            self.refuse(node, "attribute '%s' is not allowed (frame access)" % a)
        elif a.lstrip("_") in MODULE_ATTRS:
            self.refuse(node, "attribute '%s' is not allowed (it reaches the '%s' "
                        "module)" % (a, a.lstrip("_")))
        self.generic_visit(node)

    def visit_Constant(self, node):
        # A dunder in a string is how getattr-style escapes are spelled.
        v = node.value
        if isinstance(v, str) and len(v) < 64 and v.startswith("__") \
                and v.endswith("__") and v not in ALLOWED_DUNDERS:
            self.refuse(node, "string '%s' is not allowed (dunder name)" % v)

    def visit_If(self, node):
        """`if __name__ == "__main__":` at the top of the script is accepted
        and its block not checked: the renderer removes it before running
        the script (it would never run anyway, the module is not __main__)."""
        if self.at_top(node) and is_main_guard(node):
            for n in node.orelse:
                self.visit(n)
            return
        self.generic_visit(node)

    def at_top(self, node):
        return id(node) in self._top

    def visit_Global(self, node):
        self.refuse(node, "'global' statements are not allowed")

    def visit_Nonlocal(self, node):
        self.generic_visit(node)


def is_main_guard(node):
    """`if __name__ == "__main__":` (either side)."""
    t = node.test
    if not (isinstance(t, ast.Compare) and len(t.ops) == 1 and
            isinstance(t.ops[0], ast.Eq) and len(t.comparators) == 1):
        return False
    sides = [t.left, t.comparators[0]]
    names = [x for x in sides if isinstance(x, ast.Name) and x.id == "__name__"]
    consts = [x for x in sides if isinstance(x, ast.Constant) and x.value == "__main__"]
    return len(names) == 1 and len(consts) == 1


def strip_main_guards(tree):
    """The script's tree without its top-level main guards' blocks (their
    `else` kept): what the renderer runs."""
    body = []
    for node in tree.body:
        if isinstance(node, ast.If) and is_main_guard(node):
            body.extend(node.orelse)
        else:
            body.append(node)
    tree.body = body
    return tree


def scene_classes(tree):
    """Names of the classes that derive from a Manim scene, transitively
    through classes defined in the same file, with their line numbers."""
    classes = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            classes[node.name] = node
    scenes = {}
    changed = True
    while changed:
        changed = False
        for name, node in classes.items():
            if name in scenes:
                continue
            for b in node.bases:
                bn = _base_name(b)
                if bn in SCENE_BASES or bn in scenes:
                    scenes[name] = node.lineno
                    changed = True
                    break
    # A scene that another scene derives from is a base, not the one to render.
    bases = set()
    for name in scenes:
        for b in classes[name].bases:
            bn = _base_name(b)
            if bn in scenes:
                bases.add(bn)
    return {n: l for n, l in scenes.items() if n not in bases}


def check(source, filename, wanted=None):
    """Returns (scene_name, problems); problems is a list of (line, msg)."""
    if len(source) > MAX_SOURCE:
        return None, [(0, "script is larger than %d bytes" % MAX_SOURCE)]
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as e:
        text = (e.text or "").strip()
        msg = "SyntaxError: %s" % e.msg
        if text:
            msg += ": %s" % text
        return None, [(e.lineno or 0, msg)]
    except (ValueError, RecursionError, MemoryError) as e:
        return None, [(0, "cannot parse: %s" % type(e).__name__)]
    c = Checker(tree)
    try:
        c.visit(tree)
    except RecursionError:
        return None, [(0, "script nests too deeply")]
    problems = c.problems
    scenes = scene_classes(tree)
    name = None
    if wanted:
        if wanted in scenes:
            name = wanted
        else:
            problems.append((0, "no Scene subclass named '%s' (found: %s)"
                             % (wanted, ", ".join(sorted(scenes)) or "none")))
    elif len(scenes) == 1:
        name = next(iter(scenes))
    elif not scenes:
        problems.append((0, "no Scene subclass to render (define exactly one "
                         "class deriving from Scene)"))
    else:
        # Several scenes (models often write one per part): rendered in
        # the order the file defines them, as consecutive parts of one video.
        ordered = [n for n, _line in sorted(scenes.items(), key=lambda kv: kv[1])]
        name = ",".join(ordered)
        if len(ordered) > MAX_SCENES or len(name) > 240:
            problems.append((0, "%d Scene subclasses: at most %d, names of at most "
                             "240 characters in all" % (len(ordered), MAX_SCENES)))
            name = None
    return name, sorted(problems)


def main(argv):
    if len(argv) < 2 or len(argv) > 3:
        print("usage: vidgen_check.py SCRIPT [SCENE]", file=sys.stderr)
        return 2
    try:
        with open(argv[1], "rb") as f:
            raw = f.read(MAX_SOURCE + 1)
        source = raw.decode("utf-8")
    except UnicodeDecodeError:
        print("line 0: script is not valid UTF-8")
        return 1
    except OSError as e:
        print("cannot read %s: %s" % (argv[1], e.strerror), file=sys.stderr)
        return 2
    name, problems = check(source, "scene.py", argv[2] if len(argv) == 3 else None)
    lines = source.splitlines()
    if problems:
        for line, msg in problems[:20]:
            if 0 < line <= len(lines):
                print("line %d: %s\n    %s" % (line, msg, lines[line - 1].strip()[:160]))
            else:
                print("%s" % msg)
        if len(problems) > 20:
            print("... and %d more problems" % (len(problems) - 20))
        return 1
    print(name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
