"""The partial-movie cache's key for one play() call (doc/render.md,
"Repairs re-render only what changed"), for vidgen_render.py.

Manim 0.22 keys each animation by the camera, the animations and every
mobject on screen: it copies each object's __dict__ into cleaned dicts and
lists, checks each value against a memo of what it has seen, and encodes
the result as JSON, with a Python callback for every object. That was 40%
of a render whose animations all came from the cache (0.67 of 1.65 s on a
39-animation scene), and it runs in every slice.

Here Python's C pickler walks the same graph into the hash (Python runs
once per object, not once per attribute: 3.5-4x less). The key covers
everything Manim's covers: every attribute of every object reached (minus
the same run-dependent keys), arrays by their bytes, functions by their
code with the globals and closure values they use; and more: each
object's class, the values held in __slots__ (Manim keeps only the type),
functools.partial's arguments, a function's default arguments' values, and
where an object seen before is met again, which one it was. So two plays
that Manim would key differently are never keyed alike here.

A play whose objects refuse to be pickled gets Manim's own key.
"""
import hashlib
import pickle
import sys
import types

_VERSION = "vidgen-hash 1"
_KINDS = {}          # type -> its name in the record
_SLOTS = {}          # type -> the names of its __slots__ (all bases)
_CODES = {}          # code object -> (digest, global names it reads)


def _kind(t):
    name = _KINDS.get(t)
    if name is None:
        name = _KINDS[t] = "%s.%s" % (getattr(t, "__module__", "?"),
                                      getattr(t, "__qualname__", t.__name__))
    return name


def _slots(t):
    names = _SLOTS.get(t)
    if names is None:
        found = []
        for base in t.__mro__:
            s = base.__dict__.get("__slots__", ())
            for n in ((s,) if isinstance(s, str) else s):
                if n not in ("__dict__", "__weakref__") and n not in found:
                    found.append(n)
        names = _SLOTS[t] = tuple(found)
    return names


def _const(c):
    """A constant's text, the same in every process (a frozenset's order
    follows string hashing, which differs from one process to the next)."""
    if isinstance(c, frozenset):
        return "z%s;" % sorted(_const(v) for v in c)
    if isinstance(c, tuple):
        return "t(%s);" % "".join(_const(v) for v in c)
    return "%s:%r;" % (type(c).__name__, c)


def _code(code):
    """A code object's digest (its bytecode, constants and names, nested
    code included) and every global name it and its nested code read."""
    got = _CODES.get(code)
    if got is not None:
        return got
    h = hashlib.blake2b(digest_size=20)
    names = set(code.co_names)
    h.update(code.co_code)
    h.update(repr((code.co_names, code.co_varnames, code.co_freevars,
                   code.co_argcount, code.co_kwonlyargcount, code.co_flags)).encode())
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            d, inner = _code(c)
            h.update(d.encode())
            names.update(inner)
        else:
            h.update(_const(c).encode())
    got = _CODES[code] = (h.hexdigest(), frozenset(names))
    return got


class _Sink:
    """A file for the pickler that hashes what it is given."""
    __slots__ = ("write",)

    def __init__(self, h):
        self.write = h.update


def _class(name):
    """Stands for a class, a builtin or a module in the record (by name)."""


def _function(digest, defaults, kwdefaults, closure, used):
    """Stands for a function in the record: its code, default arguments,
    closure values and the globals it reads."""


def _method(function, owner):
    """Stands for a bound method in the record."""


def _object(kind):
    """Stands for an object in the record: its class; its attributes follow
    as the pickle's state."""


_MARKERS = frozenset((_class, _function, _method, _object))
_PLAIN = (object.__reduce_ex__, object.__reduce__, getattr(object, "__getstate__", None))


