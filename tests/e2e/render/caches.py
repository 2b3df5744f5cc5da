"""For render_caches.sh: Manim's TeX and text caches shared by processes
(vidgen_caches.py). Run with the Manim venv's python, the plugin's python
folder on sys.path and a `latex` on PATH that logs each run to $LATEX_LOG.

    caches.py race MEDIA      four processes typeset the same formulas and
                              texts at once; prints a JSON report
    caches.py formulas FILE SCENE   prints formulas() of the script, one a line
"""
import json
import os
import sys


def race(media):
    from manim import MathTex, Text, config
    import vidgen_caches
    installed = vidgen_caches.install()
    config.media_dir = media
    config.verbosity = "WARNING"
    formulas = [r"a^2 + b^2 = c^2", r"\int_0^1 x^2\,dx", r"e^{i\pi} + 1 = 0"]
    texts = ["Shared caches", "Four processes", "One file each"]
    pids = []
    for n in range(4):
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                for f in formulas[n % 3:] + formulas[:n % 3]:
                    MathTex(f)
                for t in texts:
                    Text(t)
            except BaseException:  # noqa: the report is the point
                import traceback
                sys.stderr.write("process %d: %s\n" % (n, traceback.format_exc()))
                code = 1
            os._exit(code)
        pids.append(pid)
    codes = [os.waitstatus_to_exitcode(os.waitpid(p, 0)[1]) for p in pids]
    tex = sorted(os.listdir(os.path.join(media, "Tex")))
    txt = sorted(os.listdir(os.path.join(media, "texts")))
    print(json.dumps({"installed": installed, "codes": codes, "tex": tex, "texts": txt}))


def main():
    if sys.argv[1] == "race":
        race(sys.argv[2])
    else:
        import vidgen_caches
        with open(sys.argv[2], encoding="utf-8") as f:
            for name, args, kwargs in vidgen_caches.formulas(f.read(), sys.argv[3]):
                print(json.dumps([name, args, kwargs]))


if __name__ == "__main__":
    main()
