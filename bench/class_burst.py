"""class_burst.py — the driver of bench/class_burst.sh (issue 16, "Class burst"); see there.

python3 bench/class_burst.py MLPD ROUNDS WORKERS_LIST OVERHEAD_N

MLPD: the mlpd binary. ROUNDS: rounds of the burst. WORKERS_LIST: comma-separated --workers
values, "default" meaning the flag left out. OVERHEAD_N: 1-epoch runs of the overhead part.

The 40 fits (the same in mlpd and scikit-learn):
- 20 classifiers on iris (150 x 4, 3 classes): hidden [16] relu, softmax + cross entropy, adam
  lr 0.001, batch 16, 100 epochs, seed i;
- 20 denoising autoencoders on digits (1,797 x 64, pixels / 16): hidden [32, 8, 32] relu,
  linear output, squared loss, adam lr 0.001, batch 32, 60 epochs, gaussian noise std 0.3
  drawn afresh every epoch, seed i.
Both sides: no validation split, no standardisation, no weight decay, no early stop, shuffled
mini-batches. scikit-learn gets the noise by one partial_fit(X + noise, X) per epoch (one pass
over shuffled mini-batches, the optimiser state kept), in a 2-process pool with one BLAS thread
per process (2 cores). mlpd gets the 40 POSTs at once (40 client threads), and each thread then
waits on its run's event stream, which ends with the run.
"""
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time

N_CLF, N_AE = 20, 20
CLF = dict(hidden=[16], epochs=100, batch=16)
AE = dict(hidden=[32, 8, 32], epochs=60, batch=32, std=0.3)


def data():
    from sklearn.datasets import load_digits, load_iris
    iris = load_iris()
    digits = load_digits()
    Xi, yi = iris.data.astype("float32"), [str(iris.target_names[t]) for t in iris.target]
    Xd = (digits.data / 16.0).astype("float32")
    return Xi, yi, Xd


def iris_csv(Xi, yi):
    lines = ["sl,sw,pl,pw,species"]
    lines += [",".join(f"{v:.1f}" for v in x) + "," + y for x, y in zip(Xi, yi)]
    return ("\n".join(lines) + "\n").encode()


def digits_csv(Xd):
    lines = [",".join(f"p{i}" for i in range(64))]
    lines += [",".join(f"{v:.4g}" for v in x) for x in Xd]
    return ("\n".join(lines) + "\n").encode()


def tiny_csv():
    lines = ["x1,x2,kind"]
    for i in range(10):
        lines += [f"0.{i},0.{9 - i},low", f"2.{i},2.{9 - i},high"]
    return ("\n".join(lines) + "\n").encode()


# ---- mlpd ----

class Daemon:
    def __init__(self, binary, workers):
        self.tmp = tempfile.mkdtemp(prefix="mlpd-burst.")
        args = [binary, "--listen", "127.0.0.1:0", "--port-file", f"{self.tmp}/port",
                "--data-dir", f"{self.tmp}/var", "--quiet"]
        if workers != "default":
            args += ["--workers", workers]
        self.log = open(f"{self.tmp}/mlpd.log", "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(100):
            if os.path.exists(f"{self.tmp}/port") and open(f"{self.tmp}/port").read().strip():
                break
            time.sleep(0.05)
        self.port = int(open(f"{self.tmp}/port").read())

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)

    def req(self, method, path, body=None, ctype="application/json", c=None):
        """One request; on connection c (kept open) if given, else on one of its own."""
        own = c is None
        c = c or self.conn()
        c.request(method, path, body=body, headers={"Content-Type": ctype} if body else {})
        r = c.getresponse()
        d = r.read()
        if own:
            c.close()
        if r.status >= 300:
            raise RuntimeError(f"{method} {path}: {r.status} {d[:300]!r}")
        return json.loads(d) if d else None

    def wait_events(self, run_id, c=None):
        """Blocks until the run's event stream ends (it ends with the run)."""
        c = c or self.conn()
        c.request("GET", f"/api/v1/runs/{run_id}/events")
        r = c.getresponse()
        while r.read(65536):
            pass
        c.close()

    def cpu_seconds(self):
        """The daemon's CPU-seconds so far (utime + stime, every thread): what the load moves
        least."""
        f = open(f"/proc/{self.p.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.p.terminate()
        self.p.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.tmp])


