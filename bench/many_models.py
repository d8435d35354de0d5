"""many_models.py — the driver of bench/many_models.sh (issue 13, "Many dormant models").

python3 bench/many_models.py MLPD REQUESTS CONNECTIONS CONFIG...

MLPD: the mlpd binary. REQUESTS: Zipf-phase requests per configuration. CONNECTIONS: client
threads of the Zipf phase, one keep-alive connection and one thread each. CONFIG: the daemon's
cache flags for one configuration, space-separated in one argument ("" = the shipped defaults),
e.g. "--model-cache-bytes 4M".

Setup, once: a daemon with a bootstrap admin key (--api-key ADMIN:admin) creates 100 students
(POST /api/v1/users) and publishes 500 Fashion-MNIST-sized classifiers, 784-64-10 (relu,
softmax), model m<j> owned by student s<j % 100> (5 each): each is an import
(POST /api/v1/models/m<j>/versions with the student's key) of one mlpd-model export document
whose weights are a fixed random network (He initialisation, seed 0) plus per-model gaussian
noise (std 0.01, seed j), inputs standardised as pixel / 255. Then the daemon stops; every
configuration restarts it on the same data directory, so it starts with an empty cache.

Per configuration, on a fresh daemon:
1. cold vs hot: every one of the 500 models in a random order, two requests back to back on one
   connection: the first loads the model (a cold load: the daemon has not served it yet), the
   second finds it cached (hot: it is the most recently used);
2. Zipf, one connection: REQUESTS / 4 predictions, model rank r drawn with probability
   proportional to 1 / r^1.1 (ranks shuffled over the models, seed 1), each sent with its
   owner's key to POST /v1/models/m<j>:predict with one Fashion-MNIST test image;
3. Zipf, several connections: REQUESTS more, the same way, from CONNECTIONS threads.
The daemon's VmRSS is sampled every 50 ms (the maximum is reported) and its VmHWM read at the
end; mlpd_models_loaded from /metrics. The daemon exposes no hit counter, so the hit rate is
derived from latencies in phase 2 (one connection: no client-side queueing): a request slower
than the threshold that best separates phase 1's hot requests from its cold ones is a miss
(the share of phase 1 that threshold misclassifies is printed). Beside it, the hit rate an exact
LRU of the same capacity gets on the same sequence, starting from what phase 1 left cached
(capacity = min(--model-cache, --model-cache-bytes / the bytes of one model)); where the two
agree, the LRU figure stands for phase 3, whose latencies include queueing on 2 cores.
Errors: any status but 200. The last line is one JSON object with every figure.
"""
import gzip
import http.client
import json
import math
import os
import random
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

ADMIN = "bench-admin-key-0123456789"
N_USERS, N_MODELS = 100, 500
HIDDEN = 64
ZIPF_S = 1.1
FMNIST = os.environ.get("FMNIST_DIR", "/usr/share/datasets/fashion-mnist")
# What the registry counts for one 784-64-10 model (server/registry.c, model_bytes): the
# parameter block (50,890 parameters + 2 x 784 + 2 x 10 standardisation floats), layer 0's
# transposed serving copy (784 x 64 + 64 floats, 784 split flags), the structs and the names.
ONE_MODEL = None  # set in main


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def parse_size(s):
    mul = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    s = s.strip()
    if s[-1].lower() in mul:
        return int(s[:-1]) * mul[s[-1].lower()]
    return int(s)


class Daemon:
    def __init__(self, binary, data_dir, extra):
        self.tmp = tempfile.mkdtemp(prefix="mlpd-many.")
        args = [binary, "--listen", "127.0.0.1:0", "--port-file", f"{self.tmp}/port",
                "--data-dir", data_dir, "--quiet", "--api-key", f"{ADMIN}:admin"] + extra
        self.log = open(f"{self.tmp}/mlpd.log", "w")
        self.p = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        for _ in range(200):
            if os.path.exists(f"{self.tmp}/port") and open(f"{self.tmp}/port").read().strip():
                break
            time.sleep(0.05)
        self.port = int(open(f"{self.tmp}/port").read())

    def status(self, field):
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(timeout=60)
        self.log.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


def call(c, method, path, key, body=None):
    headers = {"Authorization": f"Bearer {key}"}
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        headers["Content-Type"] = "application/json"
    c.request(method, path, body=data, headers=headers)
    r = c.getresponse()
    return r.status, r.read()


def test_images(n):
    with gzip.open(f"{FMNIST}/t10k-images-idx3-ubyte.gz") as f:
        _, m, rows, cols = struct.unpack(">IIII", f.read(16))
        pix = f.read()
    d = rows * cols
    return [list(pix[i * d:(i + 1) * d]) for i in range(min(n, m))]


