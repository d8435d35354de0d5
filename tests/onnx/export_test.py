#!/usr/bin/python3
"""export_test.py — ONNX export checked by ONNX's own checker (Debian's python3-onnx).

Against the real daemon ($MLPD_BIN), on tiny generated data with a few epochs: trains one model
per hidden activation for each task (classification with a Softmax head, binary classification
with a Sigmoid head, regression with a linear and with a non-linear head, autoencoders with a
linear and a Sigmoid output), all with batch norm and standardisation on, plus an ensemble;
exports each with ?format=onnx and checks the answer (Content-Type, Content-Disposition), the
file (onnx.checker.check_model with full_check, opset <= 17, input and output names as /v2 names
them, metadata_props with mlpd.exact on every single network, only Gemm and activation ops, no
BatchNormalization) and the errors
(unknown format, unknown version). It writes every file and a manifest of test rows with mlpd's
own :predict answers into OUT (argv[1]); tests/onnx/ort.test.js runs the files in onnxruntime
and compares."""
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

try:
    import onnx
    from onnx import checker
except ImportError:
    sys.exit('export_test: python3-onnx is missing (apt-get install python3-onnx, or '
             'scripts/install-deps.sh): the ONNX export cannot be checked')

BIN = os.environ.get('MLPD_BIN', 'build/mlpd')
ACTS = ['linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'softplus', 'swish', 'mish',
        'softsign']
# Ops an exported graph may hold: the layers, the activations and their decompositions, the
# output de-standardisation after a non-linear head, and an ensemble's Mean.
ALLOWED_OPS = {'Gemm', 'Sigmoid', 'Tanh', 'Relu', 'LeakyRelu', 'Elu', 'Softplus', 'Softsign',
               'Mul', 'Softmax', 'Add', 'Mean'}


def call(base, method, path, body=None, ctype='application/json'):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={'Content-Type': ctype} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def fail(msg):
    sys.exit('export_test: FAILED: ' + msg)


def dataset_csv(rng):
    """60 rows: four features on very different scales (so standardisation matters), a class
    label of three, a binary label, and a regression target far from 0 (so the output
    standardisation matters)."""
    lines = ['f1,f2,f3,f4,kind,yes,y']
    for _ in range(60):
        f = [rng.gauss(100, 15), rng.gauss(0, 0.01), rng.uniform(-3, 3), rng.gauss(5, 2)]
        s = (f[0] - 100) / 15 + f[1] * 100 + f[2] / 2
        kind = 'abc'[0 if s < -0.5 else 1 if s < 0.5 else 2]
        y = 50 + 10 * s + f[3]
        lines.append('%.6g,%.6g,%.6g,%.6g,%s,%s,%.6g' % (*f, kind, 'no' if s < 0 else 'yes', y))
    return '\n'.join(lines) + '\n'


def ae_csv(rng):
    lines = ['a,b,c,d,e']
    for _ in range(60):
        t = rng.uniform(0, 1)
        lines.append(','.join('%.6g' % v for v in (t, 1 - t, t * t, 0.5 + 0.1 * rng.gauss(0, 1),
                                                   rng.uniform(0, 1))))
    return '\n'.join(lines) + '\n'


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else 'build/onnx-test'
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    rng = random.Random(7)
    work = tempfile.mkdtemp(prefix='mlpd-onnx-')
    port_file = os.path.join(work, 'port')
    log = open(os.path.join(work, 'log'), 'w')
    proc = subprocess.Popen([BIN, '--listen', '127.0.0.1:0', '--data-dir', work, '--port-file',
                             port_file, '--quiet', '--workers', '2'], stderr=log)
    try:
        for _ in range(2000):
            if os.path.exists(port_file) and os.path.getsize(port_file) > 0:
                break
            time.sleep(0.01)
        with open(port_file) as f:
            base = 'http://127.0.0.1:%s' % f.read().strip()
        run(base, rng, out_dir)
    finally:
        proc.terminate()
        rc = proc.wait(timeout=60)
        log.close()
    if rc != 0:  # a clean SIGTERM exit is 0; a sanitizer report (ASan build) is not
        with open(os.path.join(work, 'log')) as f:
            sys.stderr.write(f.read()[-4000:])
        fail('mlpd exited %d after SIGTERM (its log above; data dir %s kept)' % (rc, work))
    shutil.rmtree(work, ignore_errors=True)


def post_dataset(base, name, csv):
    st, b, _ = call(base, 'POST', '/api/v1/datasets?name=' + name, csv.encode(), 'text/csv')
    if st != 201:
        fail('dataset %s: %d %s' % (name, st, b))
    return json.loads(b)['id']