def epoch_seconds(d, rid):
    """The sum of a run's epoch_seconds metric: its training compute."""
    m = d.req("GET", f"/api/v1/runs/{rid}/metrics?name=epoch_seconds")
    pts = m.get("points") or m.get("items") or m.get("metrics") or m
    if isinstance(pts, dict):
        pts = next(v for v in pts.values() if isinstance(v, list))
    return sum(float(p["value"] if isinstance(p, dict) else p) for p in pts)


def clf_body(ds, i):
    return {"dataset_id": ds, "task": "classification", "target": "species",
            "model_name": f"iris{i}", "validation": {"fraction": 0},
            "params": {"hidden": CLF["hidden"], "activation": "relu", "optimizer": "adam",
                       "learning_rate": 0.001, "batch_size": CLF["batch"],
                       "epochs": CLF["epochs"], "standardize": False, "seed": i + 1}}


def ae_body(ds, i):
    return {"dataset_id": ds, "task": "autoencoder", "model_name": f"digits{i}",
            "validation": {"fraction": 0},
            "params": {"hidden": AE["hidden"], "activation": "relu",
                       "output_activation": "linear", "optimizer": "adam",
                       "learning_rate": 0.001, "batch_size": AE["batch"],
                       "epochs": AE["epochs"], "standardize": False,
                       "noise": {"type": "gaussian", "std": AE["std"]}, "seed": i + 1}}


def mlpd_burst(binary, workers, csvs):
    d = Daemon(binary, workers)
    try:
        ds_i = d.req("POST", "/api/v1/datasets?name=iris", csvs[0], "text/csv")["id"]
        ds_d = d.req("POST", "/api/v1/datasets?name=digits", csvs[1], "text/csv")["id"]
        bodies = [json.dumps(clf_body(ds_i, i)).encode() for i in range(N_CLF)]
        bodies += [json.dumps(ae_body(ds_d, i)).encode() for i in range(N_AE)]
        ends, ids, errs = [None] * len(bodies), [None] * len(bodies), []
        go = threading.Barrier(len(bodies) + 1)
        cpu0 = d.cpu_seconds()

        def one(k):
            try:
                c = d.conn()  # one keep-alive connection per client: 40 at most at once
                go.wait()
                ids[k] = d.req("POST", "/api/v1/runs", bodies[k], c=c)["id"]
                d.wait_events(ids[k], c)
                ends[k] = time.perf_counter()
            except Exception as e:  # reported below
                errs.append(e)

        th = [threading.Thread(target=one, args=(k,)) for k in range(len(bodies))]
        for t in th:
            t.start()
        t0 = time.perf_counter()
        go.wait()
        for t in th:
            t.join()
        if errs:
            raise errs[0]
        wall = max(ends) - t0
        runs = [d.req("GET", f"/api/v1/runs/{r}") for r in ids]
        bad = [r["id"] + ":" + r["status"] for r in runs if r["status"] != "succeeded"]
        if bad:
            raise RuntimeError(f"runs not succeeded: {bad}")
        cpu = d.cpu_seconds() - cpu0
        epoch_s = sum(epoch_seconds(d, r) for r in ids)
        return wall, epoch_s, cpu
    finally:
        d.stop()


def mlpd_overhead(binaries, n):
    """n 1-epoch runs one after another on each binary's default daemon, the daemons taking
    turns run by run (ABBA): per binary, [(POST -> end of event stream, epoch_seconds)]."""
    ds = [Daemon(b, "default") for b in binaries]
    try:
        ids = [d.req("POST", "/api/v1/datasets?name=tiny", tiny_csv(), "text/csv")["id"]
               for d in ds]
        out = [[] for _ in ds]
        for i in range(n):
            for k in (range(len(ds)) if i % 2 == 0 else reversed(range(len(ds)))):
                out[k].append(overhead_run(ds[k], ids[k], i))
        return out
    finally:
        for d in ds:
            d.stop()


