#!/usr/bin/env python3
"""Soak: a daemon running jobs under mixed load for MINUTES (default 10):
creates, status reads, lists, cancels, and a few hundred open /events
streams. Samples the daemon's RSS and open descriptors each minute and
prints them, with the answers by status class and the log's error lines.
Flat means within 10% of the first sample after warm-up (minute 2).

    bench/reliability/soak.py [MINUTES] [STREAMS]     (from the source tree,
    top_builddir pointing at a build: default _build/sanitize)
"""
import os
import random
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "e2e"))
os.environ.setdefault("top_builddir", os.path.join(TOP, "_build", "sanitize"))
build = os.environ["top_builddir"]
os.environ.setdefault("VIDGEN_PLUGIN_PATH", "%s/plugins/.libs:%s/tests/.libs" % (build, build))
from serve_lib import Daemon, cleanup, workdir  # noqa: E402

PROMPTS = ["Explain the Pythagorean theorem with visual proof",
           "Why are prime numbers infinite? Explain Euclid."]


def proc_figures(pid):
    with open("/proc/%d/status" % pid) as f:
        rss = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]
    return rss, len(os.listdir("/proc/%d/fd" % pid))


class Load:
    def __init__(self, d):
        self.d = d
        self.codes = {}
        self.ids = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.streams = 0
        self.bad = {}

    def count(self, st, what="stream"):
        with self.lock:
            k = "%dxx" % (st // 100) if st else "error"
            self.codes[k] = self.codes.get(k, 0) + 1
            if st >= 500 or not st:
                key = "%s %s" % (what, st)
                self.bad[key] = self.bad.get(key, 0) + 1

    def client(self, seed):
        rnd = random.Random(seed)
        while not self.stop.is_set():
            r = rnd.random()
            # About 2 creates a second in all: what 4 workers finish, so the
            # queue does not fill (a full queue answers 503, by design).
            what = "create" if r < 0.015 else "cancel" if r < 0.02 else "status" if r < 0.6 \
                else "list" if r < 0.8 else "config"
            try:
                if r < 0.015:
                    st, _, doc = self.d.create(rnd.choice(PROMPTS))
                    if doc and doc.get("video_id"):
                        with self.lock:
                            self.ids.append(doc["video_id"])
                elif r < 0.02 and self.ids:
                    st = self.d.request("DELETE", "/api/v1/videos/" + rnd.choice(self.ids))[0]
                elif r < 0.6 and self.ids:
                    st = self.d.status(rnd.choice(self.ids))[0]
                elif r < 0.8:
                    st = self.d.json("GET", "/api/v1/videos?limit=20")[0]
                else:
                    st = self.d.json("GET", "/api/v1/config")[0]
            except Exception:  # noqa: BLE001
                st = 0
            self.count(st, what)
            time.sleep(rnd.uniform(0.01, 0.05))

    def stream(self, seed):
        """Keeps one /events stream open, reopening it when it ends."""
        rnd = random.Random(seed)
        while not self.stop.is_set():
            with self.lock:
                vid = rnd.choice(self.ids) if self.ids else None
            if vid is None:
                time.sleep(0.2)
                continue
            # A client may hold 32 streams (doc/api.md, "Fair share"): the
            # streams come from 127.0.2.1-20, at most 20 from each.
            s = socket.socket()
            s.bind(("127.0.2.%d" % (1 + seed % 20), 0))
            s.connect(("127.0.0.1", self.d.port))
            s.settimeout(2)
            s.sendall(("GET /api/v1/videos/%s/events HTTP/1.1\r\nHost: x\r\n"
                       "Accept: text/event-stream\r\n\r\n" % vid).encode())
            with self.lock:
                self.streams += 1
            try:
                first = s.recv(64)
                if first.startswith(b"HTTP/1.1 "):
                    self.count(int(first[9:12]))
                    if first[9:12] != b"200":
                        time.sleep(1)  # refused: try again later, not at once
                while not self.stop.is_set():
                    try:
                        if not s.recv(4096):
                            break
                    except socket.timeout:
                        continue
            except OSError:
                self.count(0)
            finally:
                s.close()
                with self.lock:
                    self.streams -= 1


def main():
    minutes = float(sys.argv[1]) if len(sys.argv) > 1 else 10
    nstreams = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    base = workdir()
    env = {"SERVE_DELAY_MS": "300", "MAX_CONCURRENT_VIDEOS": "4"}
    d = Daemon(base, env=env).start()
    load = Load(d)
    threads = [threading.Thread(target=load.client, args=(i,), daemon=True) for i in range(4)]
    threads += [threading.Thread(target=load.stream, args=(100 + i,), daemon=True)
                for i in range(nstreams)]
    for th in threads:
        th.start()
    print("# soak: %.0f min, %d /events streams, 4 clients; load %s" %
          (minutes, nstreams, open("/proc/loadavg").read().split()[:3]))
    print("minute  rss_mb  fds  streams  jobs  answers")
    samples = []
    t0 = time.time()
    for m in range(1, int(minutes) + 1):
        time.sleep(max(0, t0 + 60 * m - time.time()))
        rss, fds = proc_figures(d.proc.pid)
        samples.append((rss, fds))
        with load.lock:
            codes = dict(load.codes)
            jobs = len(load.ids)
        print("%6d  %6.1f  %4d  %7d  %4d  %s" % (m, rss / 1024.0, fds, load.streams, jobs,
                                                  codes), flush=True)
    load.stop.set()
    for th in threads:
        th.join(timeout=5)
    rc = d.stop()
    errors = [l for l in d.log().splitlines() if " error " in l or "ERROR" in l]
    warm = samples[1] if len(samples) > 1 else samples[0]
    rss_dev = max(abs(s[0] - warm[0]) for s in samples[1:]) / warm[0] if len(samples) > 1 else 0
    fd_dev = max(abs(s[1] - warm[1]) for s in samples[1:]) / warm[1] if len(samples) > 1 else 0
    print("# after warm-up (minute 2): RSS within %.1f%%, descriptors within %.1f%%; "
          "5xx answers: %d; log error lines: %d; exit %s" %
          (100 * rss_dev, 100 * fd_dev, load.codes.get("5xx", 0), len(errors), rc))
    print("# 5xx and failures by request: %s" % load.bad)
    for l in errors[:10]:
        print("#   " + l)
    cleanup(base)
    return 0


if __name__ == "__main__":
    sys.exit(main())