def run(base, rng, out_dir):
    ds = post_dataset(base, 'onnx-tab', dataset_csv(rng))
    ae = post_dataset(base, 'onnx-ae', ae_csv(rng))
    cases = []  # (model name, dataset, task, target, params)
    for act in ACTS:
        common = {'hidden': [6, 5], 'activation': act, 'epochs': 4, 'seed': 3,
                  'batch_norm': True, 'standardize': True, 'batch_size': 16}
        cases.append(('cls-' + act, ds, 'classification', 'kind', dict(common)))
        cases.append(('bin-' + act, ds, 'classification', 'yes',
                      dict(common, output_activation='sigmoid', loss='logistic')))
        cases.append(('reg-' + act, ds, 'regression', 'y', dict(common)))
        cases.append(('ae-' + act, ae, 'autoencoder', None, dict(common, hidden=[4, 2, 4])))
    # Non-linear heads: the output standardisation then follows the activation (Mul, Add).
    for head in ('tanh', 'softplus', 'swish'):
        cases.append(('reghead-' + head, ds, 'regression', 'y',
                      {'hidden': [5], 'activation': 'relu', 'output_activation': head,
                       'epochs': 4, 'seed': 5, 'batch_norm': True, 'standardize': True}))
    cases.append(('aesig', ae, 'autoencoder', None,
                  {'hidden': [3], 'activation': 'elu', 'output_activation': 'sigmoid',
                   'epochs': 4, 'seed': 5, 'batch_norm': True, 'standardize': True}))
    # Two classifiers for the ensemble (members differ only in seed).
    cases.append(('ensm-2', ds, 'classification', 'kind',
                  {'hidden': [6], 'activation': 'mish', 'epochs': 4, 'seed': 9,
                   'batch_norm': True, 'standardize': True}))
    runs = {}
    for name, dsid, task, target, params in cases:
        body = {'dataset_id': dsid, 'task': task, 'model_name': name, 'params': params}
        if target:
            body['target'] = target
            body['features'] = ['f1', 'f2', 'f3', 'f4']
        st, b, _ = call(base, 'POST', '/api/v1/runs', body)
        if st != 202:
            fail('run %s: %d %s' % (name, st, b))
        runs[name] = json.loads(b)['id']
    for name, rid in runs.items():
        for _ in range(6000):
            st, b, _ = call(base, 'GET', '/api/v1/runs/' + rid)
            status = json.loads(b)['status']
            if status in ('succeeded', 'failed', 'cancelled'):
                break
            time.sleep(0.02)
        if status != 'succeeded':
            fail('run %s ended %s: %s' % (name, status, b))
    st, b, _ = call(base, 'POST', '/api/v1/models/ens/versions',
                    {'ensemble': [{'model': 'cls-mish', 'version': 1},
                                  {'model': 'ensm-2', 'version': 1}]})
    if st != 201:
        fail('ensemble: %d %s' % (st, b))
    models = [(c[0], c[2], c[1], 1) for c in cases] + [('ens', 'classification', ds, 1)]
    # mlpd's trainer standardises targets only under a linear head; an imported network may
    # carry both (version 2 of each reghead-* model), and then Mul and Add follow the head.
    for head in ('tanh', 'softplus', 'swish'):
        name = 'reghead-' + head
        st, b, _ = call(base, 'GET', '/api/v1/models/%s/versions/1/export' % name)
        doc = json.loads(b)
        doc['standardization']['y_mean'] = [50.0]
        doc['standardization']['y_scale'] = [10.0]
        st, b, _ = call(base, 'POST', '/api/v1/models/%s/versions' % name, doc)
        if st != 201:
            fail('import %s with y standardisation: %d %s' % (name, st, b))
        models.append((name, 'regression', ds, 2))

    manifest = []
    tab_rows = [[rng.gauss(100, 15), rng.gauss(0, 0.01), rng.uniform(-3, 3), rng.gauss(5, 2)]
                for _ in range(8)]
    ae_rows = [[rng.uniform(0, 1) for _ in range(5)] for _ in range(8)]
    for name, task, dsid, v in models:
        rows = ae_rows if dsid == ae else tab_rows
        path = '/api/v1/models/%s/versions/%d/export?format=onnx' % (name, v)
        st, b, h = call(base, 'GET', path)
        if st != 200:
            fail('%s: %d %s' % (path, st, b))
        if h['Content-Type'] != 'application/onnx':
            fail('%s: Content-Type %s' % (path, h['Content-Type']))
        want_cd = 'attachment; filename="%s-v%d.onnx"' % (name, v)
        if h['Content-Disposition'] != want_cd:
            fail('%s: Content-Disposition %r, want %r' % (path, h['Content-Disposition'], want_cd))
        file = os.path.join(out_dir, '%s-v%d.onnx' % (name, v))
        with open(file, 'wb') as f:
            f.write(b)
        check_file(file, name, v, task, len(rows[0]), runs.get(name, '') if v == 1 else '')
        st, pb, _ = call(base, 'POST', '/v1/models/%s/versions/%d:predict' % (name, v),
                         {'instances': rows})
        if st != 200:
            fail('%s :predict: %d %s' % (name, st, pb))
        expected = json.loads(pb)['predictions']
        manifest.append({'name': '%s-v%d' % (name, v), 'task': task, 'file': os.path.abspath(file),
                         'output': {'classification': 'probabilities',
                                    'regression': 'prediction',
                                    'autoencoder': 'reconstruction'}[task],
                         'input': rows, 'expected': expected})

    # The JSON document stays the default, and ?format=json names it; anything else is a 400.
    st, b, h = call(base, 'GET', '/api/v1/models/cls-relu/versions/1/export')
    if st != 200 or not h['Content-Type'].startswith('application/json'):
        fail('plain export: %d %s' % (st, h['Content-Type']))
    st, b, h = call(base, 'GET', '/api/v1/models/cls-relu/versions/1/export?format=json')
    if st != 200 or not h['Content-Type'].startswith('application/json'):
        fail('format=json export: %d %s' % (st, h['Content-Type']))
    st, b, _ = call(base, 'GET', '/api/v1/models/cls-relu/versions/1/export?format=pmml')
    if st != 400 or b'format must be json or onnx' not in b:
        fail('format=pmml: %d %s' % (st, b))
    st, b, _ = call(base, 'GET', '/api/v1/models/cls-relu/versions/9/export?format=onnx')
    if st != 404:
        fail('format=onnx of a missing version: %d %s' % (st, b))

    with open(os.path.join(out_dir, 'manifest.json'), 'w') as f:
        json.dump(manifest, f)
    print('export_test: %d exported models pass onnx.checker.check_model (onnx %s)'
          % (len(manifest), onnx.__version__))