def model_doc(j, base):
    rng = np.random.default_rng(1000 + j)
    layers = []
    for (w, b, act) in base:
        w2 = (w + rng.normal(0, 0.01, w.shape)).astype(np.float32)
        layers.append({"in": int(w.shape[1]), "out": int(w.shape[0]), "activation": act,
                       "weights": np.round(w2, 5).tolist(), "bias": b.tolist()})
    return {"format": "mlpd-model", "format_version": 1, "task": "classification",
            "loss": "cross_entropy", "feature_names": [f"p{i}" for i in range(784)],
            "labels": ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                       "sneaker", "bag", "boot"],
            "standardization": {"x_mean": [0.0] * 784, "x_scale": [255.0] * 784,
                                "y_mean": [0.0] * 10, "y_scale": [1.0] * 10},
            "layers": layers}


def setup(binary, data_dir):
    d = Daemon(binary, data_dir, [])
    c = d.conn()
    keys = []
    for u in range(N_USERS):
        st, body = call(c, "POST", "/api/v1/users", ADMIN,
                        {"name": f"s{u:03d}", "role": "student"})
        assert st == 201, (st, body[:300])
        keys.append(json.loads(body)["key"]["key"])
    rng = np.random.default_rng(0)
    w0 = rng.normal(0, math.sqrt(2 / 784), (HIDDEN, 784))
    w1 = rng.normal(0, math.sqrt(2 / HIDDEN), (10, HIDDEN))
    base = [(w0, np.zeros(HIDDEN), "relu"), (w1, np.zeros(10), "softmax")]
    t0 = time.time()
    for j in range(N_MODELS):
        st, body = call(c, "POST", f"/api/v1/models/m{j:03d}/versions", keys[j % N_USERS],
                        model_doc(j, base))
        assert st == 201, (j, st, body[:300])
    publish_s = time.time() - t0
    c.close()
    d.stop()
    return keys, publish_s


class Sampler(threading.Thread):
    def __init__(self, d):
        super().__init__(daemon=True)
        self.d, self.max_rss, self.max_anon, self.stop_ = d, 0, 0, threading.Event()

    def run(self):
        while not self.stop_.is_set():
            try:
                self.max_rss = max(self.max_rss, self.d.status("VmRSS"))
                self.max_anon = max(self.max_anon, self.d.status("RssAnon"))
            except OSError:
                pass
            time.sleep(0.05)


def predict_body(img):
    return json.dumps({"instances": [img]})


