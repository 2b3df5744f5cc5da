"""Slow clients (run by tests/e2e/serve_slow.sh): 2000 connections from 20
loopback addresses (127.0.1.x) each send a request one byte every 2 s, the
slowloris way, while another client creates jobs and reads statuses. The
daemon must keep answering that client: every request answered, none with a
5xx, none slower than 10 s, the daemon alive. The latency figures (p50, p99
before and during the attack) are printed, not asserted
(doc/reliability.md). VIDGEN_SLOW_CLIENTS and VIDGEN_SLOW_SECONDS (40)
set the size. TAP."""

import os
import resource
import selectors
import socket
import sys
import threading
import time

from serve_lib import Daemon, Tap, cleanup, workdir

SLOW = int(os.environ.get("VIDGEN_SLOW_CLIENTS", "2000"))
ATTACK_S = int(os.environ.get("VIDGEN_SLOW_SECONDS", "40"))
ADDRS = 20
REQ = b"GET /api/v1/config HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: " + b"a" * 200 + b"\r\n\r\n"
PROMPT = "Explain the Pythagorean theorem with visual proof"


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p / 100.0))] if xs else float("nan")


def probe(d, seconds, out, errors):
    """Rounds of create, config and list from 127.0.0.1, one every 100 ms
    for seconds; latencies in ms. A create must be accepted (201/202), the
    reads must answer 200."""
    end = time.time() + seconds
    while time.time() < end:
        for call, want in ((lambda: d.create(PROMPT), (201, 202)),
                           (lambda: d.json("GET", "/api/v1/config"), (200,)),
                           (lambda: d.json("GET", "/api/v1/videos?limit=5"), (200,))):
            t0 = time.time()
            try:
                st = call()[0]
            except Exception as e:  # noqa: BLE001 - any failure counts
                errors.append(repr(e))
                continue
            out.append((time.time() - t0) * 1000.0)
            if st not in want:
                errors.append(st)
        time.sleep(0.1)


def main():
    t = Tap()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, SLOW + 1000)
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < SLOW + 200:
        print("1..1\nok 1 # SKIP only %d descriptors allowed" % hard)
        return 0
    base = workdir()
    env = {"SERVE_DELAY_MS": "20", "MAX_CONCURRENT_VIDEOS": "2"}
    d = Daemon(base, env=env).start()
    try:
        before, errs0 = [], []
        probe(d, 5, before, errs0)

        sel = selectors.DefaultSelector()
        conns, refused = [], 0
        for i in range(SLOW):
            s = socket.socket()
            s.setblocking(True)
            try:
                s.bind(("127.0.1.%d" % (1 + i % ADDRS), 0))
                s.connect(("127.0.0.1", d.port))
            except OSError:
                refused += 1
                s.close()
                continue
            s.setblocking(False)
            conns.append([s, 0])
        t.ok(len(conns) >= SLOW * 0.9, "%d slow connections open from %d addresses (%d refused)"
             % (len(conns), ADDRS, refused))

        stop = threading.Event()
        closed = [0]

        def drip():
            while not stop.is_set():
                for c in conns:
                    if c[0] is None or c[1] >= len(REQ):
                        continue
                    try:
                        c[0].send(REQ[c[1]:c[1] + 1])
                        c[1] += 1
                    except OSError:
                        c[0].close()
                        c[0] = None
                        closed[0] += 1
                stop.wait(2.0)
        dripper = threading.Thread(target=drip, daemon=True)
        dripper.start()
        time.sleep(3)
        during, errs = [], []
        t0 = time.time()
        probe(d, ATTACK_S, during, errs)
        attack_s = time.time() - t0
        alive_slow = sum(1 for c in conns if c[0] is not None)
        stop.set()
        dripper.join()
        t.ok(not errs and len(during) > 100,
             "another client's %d requests (create, config, list) during %d s of attack all "
             "answered as they should (no 5xx, no refusal)" % (len(during), ATTACK_S), errs[:5])
        t.ok(max(during) < 10000, "none waited 10 s (slowest %.0f ms)" % max(during))
        t.ok(d.proc.poll() is None, "the daemon is alive")
        print("# figures: p50 %.1f ms, p99 %.1f ms before; p50 %.1f ms, p99 %.1f ms during "
              "%.0f s of %d slow connections (%d still open at the end, %d closed by the daemon)"
              % (pct(before, 50), pct(before, 99), pct(during, 50), pct(during, 99), attack_s,
                 len(conns), alive_slow, closed[0]))
        for c in conns:
            if c[0] is not None:
                c[0].close()
        t.ok(d.stop() == 0, "the daemon exits 0 on SIGTERM", d.log()[-1500:])
    finally:
        if d.proc:
            d.stop()
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
