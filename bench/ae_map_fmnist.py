#!/usr/bin/env python3
"""ae_map_fmnist.py — the computations of bench/ae_map_fmnist.sh (python3 only, no numpy).

  plant IN.gz OUT.gz   copies an IDX image file with 20 images replaced by uniform noise (rows
                       picked with random.Random(14)); prints {"planted": [rows]}.
  report PLANTED CODES OUTLIERS MODEL EPOCHS VERSION SEED
                       k-NN (k = 5) accuracy of the held-out rows' 2-D codes (rows 0-4999 the
                       reference, 5000-9999 the queries, planted rows out of both), the planted
                       rows among the top-20 outliers, and the version's compression; the last
                       line printed is one JSON object.
  summary RESULTS.jsonl
                       the medians over the seeds of those JSON lines, as one JSON object.
"""
import gzip
import json
import random
import statistics
import sys
from collections import Counter

N_PLANTED = 20


def plant(src, dst):
    raw = bytearray(gzip.open(src).read())
    n = int.from_bytes(raw[4:8], 'big')
    h, w = int.from_bytes(raw[8:12], 'big'), int.from_bytes(raw[12:16], 'big')
    rnd = random.Random(14)
    rows = sorted(rnd.sample(range(n), N_PLANTED))
    for r in rows:
        off = 16 + r * h * w
        raw[off:off + h * w] = bytes(rnd.randrange(256) for _ in range(h * w))
    with gzip.open(dst, 'wb') as f:
        f.write(bytes(raw))
    print(json.dumps({'planted': rows}))


def knn(ref, queries, k=5):
    """ref, queries: lists of (x, y, label). Majority of the k nearest; a tie goes to the label
    of the nearest among the tied."""
    # bucket the reference points on a grid so each query looks at a few cells only
    xs = [p[0] for p in ref]
    ys = [p[1] for p in ref]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    g = 64
    cw = (x1 - x0) / g or 1.0
    ch = (y1 - y0) / g or 1.0
    grid = {}
    for p in ref:
        key = (min(int((p[0] - x0) / cw), g - 1), min(int((p[1] - y0) / ch), g - 1))
        grid.setdefault(key, []).append(p)
    right = 0
    for q in queries:
        cx = min(max(int((q[0] - x0) / cw), 0), g - 1)
        cy = min(max(int((q[1] - y0) / ch), 0), g - 1)
        r = 0
        while True:
            cand = []
            for i in range(cx - r, cx + r + 1):
                for j in range(cy - r, cy + r + 1):
                    cand.extend(grid.get((i, j), ()))
            # enough candidates, and the ring searched is wider than the k-th distance
            if len(cand) >= k or r > g:
                cand.sort(key=lambda p: (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2)
                kth = ((cand[k - 1][0] - q[0]) ** 2 + (cand[k - 1][1] - q[1]) ** 2) ** 0.5 \
                    if len(cand) >= k else float('inf')
                if r > g or kth <= r * min(cw, ch):
                    break
            r += 1
        near = cand[:k]
        votes = Counter(p[2] for p in near)
        best = max(votes.values())
        winner = next(p[2] for p in near if votes[p[2]] == best)
        right += winner == q[2]
    return right / len(queries)


def report(planted_f, codes_f, outliers_f, model_f, epochs, version, seed):
    planted = set(json.load(open(planted_f))['planted'])
    codes = json.load(open(codes_f))
    items = codes['items']
    pts = [(it['map'][0], it['map'][1], it['label'], it['row']) for it in items]
    ref = [p[:3] for p in pts if p[3] < 5000 and p[3] not in planted]
    qry = [p[:3] for p in pts if p[3] >= 5000 and p[3] not in planted]
    acc = knn(ref, qry)
    out = json.load(open(outliers_f))
    top = [it['row'] for it in out['items']]
    hits = sum(r in planted for r in top)
    model = json.load(open(model_f))
    ver = next(v for v in model['model_versions'] if v['version'] == version)
    comp = ver.get('compression', {})
    metrics = ver.get('metrics', {})
    print(f"k-NN (k=5) accuracy of {len(qry)} held-out 2-D codes against {len(ref)}: {acc:.4f} (chance 0.1)")
    print(f"planted noise images among the top-20 outliers: {hits} of {len(planted)}")
    print(f"compression: ratio {comp.get('ratio')}, autoencoder MSE {comp.get('reconstruction_mse')}, "
          f"PCA(2) MSE {comp.get('pca_mse')} on {comp.get('rows')} {comp.get('on')} rows")
    print(json.dumps({'bench': 'ae_map_fmnist', 'seed': seed, 'epochs': epochs, 'code_dim': codes['code_dim'],
                      'projection': codes['projection'], 'knn5_accuracy': round(acc, 4),
                      'knn_reference': len(ref), 'knn_queries': len(qry),
                      'outliers_planted_in_top20': hits, 'compression': comp,
                      'val_loss': metrics.get('val_loss')}))


def summary(results_f):
    rows = [json.loads(line) for line in open(results_f) if line.strip()]
    med = lambda xs: statistics.median(xs)
    out = {'bench': 'ae_map_fmnist', 'seeds': [r['seed'] for r in rows], 'epochs': rows[0]['epochs'],
           'knn5_accuracy': [r['knn5_accuracy'] for r in rows],
           'knn5_accuracy_median': med([r['knn5_accuracy'] for r in rows]),
           'outliers_planted_in_top20': [r['outliers_planted_in_top20'] for r in rows],
           'outliers_median': med([r['outliers_planted_in_top20'] for r in rows]),
           'reconstruction_mse_median': med([r['compression']['reconstruction_mse'] for r in rows]),
           'pca_mse': rows[0]['compression']['pca_mse'],
           'ae_over_pca_mse_median': round(med([r['compression']['reconstruction_mse'] / r['compression']['pca_mse'] for r in rows]), 4)}
    print(f"medians over seeds {out['seeds']}: k-NN accuracy {out['knn5_accuracy_median']}, planted in top 20 "
          f"{out['outliers_median']}, autoencoder / PCA(2) reconstruction MSE {out['ae_over_pca_mse_median']}")
    print(json.dumps(out))


if __name__ == '__main__':
    if sys.argv[1] == 'plant':
        plant(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == 'report':
        report(*sys.argv[2:6], int(sys.argv[6]), int(sys.argv[7]), int(sys.argv[8]))
    elif sys.argv[1] == 'summary':
        summary(sys.argv[2])
    else:
        sys.exit(__doc__)