def check_file(file, name, v, task, n_in, run_id):
    m = onnx.load(file)
    try:
        checker.check_model(m, full_check=True)
    except Exception as e:  # checker.ValidationError, shape inference errors
        fail('%s: onnx.checker.check_model: %s' % (name, e))
    opsets = {o.domain: o.version for o in m.opset_import}
    if opsets.get('', 0) > 17 or opsets.get('', 0) < 13 or len(opsets) != 1:
        fail('%s: opset_import %s' % (name, opsets))
    g = m.graph
    out_name = {'classification': 'probabilities', 'regression': 'prediction',
                'autoencoder': 'reconstruction'}[task]
    if [i.name for i in g.input] != ['input'] or [o.name for o in g.output] != [out_name]:
        fail('%s: inputs %s outputs %s' % (name, [i.name for i in g.input],
                                             [o.name for o in g.output]))
    dims = g.input[0].type.tensor_type.shape.dim
    if len(dims) != 2 or dims[0].dim_param != 'N' or dims[1].dim_value != n_in:
        fail('%s: input shape %s' % (name, dims))
    ops = {n.op_type for n in g.node}
    if not ops <= ALLOWED_OPS or 'Gemm' not in ops:
        fail('%s: ops %s' % (name, sorted(ops)))
    meta = {p.key: p.value for p in m.metadata_props}
    if meta.get('mlpd.task') != task or meta.get('mlpd.model') != name or \
            meta.get('mlpd.version') != str(v) or meta.get('mlpd.run_id') != run_id:
        fail('%s: metadata_props %s' % (name, meta))
    # the exact round trip's metadata: on every standardised single network, never on an
    # ensemble (mlpd imports single networks)
    if (meta.get('mlpd.exact') == '1') == ('mlpd.ensemble_members' in meta):
        fail('%s: mlpd.exact %r with ensemble_members %r' % (
            name, meta.get('mlpd.exact'), meta.get('mlpd.ensemble_members')))
    features = json.loads(meta['mlpd.features'])
    labels = json.loads(meta['mlpd.labels'])
    want_f = ['a', 'b', 'c', 'd', 'e'] if task == 'autoencoder' else ['f1', 'f2', 'f3', 'f4']
    if features != want_f:
        fail('%s: mlpd.features %s' % (name, features))
    if task == 'classification' and labels not in (['a', 'b', 'c'], ['no', 'yes']):
        fail('%s: mlpd.labels %s' % (name, labels))
    if name == 'ens' and (meta.get('mlpd.ensemble_members') != '2' or 'Mean' not in ops):
        fail('ens: not a Mean of 2 members: %s %s' % (meta, sorted(ops)))
    if name.startswith('reghead-') and (v == 2) != ('Add' in ops):
        fail('%s v%d: output de-standardisation after the head: %s' % (name, v, 'Add' in ops))
    heads = {n.op_type for n in g.node if n.output[0] == out_name}
    if name.startswith('cls-') and heads != {'Softmax'}:
        fail('%s: head %s' % (name, heads))
    if name.startswith('bin-') and heads != {'Sigmoid'}:
        fail('%s: head %s' % (name, heads))


if __name__ == '__main__':
    main()