def one_config(binary, data_dir, keys, extra, requests, connections, images):
    d = Daemon(binary, data_dir, extra)
    out = {"flags": " ".join(extra) or "(defaults)"}
    c = d.conn()
    call(c, "GET", "/healthz", ADMIN)
    out["rss_start"] = d.status("VmRSS")
    samp = Sampler(d)
    samp.start()
    bodies = [predict_body(im) for im in images]

    # 1. cold then hot, every model
    order = list(range(N_MODELS))
    random.Random(2).shuffle(order)
    cold, hot, errors = [], [], 0
    for i, j in enumerate(order):
        for lst in (cold, hot):
            t = time.perf_counter()
            st, _ = call(c, "POST", f"/v1/models/m{j:03d}:predict", keys[j % N_USERS],
                         bodies[i % len(bodies)])
            lst.append(time.perf_counter() - t)
            errors += st != 200
    out["rss_after_cold"] = d.status("VmRSS")

    # 2. Zipf on one connection: no client-side queueing, so latency tells a miss from a hit
    rng = random.Random(1)
    ranks = list(range(N_MODELS))
    rng.shuffle(ranks)  # ranks[r] = the model of popularity rank r
    weights = [1 / (r + 1) ** ZIPF_S for r in range(N_MODELS)]
    n1 = max(1, requests // 4)
    seq1 = [ranks[r] for r in rng.choices(range(N_MODELS), weights=weights, k=n1)]
    lat1 = []
    for i, j in enumerate(seq1):
        t = time.perf_counter()
        st, _ = call(c, "POST", f"/v1/models/m{j:03d}:predict", keys[j % N_USERS],
                     bodies[i % len(bodies)])
        lat1.append(time.perf_counter() - t)
        errors += st != 200

    out["rss_after_zipf1"] = d.status("VmRSS")

    # 3. Zipf from several connections
    seq = [ranks[r] for r in rng.choices(range(N_MODELS), weights=weights, k=requests)]
    lat = [0.0] * requests
    errs = [0] * connections

    def worker(w):
        cc = d.conn()
        for i in range(w, requests, connections):
            j = seq[i]
            t = time.perf_counter()
            st, _ = call(cc, "POST", f"/v1/models/m{j:03d}:predict", keys[j % N_USERS],
                         bodies[i % len(bodies)])
            lat[i] = time.perf_counter() - t
            errs[w] += st != 200
        cc.close()

    t0 = time.perf_counter()
    th = [threading.Thread(target=worker, args=(w,)) for w in range(connections)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    wall = time.perf_counter() - t0
    samp.stop_.set()
    samp.join()
    st, body = call(c, "GET", "/metrics", ADMIN)
    loaded = None
    for line in body.decode().splitlines():
        if line.startswith("mlpd_models_loaded "):
            loaded = int(float(line.split()[1]))
    c.close()
    out["rss_end"] = d.status("VmRSS")
    out["rss_max"] = max(samp.max_rss, out["rss_end"])
    out["anon_max"] = max(samp.max_anon, d.status("RssAnon"))
    out["hwm"] = d.status("VmHWM")
    out["models_loaded_end"] = loaded
    d.stop()

    # the latency that best separates phase 1's hot requests from its cold ones
    best = None
    for t in sorted(hot + cold):
        wrong = sum(1 for x in hot if x > t) + sum(1 for x in cold if x <= t)
        if best is None or wrong < best[1]:
            best = (t, wrong)
    threshold, misclassified = best[0], best[1] / (len(hot) + len(cold))
    misses = sum(1 for x in lat1 if x > threshold)
    cnt = int(extra[extra.index("--model-cache") + 1]) if "--model-cache" in extra else 16
    budget = (parse_size(extra[extra.index("--model-cache-bytes") + 1])
              if "--model-cache-bytes" in extra else 512 << 20)
    cap = max(1, min(cnt, budget // ONE_MODEL))
    lru = {j: k for k, j in enumerate(order[-cap:])}  # what phase 1 left cached
    tick = [cap]

    def lru_hits(s):
        hits = 0
        for j in s:
            if j in lru:
                hits += 1
            elif len(lru) >= cap:
                del lru[min(lru, key=lru.get)]
            lru[j] = tick[0]
            tick[0] += 1
        return hits / len(s)
    ms = lambda x: round(x * 1000, 3)
    out.update({
        "cold_p50_ms": ms(statistics.median(cold)), "cold_p99_ms": ms(pct(cold, 99)),
        "hot_p50_ms": ms(statistics.median(hot)), "hot_p99_ms": ms(pct(hot, 99)),
        "zipf_p50_ms": ms(statistics.median(lat)), "zipf_p99_ms": ms(pct(lat, 99)),
        "zipf_rps": round(requests / wall, 1), "miss_threshold_ms": ms(threshold),
        "threshold_misclassified": round(misclassified, 4),
        "zipf1_p50_ms": ms(statistics.median(lat1)), "zipf1_p99_ms": ms(pct(lat1, 99)),
        "hit_rate_latency_1conn": round(1 - misses / n1, 4),
        "hit_rate_lru_1conn": round(lru_hits(seq1), 4),
        "hit_rate_lru_zipf": round(lru_hits(seq), 4), "cache_capacity_models": cap,
        "errors": errors + sum(errs), "requests": requests + n1 + 2 * N_MODELS,
    })
    return out


def main():
    global ONE_MODEL
    binary, requests, connections = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    configs = [a.split() for a in sys.argv[4:]] or [[]]
    params = 784 * HIDDEN + HIDDEN + HIDDEN * 10 + 10
    floats = params + 2 * 784 + 2 * 10 + 784 * HIDDEN + HIDDEN
    names = sum(8 + len(f"p{i}") + 1 for i in range(784)) + 10 * (8 + 8)
    ONE_MODEL = 512 + floats * 4 + 784 + names + 200
    work = tempfile.mkdtemp(prefix="mlpd-many-data.")
    try:
        data_dir = f"{work}/var"
        keys, publish_s = setup(binary, data_dir)
        print(f"published {N_MODELS} models for {N_USERS} students in {publish_s:.1f} s; "
              f"one model ~{ONE_MODEL / 1e6:.3f} MB in the cache", flush=True)
        images = test_images(256)
        results = []
        for extra in configs:
            r = one_config(binary, data_dir, keys, extra, requests, connections, images)
            results.append(r)
            mib = lambda k: f"{r[k] / 2**20:.1f}"
            print(f"{r['flags']}: RSS MiB start {mib('rss_start')}, after phase 1 "
                  f"{mib('rss_after_cold')}, 2 {mib('rss_after_zipf1')}, 3 {mib('rss_end')}, max "
                  f"{mib('rss_max')} (anonymous {mib('anon_max')}), HWM {mib('hwm')}; loaded at end "
                  f"{r['models_loaded_end']}; cold p50/p99 {r['cold_p50_ms']}/{r['cold_p99_ms']} "
                  f"ms, hot {r['hot_p50_ms']}/{r['hot_p99_ms']} ms; 1-connection Zipf p50/p99 "
                  f"{r['zipf1_p50_ms']}/{r['zipf1_p99_ms']} ms, hit rate "
                  f"{r['hit_rate_latency_1conn']} (latency > {r['miss_threshold_ms']} ms = miss; "
                  f"{r['threshold_misclassified']} of phase 1 misclassified) vs "
                  f"{r['hit_rate_lru_1conn']} (exact LRU of {r['cache_capacity_models']}); "
                  f"Zipf p50/p99 {r['zipf_p50_ms']}/{r['zipf_p99_ms']} ms at {r['zipf_rps']} "
                  f"req/s, LRU hit rate {r['hit_rate_lru_zipf']}; errors "
                  f"{r['errors']}/{r['requests']}",
                  flush=True)
        print(json.dumps({"publish_s": round(publish_s, 1), "one_model_bytes": ONE_MODEL,
                          "configs": results}))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
