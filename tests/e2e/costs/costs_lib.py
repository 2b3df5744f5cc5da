"""What the costs_*.sh tests share: `vidgen run` on a pipeline of this
folder, the Polly/Bedrock/OpenAI protocol fake (tests/fakes/cloud_fake.py)
on loopback, and an espeak-ng wrapper that counts its runs."""

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
TOP_SRC = os.environ.get("top_srcdir") or os.path.join(HERE, "..", "..", "..")
sys.path.insert(0, os.path.dirname(HERE))
from serve_lib import Tap, vidgen_path  # noqa: E402,F401

SECRET = "vidgen/test+secret/KEY0123456789abcdefghij"


def workdir():
    base = os.environ.get("TMP") or tempfile.gettempdir()
    return tempfile.mkdtemp(prefix="costs.", dir=base)


class Fake:
    """cloud_fake.py on a loopback port, and the environment pointing at it."""

    def __init__(self, work):
        port_file = os.path.join(work, "fake.port")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOP_SRC, "tests", "fakes", "cloud_fake.py"),
             "--port-file", port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(port_file):
                break
            time.sleep(0.1)
        with open(port_file) as f:
            self.url = "http://127.0.0.1:%s" % f.read().strip()
        self.env = {
            "AWS_ACCESS_KEY_ID": "AKIDVIDGENTEST", "AWS_SECRET_ACCESS_KEY": SECRET,
            "AWS_REGION": "eu-west-3", "AWS_SHARED_CREDENTIALS_FILE": os.path.join(work, "none"),
            "AWS_CONFIG_FILE": os.path.join(work, "none"),
            "BEDROCK_ENDPOINT": self.url, "POLLY_ENDPOINT": self.url,
            "OPENAI_BASE_URL": self.url + "/v1", "OPENAI_API_KEY": "sk-vidgen-test-key",
            "NO_PROXY": "127.0.0.1", "no_proxy": "127.0.0.1", "VIDGEN_HTTP_RETRY_BASE_MS": "50"}

    def log(self):
        with urllib.request.urlopen(self.url + "/__fake/log") as r:
            return json.load(r)

    def calls(self, service):
        return sum(1 for e in self.log() if e["service"] == service and e["status"] == 200)

    def script(self, doc):
        req = urllib.request.Request(self.url + "/__fake/script", data=json.dumps(doc).encode(),
                                     method="POST")
        urllib.request.urlopen(req).read()

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and k.lower() not in ("http_proxy", "https_proxy",
                                                              "all_proxy")}
    env.update(extra or {})
    return env


def counting_espeak(work):
    """An espeak-ng wrapper that appends a line to work/espeak.count per run;
    returns (program, a function giving the count so far)."""
    os.makedirs(work, exist_ok=True)
    count = os.path.join(work, "espeak.count")
    prog = os.path.join(work, "espeak-counting")
    with open(prog, "w") as f:
        f.write('#!/bin/sh\necho run >> "%s"\nexec espeak-ng "$@"\n' % count)
    os.chmod(prog, 0o755)

    def runs():
        try:
            with open(count) as f:
                return len(f.read().splitlines())
        except OSError:
            return 0
    return prog, runs


def run(cfg, question, out, env, *args):
    """vidgen run --json; returns (exit status, the VideoResponse or None,
    stderr text)."""
    p = subprocess.run([vidgen_path(), "run", "-p", os.path.join(HERE, cfg), "-o", out,
                        "--json"] + list(args) + [question], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        doc = json.loads(p.stdout.decode())
    except ValueError:
        doc = None
    return p.returncode, doc, p.stderr.decode(errors="replace")


def start(cmd, env):
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def stage_dir(out, doc, stage="narrate"):
    return os.path.join(out, doc["video_id"], "stages", stage)


def narration(out, doc, stage="narrate"):
    with open(os.path.join(stage_dir(out, doc, stage), "narration.json")) as f:
        return json.load(f)


def wav_whole(path):
    """1 when path is a complete PCM WAV: its data chunk holds every frame
    its header announces and the file ends there."""
    try:
        with wave.open(path, "rb") as w:
            frames = w.getnframes()
            want = frames * w.getsampwidth() * w.getnchannels()
            data = w.readframes(frames)
        return frames > 0 and len(data) == want
    except (OSError, EOFError, wave.Error):
        return False


def counters(doc, stage):
    for s in (doc.get("usage") or {}).get("stages", []):
        if s["stage"] == stage:
            return s["counters"]
    return {}


def tree_bytes(path):
    total = files = 0
    for root, _, names in os.walk(path):
        for n in names:
            total += os.path.getsize(os.path.join(root, n))
            files += 1
    return total, files