def overhead_run(d, ds, i):
    """One 1-epoch run on daemon d (dataset ds): (wall, epoch_seconds)."""
    body = json.dumps({"dataset_id": ds, "task": "classification", "target": "kind",
                       "model_name": "tiny", "validation": {"fraction": 0},
                       "params": {"hidden": [4], "epochs": 1, "batch_size": 4,
                                  "seed": i + 1}}).encode()
    c = d.conn()
    t0 = time.perf_counter()
    rid = d.req("POST", "/api/v1/runs", body, c=c)["id"]
    d.wait_events(rid, c)
    wall = time.perf_counter() - t0
    return (wall, epoch_seconds(d, rid))


# ---- scikit-learn ----

def _pool_init():
    global _D
    import warnings
    warnings.filterwarnings("ignore")  # ConvergenceWarning: max_iter is the epoch count here
    _D = data()


def _fit(job):
    import numpy as np
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    kind, i = job
    Xi, yi, Xd = _D
    if kind == "clf":
        m = MLPClassifier(hidden_layer_sizes=CLF["hidden"], activation="relu", solver="adam",
                          learning_rate_init=0.001, batch_size=CLF["batch"],
                          max_iter=CLF["epochs"], alpha=0.0, tol=0.0,
                          n_iter_no_change=CLF["epochs"] + 1, shuffle=True, random_state=i)
        m.fit(Xi, yi)
        return m.n_iter_
    m = MLPRegressor(hidden_layer_sizes=AE["hidden"], activation="relu", solver="adam",
                     learning_rate_init=0.001, batch_size=AE["batch"], alpha=0.0, shuffle=True,
                     random_state=i)
    rng = np.random.default_rng(i)
    for _ in range(AE["epochs"]):
        m.partial_fit(Xd + rng.normal(0, AE["std"], Xd.shape).astype("float32"), Xd)
    return m.n_iter_


def sklearn_burst(pool):
    jobs = [("clf", i) for i in range(N_CLF)] + [("ae", i) for i in range(N_AE)]
    t0 = time.perf_counter()
    iters = pool.map(_fit, jobs, chunksize=1)
    wall = time.perf_counter() - t0
    assert iters[:N_CLF] == [CLF["epochs"]] * N_CLF and iters[N_CLF:] == [AE["epochs"]] * N_AE, \
        iters
    return wall


