#!/usr/bin/env python3
"""ensemble_fmnist.py — the driver of bench/ensemble_fmnist.sh (Python standard library only).

  ensemble_fmnist.py train URL FMNIST_DIR SEEDS HIDDEN EPOCHS
      uploads the Fashion-MNIST training set (IDX, gzip), trains one run per seed into model
      "fm" (versions 1..len(SEEDS), same params apart from the seed), then makes ensemble
      versions "ens3" (versions 1-3) and "ens5" (1-5) through POST /api/v1/models/{name}/versions.
  ensemble_fmnist.py accuracy URL FMNIST_DIR K
      scores every member and the ensembles of the first 3 and K members on the 10,000 test rows
      through /v1 :predict (500 rows a request), checks that the served ensemble equals the mean
      of its served members, prints one line per model and one JSON line.
  ensemble_fmnist.py body FMNIST_DIR OUT_DIR
      writes OUT_DIR/body_1.json and body_64.json: {"instances": [...]} of the first 1 and 64
      test images (raw pixels, as the IDX upload trains on them).
"""
import gzip
import json
import struct
import sys
import time
import urllib.request


def call(method, url, body=None, ctype="application/json"):
    data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", ctype)
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def multipart(fields):
    """fields: (name, filename or None, bytes). Returns (body, content type)."""
    b = b"----mlpdbench7f3a"
    out = []
    for name, fn, data in fields:
        disp = f'form-data; name="{name}"' + (f'; filename="{fn}"' if fn else "")
        out += [b"--" + b, f"Content-Disposition: {disp}".encode(), b"", data]
    out += [b"--" + b + b"--", b""]
    return b"\r\n".join(out), "multipart/form-data; boundary=" + b.decode()


def test_set(d):
    with gzip.open(f"{d}/t10k-images-idx3-ubyte.gz") as f:
        _, n, r, c = struct.unpack(">IIII", f.read(16))
        pix = f.read()
    with gzip.open(f"{d}/t10k-labels-idx1-ubyte.gz") as f:
        f.read(8)
        lab = f.read()
    k = r * c
    return [pix[i * k:(i + 1) * k] for i in range(n)], list(lab)


def train(url, d, seeds, hidden, epochs):
    api = url + "/api/v1"
    with open(f"{d}/train-images-idx3-ubyte.gz", "rb") as f:
        img = f.read()
    with open(f"{d}/train-labels-idx1-ubyte.gz", "rb") as f:
        lab = f.read()
    body, ct = multipart([("name", None, b"fmnist-train"),
                          ("images", "train-images-idx3-ubyte.gz", img),
                          ("labels", "train-labels-idx1-ubyte.gz", lab)])
    st, ds = call("POST", api + "/datasets", body, ct)
    assert st == 201, (st, ds)
    for s in seeds:
        t0 = time.time()
        st, run = call("POST", api + "/runs", {
            "dataset_id": ds["id"], "task": "classification", "target": "label",
            "model_name": "fm",
            "params": {"hidden": hidden, "activation": "relu", "optimizer": "momentum",
                       "learning_rate": 0.05, "batch_size": 128, "epochs": epochs, "seed": s}})
        assert st == 202, (st, run)
        while True:
            st, r = call("GET", f"{api}/runs/{run['id']}")
            if r["status"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(1)
        assert r["status"] == "succeeded", r
        print(f"seed {s}: {run['id']} {time.time() - t0:.1f} s", flush=True)
    for name, k in (("ens3", 3), ("ens5", len(seeds))):
        st, v = call("POST", f"{api}/models/{name}/versions",
                     {"ensemble": [{"model": "fm", "version": i} for i in range(1, k + 1)]})
        assert st == 201, (st, v)
        print(f"{name}: version {v['version']} of {len(v['ensemble'])} members", flush=True)


def probs(url, target, rows):
    out = []
    for i in range(0, len(rows), 500):
        body = ('{"instances":[' + ",".join(
            "[" + ",".join(map(str, r)) + "]" for r in rows[i:i + 500]) + "]}").encode()
        st, j = call("POST", f"{url}/v1/models/{target}:predict", body)
        assert st == 200, (st, j)
        out += j["predictions"]
    return out


def accuracy(p, labels):
    return sum(max(range(len(r)), key=r.__getitem__) == y for r, y in zip(p, labels)) / len(labels)


def main():
    if sys.argv[1] == "train":
        url, d, seeds, hidden, epochs = sys.argv[2:7]
        train(url, d, [int(s) for s in seeds.split(",")], [int(h) for h in hidden.split(",")],
              int(epochs))
    elif sys.argv[1] == "body":
        rows, _ = test_set(sys.argv[2])
        for n in (1, 64):
            with open(f"{sys.argv[3]}/body_{n}.json", "w") as f:
                f.write('{"instances":[' + ",".join(
                    "[" + ",".join(map(str, r)) + "]" for r in rows[:n]) + "]}")
    else:
        url, d, k = sys.argv[2], sys.argv[3], int(sys.argv[4])
        rows, labels = test_set(d)
        res = {"members": []}
        member_p = []
        for v in range(1, k + 1):
            p = probs(url, f"fm/versions/{v}", rows)
            member_p.append(p)
            a = accuracy(p, labels)
            res["members"].append(a)
            print(f"member fm v{v}: test accuracy {a:.4f}", flush=True)
        for name, n in (("ens3", 3), ("ens5", k)):
            p = probs(url, name, rows)
            mean = [[sum(m[i][c] for m in member_p[:n]) / n for c in range(len(p[i]))]
                    for i in range(len(p))]
            diff = max(abs(a - b) for r, q in zip(p, mean) for a, b in zip(r, q))
            res[name] = accuracy(p, labels)
            res[name + "_max_abs_diff_vs_mean_of_members"] = diff
            print(f"{name}: test accuracy {res[name]:.4f} (served vs mean of served members: "
                  f"max |diff| {diff:.2e})", flush=True)
        res["best_member"] = max(res["members"])
        res["mean_member"] = sum(res["members"]) / k
        print(json.dumps(res))


if __name__ == "__main__":
    main()