class _Keyer(pickle.Pickler):
    """Writes a play's objects into the hash as a pickle would, with
    functions by their code and values instead of their names, classes by
    name, and dicts of objects without Manim's run-dependent keys. The C
    pickler walks every dict, list and tuple itself; Python runs only once
    per object (reducer_override)."""

    def __init__(self, sink, skip, np):
        super().__init__(sink, protocol=5)
        self.skip = skip
        self.np = np

    def reducer_override(self, obj):
        t = type(obj)
        if t is types.FunctionType:
            if obj in _MARKERS:
                return NotImplemented   # by name
            digest, names = _code(obj.__code__)
            closure = []
            for cell in obj.__closure__ or ():
                try:
                    closure.append(cell.cell_contents)
                except ValueError:              # an empty cell
                    closure.append(_class)
            g = obj.__globals__
            used = [(n, g[n]) for n in sorted(names)
                    if n in g and not isinstance(g[n], types.ModuleType)]
            return _function, (digest, obj.__defaults__, obj.__kwdefaults__,
                               tuple(closure), used)
        if isinstance(obj, type):
            return _class, ("C" + _kind(obj),)
        if t is types.MethodType:
            return _method, (obj.__func__, obj.__self__)
        if t is types.BuiltinFunctionType or t is types.ModuleType or t is self.np.ufunc:
            return _class, ("B%s.%s" % (getattr(obj, "__module__", None) or "?",
                                        getattr(obj, "__qualname__", None) or
                                        getattr(obj, "__name__", "?")),)
        if (t.__reduce_ex__, t.__reduce__, getattr(t, "__getstate__", None)) != _PLAIN:
            return NotImplemented       # arrays, enums, partial...: their own
        d = getattr(obj, "__dict__", None)
        if isinstance(d, dict) and not self.skip.isdisjoint(d):
            d = {k: v for k, v in d.items() if k not in self.skip}
        slots = _slots(t)
        if slots:
            missing = _class
            d = (d, [(n, getattr(obj, n, missing)) for n in slots])
        return _object, (_kind(t),), d


def play_key(skip, np, scene, camera, animations, mobjects, backend, encoder, state):
    """The key of one play() call: what get_hash_from_play_call keys."""
    h = hashlib.sha256()
    h.update(("%s\0%s\0%s\0" % (_VERSION, backend, encoder)).encode())
    k = _Keyer(_Sink(h), skip | {"pixel_array"}, np)
    # The scene itself is not part of the key (as in Manim): wherever it
    # is met, a placeholder.
    k.memo = {id(scene): (0, scene)}
    k.dump(camera)
    k.skip = skip
    anims = sorted(animations, key=str)
    k.dump((len(anims), anims, list(mobjects), state))
    return h.hexdigest()


def install():
    """Keys Manim's partial movies with play_key; returns whether it did."""
    try:
        import numpy as np
        from manim.renderer import cairo_renderer
        from manim.utils import hashing
        from vidgen_frames import patchable
    except ImportError:
        return False
    if not patchable(cairo_renderer, "_vidgen_hash",
                     [(cairo_renderer, "get_hash_from_play_call")]):
        return False
    manims = cairo_renderer.get_hash_from_play_call
    # Manim leaves these keys out of every dict; pixel_array only out of the
    # camera's (an ImageMobject's pixels are part of the key).
    skip = frozenset(hashing.KEYS_TO_FILTER_OUT) - {"pixel_array"}

    def get_hash_from_play_call(scene, camera, animations, mobjects, *, backend,
                                encoder_fingerprint, renderer_state):
        try:
            return play_key(skip, np, scene, camera, animations, mobjects, backend,
                            encoder_fingerprint, renderer_state)
        except (RecursionError, Exception):     # anything odd: Manim's own
            return manims(scene, camera, animations, mobjects, backend=backend,
                          encoder_fingerprint=encoder_fingerprint,
                          renderer_state=renderer_state)

    cairo_renderer.get_hash_from_play_call = get_hash_from_play_call
    cairo_renderer._vidgen_hash = True
    return True


if __name__ == "__main__":
    sys.exit("vidgen_hash: a module of vidgen_render.py")
