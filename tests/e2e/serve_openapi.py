"""The OpenAPI document (doc/openapi.yaml) against `vidgen serve`: the
document the daemon serves is the YAML the build embedded, completed with
the pipeline's models and voices; it names every path doc/api.md documents;
and schemathesis, with all its checks (positive and negative data, status
codes, content types, response schemas and headers, Allow, auth, stateful
links create -> status/events -> cancel), finds nothing wrong, with API keys
and without. Prints TAP."""

import copy
import json
import os
import re
import subprocess
import sys

from serve_lib import Daemon, Tap, HERE, cleanup, workdir, vidgen_path

TOP = os.path.abspath(os.path.join(HERE, "..", ".."))
OPENAPI_YAML = os.path.join(TOP, "doc", "openapi.yaml")
API_MD = os.path.join(TOP, "doc", "api.md")
WEB = os.path.join(TOP, "web")
PIPELINE = os.path.join(HERE, "serve", "openapi.cfg")
CONFIG = os.path.join(HERE, "serve", "schemathesis.toml")
KEY = "openapi-test-key"
MEDIA_ID = "5b0e8c1a-7d2f-4e3a-9b6c-1f2e3d4c5b6a"
MODELS = ["claude-4-sonnet", "claude-3-haiku"]
VOICES = ["Joanna", "Matthew", "Ruth", "Stephen"]
# Bounded time: the whole run takes well under a minute on 2 CPUs.
ST_TIMEOUT = 300


def schemathesis_bin():
    st = os.environ.get("VIDGEN_SCHEMATHESIS")
    if st:
        return st
    venv = os.environ.get("VIDGEN_SCHEMATHESIS_VENV", "/opt/vidgen/schemathesis")
    return os.path.join(venv, "bin", "schemathesis")


def expected_document(keys):
    """doc/openapi.yaml with what the daemon fills in, or None without PyYAML."""
    try:
        import yaml
    except ImportError:
        return None
    with open(OPENAPI_YAML, encoding="utf-8") as f:
        doc = yaml.safe_load(f)
    doc = copy.deepcopy(doc)
    out = subprocess.run([vidgen_path(), "--version"], capture_output=True, text=True)
    doc["info"]["version"] = out.stdout.split()[1]
    props = doc["components"]["schemas"]["VideoRequest"]["properties"]
    props["model"]["enum"] = MODELS
    props["voice"]["enum"] = VOICES
    props["voice"]["default"] = "Joanna"
    cfg = doc["components"]["schemas"]["Config"]["properties"]
    cfg["models"]["const"] = MODELS
    cfg["voices"]["const"] = VOICES
    if not keys:
        for item in doc["paths"].values():
            for op in item.values():
                if isinstance(op, dict):
                    op.pop("security", None)
    return doc


def operations(doc):
    """{"GET /api/v1/config", ...} of an OpenAPI document."""
    ops = set()
    for path, item in doc["paths"].items():
        for method in item:
            if method in ("get", "put", "post", "delete", "options", "head", "patch"):
                ops.add("%s %s" % (method.upper(), path))
    return ops


def test_document(t, d, keys):
    st, h, body = d.request("GET", "/api/v1/openapi.json")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    t.ok(st == 200 and h.get("content-type") == "application/json" and isinstance(doc, dict),
         "GET /api/v1/openapi.json answers a JSON document", (st, h, body[:200]))
    if not isinstance(doc, dict):
        return None
    t.ok(doc.get("openapi", "").startswith("3.1."), "it is OpenAPI 3.1", doc.get("openapi"))
    want = expected_document(keys)
    if want is None:
        t.skip("PyYAML is not installed: the served document is not compared to the YAML")
    else:
        diffs = [k for k in set(want) | set(doc) if want.get(k) != doc.get(k)]
        t.ok(doc == want, "the served document is doc/openapi.yaml with the pipeline's "
             "models, voices and default voice%s" % ("" if keys else ", no security"), diffs)
    st, _, cfg = d.json("GET", "/api/v1/config")
    req = doc["components"]["schemas"]["VideoRequest"]["properties"]
    t.ok(req["model"].get("enum") == cfg["models"] and req["voice"].get("enum") == cfg["voices"],
         "the enums of model and voice are GET /api/v1/config's lists", (req, cfg))
    post = doc["paths"]["/api/v1/videos"]["post"]
    t.ok(("security" in post) == keys, "create asks for a bearer key only when the daemon "
         "has keys (%s)" % ("it has" if keys else "it has none"), post.get("security"))
    st, h, _ = d.request("OPTIONS", "/api/v1/openapi.json")
    t.ok(st == 204 and h.get("allow") == "GET, OPTIONS", "OPTIONS /api/v1/openapi.json: 204",
         (st, h))
    st, h, _ = d.request("POST", "/api/v1/openapi.json", b"")
    t.ok(st == 405 and h.get("allow") == "GET, OPTIONS", "POST /api/v1/openapi.json: 405 "
         "with Allow", (st, h))
    return doc


def test_contract(t, doc):
    """Every endpoint doc/api.md documents is in the document, and back."""
    with open(API_MD, encoding="utf-8") as f:
        md = f.read()
    documented = set()
    for m in re.finditer(r"`(GET|POST|DELETE) (/[^` ?]*)", md):
        path = m.group(2).replace("{id}", "{video_id}").replace("/assets/NAME", "/assets/{name}")
        documented.add("%s %s" % (m.group(1), path))
    ops = {o for o in operations(doc) if not o.startswith("OPTIONS ")}
    # doc/api.md writes the media path with its file name.
    ops = {o.replace("/media/{file}", "/media/{video_id}.mp4") for o in ops}
    t.ok(documented == ops, "the document's operations are doc/api.md's endpoints",
         {"only in api.md": sorted(documented - ops), "only in openapi": sorted(ops - documented)})
    t.ok("/api/v1/openapi.json" in md, "doc/api.md documents GET /api/v1/openapi.json")


