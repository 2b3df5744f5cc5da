"""Stores N jobs through POST /api/v1/videos over keep-alive connections
(8 threads), so the status benchmark runs against a known number of jobs.
usage: fill.py PORT N"""
import http.client
import json
import sys
import threading

port, total = int(sys.argv[1]), int(sys.argv[2])
body = json.dumps({"prompt": "Explain the Pythagorean theorem with visual proof",
                   "model": "claude-4-sonnet", "voice": "Joanna"})
failed = []


def worker(n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for _ in range(n):
        c.request("POST", "/api/v1/videos", body, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 202:
            failed.append(r.status)
    c.close()


threads = [threading.Thread(target=worker, args=(total // 8 + (i < total % 8),))
           for i in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
if failed:
    sys.exit("fill: %d creates failed (first status %d)" % (len(failed), failed[0]))