def main():
    binary, rounds, wlist, n_over = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), \
        int(sys.argv[4])
    Xi, yi, Xd = data()
    csvs = (iris_csv(Xi, yi), digits_csv(Xd))
    load = [open("/proc/loadavg").read().split()[:3]]
    print(f"== load: {' '.join(load[0])}; nproc {os.cpu_count()}", flush=True)
    ctx = multiprocessing.get_context("fork")
    os.environ["OPENBLAS_NUM_THREADS"] = "1"  # inherited by the pool: 2 processes x 1 thread
    pool = ctx.Pool(2, initializer=_pool_init)
    del os.environ["OPENBLAS_NUM_THREADS"]
    pool.map(_fit, [("clf", 99)] * 2)  # both workers warm (imports done)
    # MLPD_BASE=/path/to/an/older/mlpd: each --workers value also on that binary, right after
    # (a before/after in one run); its rows are labelled "base:W".
    sides = [(w, binary, w) for w in wlist]
    if os.environ.get("MLPD_BASE"):
        sides = [s for w in wlist for s in ((w, binary, w), (f"base:{w}", os.environ["MLPD_BASE"], w))]
    wlist = [label for label, _, _ in sides]
    sk, ml, cpu = [], {w: [] for w in wlist}, {w: [] for w in wlist}
    for r in range(rounds):
        s = sklearn_burst(pool)
        sk.append(s)
        print(f"== round {r + 1}: scikit-learn (2-process pool) {s:.2f} s", flush=True)
        # with MLPD_BASE, each pair in ABBA order: this binary first in odd rounds, base first
        # in even ones, so neither side always runs on the cores the other just warmed
        order = sides
        if os.environ.get("MLPD_BASE") and r % 2 == 1:
            order = [s for i in range(0, len(sides), 2) for s in (sides[i + 1], sides[i])]
        for w, b, flag in order:
            t, ep, c = mlpd_burst(b, flag, csvs)
            ml[w].append(t)
            cpu[w].append(c)
            print(f"== round {r + 1}: mlpd --workers {w}: {t:.2f} s, of which the 3,200 epochs' "
                  f"epoch_seconds sum to {ep:.2f} s; daemon CPU {c:.2f} s "
                  f"(scikit-learn / mlpd {s / t:.2f})", flush=True)
    pool.close()
    pool.join()
    base = os.environ.get("MLPD_BASE")
    overs = mlpd_overhead([binary] + ([base] if base else []), n_over) if n_over > 0 else []
    load.append(open("/proc/loadavg").read().split()[:3])
    print(f"== load: {' '.join(load[1])}")
    skm = statistics.median(sk)
    res = {"rounds": rounds, "load_before": load[0], "load_after": load[1],
           "sklearn_seconds": sk, "sklearn_median": round(skm, 3), "mlpd": {}}
    for w in wlist:
        m = statistics.median(ml[w])
        res["mlpd"][w] = {"seconds": [round(x, 3) for x in ml[w]], "median": round(m, 3),
                          "cpu_seconds": [round(x, 2) for x in cpu[w]],
                          "cpu_median": round(statistics.median(cpu[w]), 2),
                          "sklearn_over_mlpd": round(skm / m, 2),
                          "per_round_ratio": [round(a / b, 2) for a, b in zip(sk, ml[w])]}
        print(f"== --workers {w}: median {m:.2f} s over {rounds}; scikit-learn / mlpd "
              f"{skm / m:.2f} (per round {res['mlpd'][w]['per_round_ratio']}); daemon CPU "
              f"median {res['mlpd'][w]['cpu_median']:.2f} s")
    for w in wlist:  # with MLPD_BASE: this binary's burst time and CPU over base's, per round
        if base and not w.startswith("base:"):
            b = f"base:{w}"
            res["mlpd"][w]["wall_over_base"] = [round(x / y, 3) for x, y in zip(ml[w], ml[b])]
            res["mlpd"][w]["cpu_over_base"] = [round(x / y, 3) for x, y in zip(cpu[w], cpu[b])]
            print(f"== --workers {w} / base: wall {res['mlpd'][w]['wall_over_base']}, daemon CPU "
                  f"{res['mlpd'][w]['cpu_over_base']} per round")
    best = min((w for w in wlist if not w.startswith("base:")), key=lambda w: statistics.median(ml[w]))
    res["fastest_workers"] = best
    print(f"== fastest: --workers {best}")
    for k, over in enumerate(overs):
        walls = [w for w, _ in over]
        eps = [e for _, e in over]
        ovh = [w - e for w, e in over]
        o = {"n": len(over), "wall_median_ms": round(statistics.median(walls) * 1e3, 2),
             "epoch_median_ms": round(statistics.median(eps) * 1e3, 3),
             "overhead_median_ms": round(statistics.median(ovh) * 1e3, 2),
             "overhead_p90_ms": round(sorted(ovh)[int(0.9 * len(ovh))] * 1e3, 2)}
        res["overhead" if k == 0 else "overhead_base"] = o
        print(f"== per-run overhead{'' if k == 0 else ' (base)'}, {o['n']} 1-epoch runs one after "
              f"another: median wall {o['wall_median_ms']} ms, epoch {o['epoch_median_ms']} ms, "
              f"overhead median {o['overhead_median_ms']} ms (p90 {o['overhead_p90_ms']} ms)")
    print(json.dumps(res))


if __name__ == "__main__":
    main()