def run_schemathesis(t, d, st_bin, base, name, extra):
    report = os.path.join(base, "st-%s.txt" % name)
    cmd = [st_bin, "--config-file", CONFIG, "run",
           "http://127.0.0.1:%d/api/v1/openapi.json" % d.port, "--no-color",
           "--report", "junit", "--report-dir", os.path.join(base, "st-report-" + name)] + extra
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["SCHEMATHESIS_HOOKS"] = ""
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env,
                           cwd=base, timeout=ST_TIMEOUT)
        out, rc = p.stdout.decode(errors="replace"), p.returncode
    except subprocess.TimeoutExpired as e:
        out, rc = (e.stdout or b"").decode(errors="replace"), "timeout"
    with open(report, "w") as f:
        f.write(out)
    summary = out[out.find("=== SUMMARY"):] if "=== SUMMARY" in out else out[-3000:]
    failures = out[out.find("=== FAILURES"):out.find("=== WARNINGS")] if "FAILURES" in out else ""
    m = re.search(r"(\d+) generated, (\d+) passed", out)
    t.ok(rc == 0 and "passed" in out,
         "schemathesis %s: no failure (%s test cases)" % (name, m.group(1) if m else "?"),
         (failures or summary)[:6000] + "\n(exit %s; whole output in %s)" % (rc, report))
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):
        if phase in extra_phases(extra):
            t.ok(re.search(r"✅\s+%s" % phase, out) is not None,
                 "schemathesis %s: the %s phase ran and passed" % (name, phase.lower()),
                 summary[:1500])
    return out


def extra_phases(extra):
    if "--phases" in extra:
        return [p.capitalize() for p in extra[extra.index("--phases") + 1].split(",")]
    return ["Examples", "Coverage", "Fuzzing", "Stateful"]


def count_codes(d):
    _, _, body = d.request("GET", "/metrics")
    codes = {}
    for m in re.finditer(r'vidgen_http_requests_total\{code="(\d+)"\} (\d+)', body.decode()):
        codes[int(m.group(1))] = int(m.group(2))
    return codes


def clean_log(t, d, what):
    log = d.log()
    bad = [line for line in log.splitlines()
           if "AddressSanitizer" in line or "runtime error:" in line or "LeakSanitizer" in line]
    t.ok(not bad, "%s: the daemon's log has no sanitizer report" % what, "\n".join(bad[:20]))


def main():
    t = Tap()
    st_bin = schemathesis_bin()
    if not os.access(st_bin, os.X_OK):
        t.skip("schemathesis is not installed at %s (scripts/install-deps.sh installs it)"
               % st_bin)
        return t.done()
    base = workdir()
    try:
        for keys in (True, False):
            name = "with-keys" if keys else "open"
            wd = os.path.join(base, name)
            os.makedirs(os.path.join(wd, "data", "videos"))
            # A stored video, so that /media answers 200, 206 and 416 too.
            with open(os.path.join(wd, "data", "videos", MEDIA_ID + ".mp4"), "wb") as f:
                f.write(bytes(range(256)) * 16)
            env = {"MAX_CONCURRENT_VIDEOS": "4", "VIDGEN_HTTP_THREADS": "2"}
            if keys:
                env["VIDGEN_API_KEYS"] = KEY
            else:
                # The open daemon keeps a public demo's create limits
                # (doc/api.md, "Fair share"): its 429s must match the document.
                env.update({"VIDGEN_CREATE_RATE": "2", "VIDGEN_CREATE_BURST": "5",
                            "VIDGEN_QUEUED_PER_CLIENT": "10"})
            d = Daemon(wd, env=env, pipeline=PIPELINE, web_dir=WEB).start()
            try:
                doc = test_document(t, d, keys)
                if keys and doc:
                    test_contract(t, doc)
                    st, _, page = d.request("GET", "/")
                    t.ok(b'href="/api/v1/openapi.json"' in page,
                         "the web page's footer links the OpenAPI document")
                extra = ["-H", "Authorization: Bearer " + KEY] if keys else []
                if not keys:
                    # The second run: the stateful links, creates without a key.
                    extra += ["--phases", "examples,stateful", "--max-examples", "15"]
                before = count_codes(d)
                run_schemathesis(t, d, st_bin, wd, name, extra)
                after = count_codes(d)
                created = after.get(202, 0) - before.get(202, 0)
                t.ok(created > 0, "schemathesis %s: jobs were created and cancelled (%d 202s)"
                     % (name, created), after)
                if not keys:
                    t.ok(after.get(429, 0) > before.get(429, 0),
                         "schemathesis open: creates beyond the client's share were refused "
                         "(429) as the document says (%d)" % (after.get(429, 0) - before.get(429, 0)))
                if keys:
                    t.ok(after.get(401, 0) > before.get(401, 0),
                         "schemathesis with keys: requests without the key were refused (401)")
                    _, _, metrics = d.request("GET", "/metrics")
                    m = re.search(r'vidgen_jobs\{status="completed"\} (\d+)', metrics.decode())
                    t.ok(m and int(m.group(1)) > 0, "schemathesis with keys: jobs ran to the "
                         "end (%s completed)" % (m.group(1) if m else 0))
            finally:
                rc = d.stop()
            t.ok(rc == 0, "%s: the daemon exits 0 on SIGTERM" % name, rc)
            clean_log(t, d, name)
    finally:
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    sys.exit(main())
