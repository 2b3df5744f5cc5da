"""How `vidgen serve` picks and shows its job store (run by serve_pg.sh, on a
throw-away PostgreSQL server): VIDGEN_DB when --db is not given, a SQLite
path or a postgresql:// URL; a URL's password in no message; a database
whose schema is newer than the binary refused at start. TAP."""

import os
import subprocess

from serve_lib import Daemon, Tap, PIPELINE, vidgen_path, workdir, cleanup, store_for, \
    store_rows

SECRET = "Sup3rS3cretPw"


def serve_fails(base, db_args, env=None):
    """Starts a daemon expected to fail: (exit status, stderr)."""
    cmd = [vidgen_path(), "serve", "-p", PIPELINE, "-l", "127.0.0.1:0",
           "--data-dir", os.path.join(base, "data")] + db_args
    try:
        p = subprocess.run(cmd, env=dict(os.environ, **(env or {})), capture_output=True,
                           timeout=30)
        return p.returncode, p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired:
        return "timeout", ""


def main():
    t = Tap()
    base = workdir()
    try:
        bad = "postgresql://vidgen:%s@127.0.0.1:1/jobs" % SECRET
        rc, err = serve_fails(base, ["--db", bad])
        t.ok(rc not in (0, "timeout") and "127.0.0.1" in err and SECRET not in err and
             "vidgen:***@" in err,
             "an unreachable PostgreSQL URL: serve exits naming it, password hidden", err)
        rc, err = serve_fails(base, [], env={"VIDGEN_DB": bad})
        t.ok(rc not in (0, "timeout") and "127.0.0.1" in err and SECRET not in err,
             "VIDGEN_DB is the store when --db is not given", err)

        if not os.environ.get("VIDGEN_TEST_PG"):
            t.skip("no PostgreSQL server: VIDGEN_TEST_PG is not set")
        else:
            os.makedirs(os.path.join(base, "env"))
            url = store_for(os.path.join(base, "env"))
            d = Daemon(os.path.join(base, "env"), env={"VIDGEN_DB": url})
            d.db = None
            d.start()
            st, _, doc = d.create("Explain the Pythagorean theorem with visual proof")
            rows = store_rows(url, "SELECT id FROM jobs")
            t.ok(st == 202 and [r[0] for r in rows] == [doc["video_id"]],
                 "VIDGEN_DB=postgresql://...: the job is in that database", (st, rows))
            d.stop()
            store_rows(url, "INSERT INTO vidgen_schema(version) VALUES (9999)")
            rc, err = serve_fails(base, ["--db", url])
            t.ok(rc not in (0, "timeout") and "version 9999" in err and
                 "newer than this vidgen" in err,
                 "a database newer than the binary: serve refuses to start, saying so", err)

        path = os.path.join(base, "fromenv.db")
        os.makedirs(os.path.join(base, "sqlite"))
        d = Daemon(os.path.join(base, "sqlite"), env={"VIDGEN_DB": path})
        d.db = None
        d.start()
        st, _, _ = d.create("Explain the Pythagorean theorem with visual proof")
        d.stop()
        t.ok(st == 202 and os.path.exists(path), "VIDGEN_DB=PATH: a SQLite store there",
             d.log())
    finally:
        cleanup(base)
    return t.done()


if __name__ == "__main__":
    raise SystemExit(main())
