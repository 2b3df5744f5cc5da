"""For tests/e2e/render_hash.sh: the partial-movie cache key of each play()
of a scene, by vidgen's function (vidgen_hash.play_key) and by Manim's
(get_hash_from_play_call), with every animation skipped (nothing drawn).

    keys.py SCRIPT SCENE [SCENE...]  ->  one line per play: SCENE N MANIM VIDGEN
    keys.py fallback                 ->  "same" when a play vidgen cannot key
                                         (an object that refuses to be pickled) gets Manim's key

SCRIPT's scenes may read VARIANT (an environment variable) to change one
thing between runs.
"""
import importlib.util
import os
import sys

import numpy as np
from manim import tempconfig
from manim.renderer import cairo_renderer
from manim.utils import hashing
from manim._config.video_encoder import video_encoder_fingerprint

import vidgen_hash

SKIP = frozenset(hashing.KEYS_TO_FILTER_OUT) - {"pixel_array"}


def skipping(cls):
    """A scene of cls that skips every animation and draws nothing."""
    scene = cls()
    try:
        from manim.manager import Manager
        Manager(scene)
    except ImportError:
        pass
    r = scene.renderer
    r._original_skipping_status = True
    r.skip_animations = True
    r.update_frame = lambda *a, **k: None     # keys only: nothing drawn
    return scene, r


def keys_of(cls, out, name):
    scene, r = skipping(cls)
    compile_data = scene.compile_animation_data

    def compiled(*args, **kwargs):
        got = compile_data(*args, **kwargs)
        fp = video_encoder_fingerprint(scene.session_spec.video_encoder)
        manims = hashing.get_hash_from_play_call(
            scene, r.camera, scene.animations, scene.mobjects, backend="cairo",
            encoder_fingerprint=fp, renderer_state=())
        ours = vidgen_hash.play_key(SKIP, np, scene, r.camera, scene.animations,
                                    scene.mobjects, "cairo", fp, ())
        out.append("%s %d %s %s" % (name, r.num_plays, manims, ours))
        return got
    scene.compile_animation_data = compiled
    scene.render()


def main(argv):
    if argv[1] == "fallback":
        from manim import Circle, Scene
        installed = vidgen_hash.install()

        class Opaque:
            def __reduce__(self):
                raise TypeError("not to be pickled")

        class Opaqued(Scene):
            def construct(self):
                c = Circle()
                c.opaque = Opaque()   # vidgen cannot key it: Manim's key
                self.add(c)
                self.wait(0.1)
        scene, r = skipping(Opaqued)
        got = {}
        compile_data = scene.compile_animation_data

        def compiled(*args, **kwargs):
            res = compile_data(*args, **kwargs)
            fp = video_encoder_fingerprint(scene.session_spec.video_encoder)
            for who, f in (("patched", cairo_renderer.get_hash_from_play_call),
                           ("manim", hashing.get_hash_from_play_call)):
                got[who] = f(scene, r.camera, scene.animations, scene.mobjects,
                             backend="cairo", encoder_fingerprint=fp, renderer_state=())
            return res
        scene.compile_animation_data = compiled
        scene.render()
        print("same" if installed and got.get("patched") == got.get("manim") else
              "differ %s" % got)
        return 0
    spec = importlib.util.spec_from_file_location("keyed_scene", argv[1])
    module = importlib.util.module_from_spec(spec)
    sys.modules["keyed_scene"] = module
    spec.loader.exec_module(module)
    out = []
    with tempconfig({"media_dir": os.environ.get("TMPDIR", "/tmp"), "quality": "low_quality",
                     "disable_caching": False, "verbosity": "ERROR"}):
        for name in argv[2:]:
            keys_of(getattr(module, name), out, name)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
