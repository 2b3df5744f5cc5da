#!/bin/sh
# End-to-end: `vidgen render` refuses scripts that fail the static check,
# each with the line number and the reason, before anything runs.
. "$(dirname "$0")/lib.sh"

VIDGEN=${VIDGEN:-./vidgen}
VENV=${VIDGEN_MANIM_VENV:-/opt/vidgen/venv}

# refused NAME LINE PATTERN BODY: BODY (after the standard header) must be
# refused, citing "line LINE" and PATTERN.
CASES=0
refused() {
	name=$1 line=$2 pat=$3
	shift 3
	CASES=$((CASES + 1))
	f="$TMP/$name.py"
	printf 'from manim import *\n%s\n' "$*" >"$f"
	"$VIDGEN" render -o "$TMP/$name.mp4" "$f" >"$TMP/$name.out" 2>"$TMP/$name.err"
	rc=$?
	if [ $rc -ne 0 ] && grep -q "static check" "$TMP/$name.err" &&
	   grep -q "line $line: .*$pat" "$TMP/$name.err" && [ ! -e "$TMP/$name.mp4" ]; then
		ok 0 "refuses $name (line $line: $pat)"
	else
		ok 1 "refuses $name (line $line: $pat)"
		diag "exit $rc; stderr:"; diag "$(cat "$TMP/$name.err")"
	fi
}

SCENE='class S(Scene):
    def construct(self):'

plan 29
if [ ! -x "$VENV/bin/python" ]; then
	for i in $(seq 1 29); do skip "no Manim venv at $VENV"; done
	exit 0
fi

refused import_os 2 "import of 'os'" "import os
$SCENE
        pass"
refused import_subprocess 2 "import of 'subprocess'" "import subprocess
$SCENE
        pass"
refused import_socket 2 "import of 'socket'" "import socket
$SCENE
        pass"
refused import_sys 2 "import of 'sys'" "import sys
$SCENE
        pass"
refused from_os 2 "import from 'os.path'" "from os.path import join
$SCENE
        pass"
refused import_shutil 2 "import of 'shutil'" "import numpy, shutil
$SCENE
        pass"
refused import_ctypes 2 "import of 'ctypes'" "import ctypes as c
$SCENE
        pass"
refused relative_import 2 "import from '.x'" "from .x import y
$SCENE
        pass"
refused dunder_import 5 "'__import__' is not allowed" "$SCENE
        m = 'o' + 's'
        __import__(m)"
refused open_call 4 "'open' is not allowed" "$SCENE
        open('/etc/passwd').read()"
refused exec_call 4 "'exec' is not allowed" "$SCENE
        exec('print(1)')"
refused eval_call 4 "'eval' is not allowed" "$SCENE
        x = eval('1+1')"
refused compile_call 4 "'compile' is not allowed" "$SCENE
        compile('1', 'x', 'eval')"
refused getattr_call 5 "'getattr' is allowed only with a constant" "$SCENE
        name = 'play'
        getattr(self, name)"
refused getattr_dunder 4 "'getattr' is allowed only with a constant" "$SCENE
        getattr(self, '_' + '_class__')"
refused globals_call 4 "'globals' is not allowed" "$SCENE
        g = globals()"
refused dunder_attr 4 "attribute '__subclasses__'" "$SCENE
        x = object.__subclasses__()"
refused dunder_string 4 "string '__globals__'" "$SCENE
        k = '__globals__'"
refused builtins_name 4 "'__builtins__' is not allowed" "$SCENE
        b = __builtins__"
refused syntax_error 4 "SyntaxError" "$SCENE
        self.play(Create(Circle())"
# Several scenes are rendered in order (render_scenes.sh); making the main
# guard true is refused.
refused name_assign 2 "'__name__' may not be assigned" "__name__ = '_' + '_main__'
class A(Scene):
    pass"
# Allowed modules hold refused ones as attributes.
refused module_alias 5 "attribute '_os' is not allowed" "import random
$SCENE
        random._os.system('id')"
refused module_attr 5 "attribute 'sys' is not allowed" "import typing
$SCENE
        typing.sys.modules['os'].system('id')"
refused numpy_ctypes 5 "attribute 'ctypeslib' is not allowed" "import numpy as np
$SCENE
        np.ctypeslib.load_library('libc', '/lib')"

# Problems without a line are reported bare; check these by their text.
printf 'from manim import *\nx = 1\n' >"$TMP/noscene.py"
"$VIDGEN" render "$TMP/noscene.py" >/dev/null 2>"$TMP/noscene.err"
ok "[ $? -ne 0 ] && grep -q 'no Scene subclass to render' '$TMP/noscene.err'" \
	"refuses a script without a Scene subclass"

printf 'from manim import *\nclass A(Scene):\n    pass\n' >"$TMP/named.py"
"$VIDGEN" render --scene Missing "$TMP/named.py" >/dev/null 2>"$TMP/named.err"
ok "[ $? -ne 0 ] && grep -q \"no Scene subclass named 'Missing'\" '$TMP/named.err'" \
	"refuses a scene name the script does not define"

# Several problems: all of them are listed, in line order.
printf 'import os\nimport sys\nfrom manim import *\nclass A(Scene):\n    def construct(self):\n        eval("1")\n' >"$TMP/many.py"
"$VIDGEN" render "$TMP/many.py" >/dev/null 2>"$TMP/many.err"
ok "grep -q 'line 1: ' '$TMP/many.err' && grep -q 'line 2: ' '$TMP/many.err' && grep -q 'line 6: ' '$TMP/many.err'" \
	"lists every problem with its line"

# getattr with a constant, ordinary name passes the check (and renders).
printf 'from manim import *\nclass G(Scene):\n    def construct(self):\n        self.play(getattr(self, "camera") and Create(Dot()), run_time=0.2)\n' >"$TMP/getattr_ok.py"
"$VIDGEN" render -o "$TMP/getattr_ok.mp4" "$TMP/getattr_ok.py" >/dev/null 2>"$TMP/getattr_ok.err"
ok "[ $? -eq 0 ] && [ -s '$TMP/getattr_ok.mp4' ]" "getattr with a constant name is accepted" ||
	diag "$(cat "$TMP/getattr_ok.err")"

# A script that is not UTF-8 never reaches Python.
printf 'from manim import *\n# \377\376\n' >"$TMP/binary.py"
"$VIDGEN" render "$TMP/binary.py" >/dev/null 2>"$TMP/binary.err"
ok "[ $? -ne 0 ] && grep -q 'not UTF-8' '$TMP/binary.err'" "refuses a script that is not UTF-8"
exit 0
