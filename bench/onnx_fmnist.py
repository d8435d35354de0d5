#!/usr/bin/env python3
"""onnx_fmnist.py — the driver of bench/onnx_fmnist.sh (Python standard library; the checker step
uses Debian's python3-onnx when present).

  onnx_fmnist.py train URL FMNIST_DIR EPOCHS
      uploads the Fashion-MNIST training set (IDX, gzip) and trains model "fm" version 1:
      784-256-128-10, relu, momentum lr 0.05, batch 128, batch norm on, EPOCHS epochs.
  onnx_fmnist.py export URL DATA_DIR ROUNDS OUT_DIR
      times GET .../export?format=onnx against GET .../export (the JSON document) on model fm
      v1, ROUNDS rounds of the two in ABBA order (one request each per slot), and reads the size
      of the native bundle (the stored model_versions.blob) from DATA_DIR/mlpd.db (read-only).
      Writes OUT_DIR/fm-v1.onnx, prints one line per format and one JSON line.
  onnx_fmnist.py check OUT_DIR
      onnx.checker.check_model(full_check) on OUT_DIR/fm-v1.onnx.
  onnx_fmnist.py roundtrip URL FMNIST_DIR OUT_DIR
      the bytes of OUT_DIR/fm-v1.onnx's "mlpd.exact" metadata (what makes the round trip exact),
      then imports the file as a new version of fm and compares its :predict answers with v1's
      on the first 1000 test images: the JSON texts must be identical.
"""
import gzip
import json
import os
import sqlite3
import statistics
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
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def multipart(fields):
    b = b"----mlpdbenchonnx"
    out = []
    for name, fn, data in fields:
        disp = f'form-data; name="{name}"' + (f'; filename="{fn}"' if fn else "")
        out += [b"--" + b, f"Content-Disposition: {disp}".encode(), b"", data]
    out += [b"--" + b + b"--", b""]
    return b"\r\n".join(out), "multipart/form-data; boundary=" + b.decode()


def train(url, d, epochs):
    api = url + "/api/v1"
    with open(f"{d}/train-images-idx3-ubyte.gz", "rb") as f:
        img = f.read()
    with open(f"{d}/train-labels-idx1-ubyte.gz", "rb") as f:
        lab = f.read()
    body, ct = multipart([("name", None, b"fmnist-train"),
                          ("images", "train-images-idx3-ubyte.gz", img),
                          ("labels", "train-labels-idx1-ubyte.gz", lab)])
    st, b, _ = call("POST", api + "/datasets", body, ct)
    assert st == 201, (st, b)
    ds = json.loads(b)
    st, b, _ = call("POST", api + "/runs", {
        "dataset_id": ds["id"], "task": "classification", "target": "label", "model_name": "fm",
        "params": {"hidden": [256, 128], "activation": "relu", "optimizer": "momentum",
                   "learning_rate": 0.05, "batch_size": 128, "epochs": epochs, "seed": 1,
                   "batch_norm": True}})
    assert st == 202, (st, b)
    run = json.loads(b)["id"]
    while True:
        st, b, _ = call("GET", f"{api}/runs/{run}")
        r = json.loads(b)
        if r["status"] in ("succeeded", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert r["status"] == "succeeded", r


def export(url, data_dir, rounds, out_dir):
    path = url + "/api/v1/models/fm/versions/1/export"
    variants = {"onnx": path + "?format=onnx", "json": path}
    times = {k: [] for k in variants}
    size = {}
    for r in range(rounds):
        order = ["onnx", "json", "json", "onnx"] if r % 2 == 0 else ["json", "onnx", "onnx", "json"]
        for k in order:
            t0 = time.perf_counter()
            st, b, h = call("GET", variants[k])
            dt = time.perf_counter() - t0
            assert st == 200, (k, st, b[:200])
            times[k].append(dt)
            size[k] = len(b)
            if k == "onnx":
                assert h["Content-Type"] == "application/onnx", h["Content-Type"]
                with open(os.path.join(out_dir, "fm-v1.onnx"), "wb") as f:
                    f.write(b)
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(data_dir, "mlpd.db"), uri=True)
    (native,) = db.execute("SELECT length(v.blob) FROM model_versions v JOIN models m "
                           "ON m.id = v.model_id WHERE m.name = 'fm' AND v.version = 1").fetchone()
    db.close()
    res = {"rounds": rounds, "native_bytes": native}
    for k in variants:
        med = statistics.median(times[k])
        res[k] = {"median_ms": round(med * 1000, 2), "n": len(times[k]), "bytes": size[k],
                  "bytes_vs_native": round(size[k] / native, 4)}
        print(f"{k:5s} export: median {med * 1000:8.2f} ms over {len(times[k])} requests, "
              f"{size[k]:,} bytes ({size[k] / native:.4f} x the native bundle of {native:,} bytes)")
    res["onnx_vs_json_time"] = round(res["onnx"]["median_ms"] / res["json"]["median_ms"], 3)
    print(f"onnx / json export time: {res['onnx_vs_json_time']}")
    print("JSON " + json.dumps(res))


def check(out_dir):
    import onnx
    from onnx import checker
    m = onnx.load(os.path.join(out_dir, "fm-v1.onnx"))
    checker.check_model(m, full_check=True)
    ops = sorted({n.op_type for n in m.graph.node})
    print(f"onnx {onnx.__version__} checker: fm-v1.onnx passes; opset "
          f"{[o.version for o in m.opset_import]}, ops {ops}")


def idx_images(path, n):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    count, rows, cols = int.from_bytes(raw[4:8], "big"), int.from_bytes(raw[8:12], "big"), \
        int.from_bytes(raw[12:16], "big")
    k = rows * cols
    return [list(raw[16 + i * k:16 + (i + 1) * k]) for i in range(min(n, count))]


def roundtrip(url, d, out_dir):
    import onnx
    path = os.path.join(out_dir, "fm-v1.onnx")
    with open(path, "rb") as f:
        blob = f.read()
    m = onnx.load_from_string(blob)
    exact = {p.key: len(p.value) for p in m.metadata_props if p.key.startswith("mlpd.exact")}
    eb = sum(len(k) + v for k, v in exact.items())
    print(f"mlpd.exact metadata: {eb:,} bytes of values and keys, {eb / len(blob):.4f} of the "
          f"{len(blob):,}-byte file; per key {exact}")
    st, b, _ = call("POST", url + "/api/v1/models/fm/versions", blob, "application/onnx")
    assert st == 201, (st, b)
    v = json.loads(b)["version"]
    X = idx_images(f"{d}/t10k-images-idx3-ubyte.gz", 1000)
    same = 0
    for i in range(0, len(X), 100):
        a = call("POST", url + "/v1/models/fm/versions/1:predict", {"instances": X[i:i + 100]})
        c = call("POST", url + f"/v1/models/fm/versions/{v}:predict", {"instances": X[i:i + 100]})
        assert a[0] == 200 and c[0] == 200, (a[:2], c[:2])
        same += a[1] == c[1]
    print(f"round trip: v{v} imported from fm-v1.onnx; :predict of {len(X)} test images in "
          f"{len(X) // 100} requests, {same} of {len(X) // 100} answers byte-identical to v1's")
    print("JSON " + json.dumps({"exact_meta_bytes": eb, "file_bytes": len(blob),
                                "identical_requests": same, "requests": len(X) // 100}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "train":
        train(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif cmd == "export":
        export(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    elif cmd == "check":
        check(sys.argv[2])
    elif cmd == "roundtrip":
        roundtrip(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: see the docstring")
