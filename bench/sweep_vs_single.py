#!/usr/bin/env python3
"""sweep_vs_single.py — what a sweep costs over submitting its runs one by one: the wall time of 8
tiny runs (a 4 x 2 grid of learning_rate x optimizer, 2-16-2 net, 400 rows, EPOCHS epochs) queued
as one POST /api/v1/sweeps, against the same 8 runs as 8 POST /api/v1/runs, from the first POST
until every run has ended; ROUNDS rounds, alternating which goes first; medians and the ratio.

Usage: python3 bench/sweep_vs_single.py [ROUNDS] [EPOCHS]     (default 5 rounds, 10 epochs)
Environment: MLPD_BIN (default build/mlpd). One daemon, default --workers (1), fresh data dir.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.environ.get("MLPD_BIN", os.path.join(ROOT, "build", "mlpd"))
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
EPOCHS = int(sys.argv[2]) if len(sys.argv) > 2 else 10
GRID = {"learning_rate": [0.3, 0.1, 0.03, 0.01], "optimizer": ["momentum", "adam"]}


def call(base, method, path, body=None, ctype="application/json"):
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def wait_runs(base, ids):
    for rid in ids:
        while call(base, "GET", "/api/v1/runs/" + rid)["status"] in ("queued", "running"):
            time.sleep(0.01)


def main():
    work = tempfile.mkdtemp(prefix="mlpd-sweep-bench-")
    port_file = os.path.join(work, "port")
    proc = subprocess.Popen([BIN, "--listen", "127.0.0.1:0", "--port-file", port_file,
                             "--data-dir", os.path.join(work, "data"), "--quiet"],
                            stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(port_file) and open(port_file).read().strip():
                break
            time.sleep(0.05)
        base = "http://127.0.0.1:" + open(port_file).read().strip()
        rnd = random.Random(1)
        rows = ["a,b,side"]
        for _ in range(400):
            a, b = rnd.uniform(-1, 1), rnd.uniform(-1, 1)
            rows.append("%.4f,%.4f,%s" % (a, b, "up" if a + b > 0 else "down"))
        ds = call(base, "POST", "/api/v1/datasets?name=bench", ("\n".join(rows) + "\n").encode(),
                  "text/csv")["id"]
        run = {"dataset_id": ds, "task": "classification", "target": "side",
               "params": {"hidden": [16], "epochs": EPOCHS}}
        single, sweep = [], []
        for rd in range(ROUNDS):
            for kind in (("single", "sweep") if rd % 2 == 0 else ("sweep", "single")):
                t0 = time.perf_counter()
                if kind == "single":
                    ids = []
                    for lr in GRID["learning_rate"]:
                        for opt in GRID["optimizer"]:
                            body = json.loads(json.dumps(run))
                            body["params"].update({"learning_rate": lr, "optimizer": opt})
                            ids.append(call(base, "POST", "/api/v1/runs", body)["id"])
                else:
                    sw = call(base, "POST", "/api/v1/sweeps", dict(run, grid=GRID))
                    ids = [r["run_id"] for r in sw["runs"]]
                wait_runs(base, ids)
                (single if kind == "single" else sweep).append(time.perf_counter() - t0)
        ms, mw = statistics.median(single), statistics.median(sweep)
        load = os.getloadavg()[0]
        print("8 runs x %d epochs, %d rounds; wall s single: %s; sweep: %s" %
              (EPOCHS, ROUNDS, ", ".join("%.3f" % t for t in single),
               ", ".join("%.3f" % t for t in sweep)))
        print("| 8 tiny runs, %d epochs each, until all ended | %.3f s | %.3f s | %.3f | %.1f |" %
              (EPOCHS, ms, mw, mw / ms, load))
    finally:
        proc.terminate()
        proc.wait()
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
