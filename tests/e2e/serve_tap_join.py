"""Runs several TAP scripts (python3 SCRIPT) one after the other and prints
their checks as one TAP stream, numbered on, with one plan at the end; a
script that exits non-zero or prints no plan adds a failed check."""

import re
import subprocess
import sys


def main(scripts):
    n = 0
    for script in scripts:
        p = subprocess.Popen([sys.executable, script], stdout=subprocess.PIPE)
        planned = False
        for raw in p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            m = re.match(r"^(not ok|ok)\s+\d+\s*(.*)$", line)
            if m:
                n += 1
                print("%s %d %s" % (m.group(1), n, m.group(2)))
            elif re.match(r"^1\.\.\d+", line):
                planned = True
            else:
                print(line)
            sys.stdout.flush()
        rc = p.wait()
        if rc != 0 or not planned:
            n += 1
            print("not ok %d - %s exited %d%s" % (n, script, rc,
                                                 "" if planned else " without a plan"))
    print("1..%d" % n)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
