#!/usr/bin/python3
"""import_roundtrip_test.py — mlpd -> ONNX -> mlpd with mlpd's own ONNX file, against the real
daemon ($MLPD_BIN).

Models trained by mlpd runs with input standardisation on columns whose mean is far larger than
their spread (so folding it into the first Gemm changes digits), batch norm on, and several
activations: a classifier (Softmax head), a binary classifier (Sigmoid head), regressors whose
target is standardised (a linear head, into which the output standardisation folds; a network
without hidden layers, whose one Gemm carries both folds; a Tanh head, after which it is Mul and
Add) and an autoencoder. Each is exported with ?format=onnx, checked by onnx.checker, imported,
and must answer :predict with the same JSON numbers (compared exactly, as text and as floats) and
/v2 infer with the same FP32 bytes (binary_data_output). A copy whose first Gemm weight was moved
by one ulp must import as its graph: its predictions follow the edited graph (computed here from
the file, within 1e-5), and its JSON export holds the edited weights and no standardisation.

Fails, never skips, when python3-onnx or numpy is missing."""
import json
import os
import random
import sys
import time
import unittest

try:
    import numpy as np
    import onnx
    from onnx import numpy_helper
except ImportError as e:  # a missing dependency is a failure, never a skip
    sys.exit('import_roundtrip_test.py: %s (install Debian python3-onnx and python3-numpy: '
             'scripts/install-deps.sh)' % e)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import import_test as it  # noqa: E402  (the daemon fixture and HTTP helpers)


def tab_csv(rng):
    """Four features, two of them with |mean| >> spread, a class of three, a binary label and a
    target far from 0."""
    lines = ['f1,f2,f3,f4,kind,yes,y']
    for _ in range(120):
        f = [5000 + rng.gauss(0, 0.5), rng.gauss(0, 0.01), rng.uniform(-3, 3),
             -730.25 + rng.gauss(0, 0.03)]
        s = (f[0] - 5000) * 2 + f[1] * 100 + f[2] / 2 + (f[3] + 730.25) * 20
        kind = 'abc'[0 if s < -0.5 else 1 if s < 0.5 else 2]
        y = 1234.5 + 10 * s
        lines.append('%.9g,%.9g,%.9g,%.9g,%s,%s,%.9g' % (*f, kind, 'no' if s < 0 else 'yes', y))
    return '\n'.join(lines) + '\n'


def ae_csv(rng):
    lines = ['a,b,c,d,e']
    for _ in range(120):
        t = rng.uniform(0, 1)
        lines.append(','.join('%.9g' % v for v in (300 + t, 1 - t, t * t, 0.5 + 0.1 * rng.gauss(0, 1),
                                                   -40 + rng.uniform(0, 0.1))))
    return '\n'.join(lines) + '\n'


def v2_bytes(base, model, version, X):
    """/v2 infer with binary_data_output: the raw output bytes."""
    body = {'inputs': [{'name': 'input', 'shape': list(X.shape), 'datatype': 'FP32',
                        'data': X.ravel().tolist()}],
            'parameters': {'binary_data_output': True}}
    st, b, h = it.call(base, 'POST', '/v2/models/%s/versions/%d/infer' % (model, version), body)
    assert st == 200, b
    n = int(h['Inference-Header-Content-Length'])
    return b[n:]


def graph_predict(blob, X):
    """The graph of an mlpd ONNX file evaluated in float64: Gemm (transB) and the few ops the
    exporter writes for the models of this test."""
    m = onnx.load_from_string(blob)
    env = {i.name: numpy_helper.to_array(i).astype(np.float64) for i in m.graph.initializer}
    env['input'] = X.astype(np.float64)
    for n in m.graph.node:
        a = [env[i] for i in n.input]
        if n.op_type == 'Gemm':
            y = a[0] @ a[1].T + a[2]
        elif n.op_type == 'Relu':
            y = np.maximum(a[0], 0)
        elif n.op_type == 'Tanh':
            y = np.tanh(a[0])
        elif n.op_type == 'Sigmoid':
            y = 1 / (1 + np.exp(-a[0]))
        elif n.op_type == 'Mul':
            y = a[0] * a[1]
        elif n.op_type == 'Add':
            y = a[0] + a[1]
        else:
            raise AssertionError('graph_predict: op %s' % n.op_type)
        env[n.output[0]] = y
    return env[m.graph.output[0].name]


class RoundTrip(unittest.TestCase):
    # import_test.py's daemon fixture and helpers (not its tests, which run there)
    post_onnx = it.Import.post_onnx
    tearDownClass = classmethod(it.Import.tearDownClass.__func__)
    datasets = {}

    @classmethod
    def setUpClass(cls):
        it.Import.setUpClass.__func__(cls)
        rng = random.Random(11)
        cls.tab = tab_csv(rng)
        cls.ae = ae_csv(rng)
        rows = [[float(v) for v in r.split(',')[:4]] for r in cls.tab.splitlines()[1:41]]
        cls.Xtab = np.array(rows, dtype=np.float32)
        rows = [[float(v) for v in r.split(',')] for r in cls.ae.splitlines()[1:41]]
        cls.Xae = np.array(rows, dtype=np.float32)

    def export_onnx(self, model, version=1):
        st, blob, h = it.call(self.base, 'GET',
                              '/api/v1/models/%s/versions/%d/export?format=onnx' % (model, version))
        self.assertEqual(st, 200, blob)
        self.assertEqual(h['Content-Type'], 'application/onnx')
        onnx.checker.check_model(onnx.load_from_string(blob), full_check=True)
        return blob

    def predict_raw(self, model, version, X):
        st, b, _ = it.call(self.base, 'POST', '/v1/models/%s/versions/%d:predict' % (model, version),
                           {'instances': X.tolist()})
        self.assertEqual(st, 200, b)
        return b

    def json_export(self, model, version):
        st, b, _ = it.call(self.base, 'GET', '/api/v1/models/%s/versions/%d/export' % (model, version))
        self.assertEqual(st, 200, b)
        return json.loads(b)

    def train(self, model, csv, task, target, params):
        """A run of params (batch norm and standardisation on) on csv; waits for it to succeed.
        The features are the numeric columns f1..f4 of the tabular set, every column of the
        autoencoder's."""
        if csv not in self.datasets:
            st, b, _ = it.call(self.base, 'POST', '/api/v1/datasets?name=rt%d' % len(self.datasets),
                               csv.encode(), 'text/csv')
            self.assertEqual(st, 201, b)
            self.datasets[csv] = json.loads(b)['id']
        body = {'dataset_id': self.datasets[csv], 'task': task, 'model_name': model,
                'params': dict(params, epochs=6, seed=4, batch_norm=True, standardize=True,
                               batch_size=16)}
        if target:
            body.update(target=target, features=['f1', 'f2', 'f3', 'f4'])
        st, b, _ = it.call(self.base, 'POST', '/api/v1/runs', body)
        self.assertEqual(st, 202, b)
        run = json.loads(b)['id']
        for _ in range(3000):
            st, b, _ = it.call(self.base, 'GET', '/api/v1/runs/' + run)
            if json.loads(b)['status'] in ('succeeded', 'failed', 'cancelled'):
                break
            time.sleep(0.02)
        self.assertEqual(json.loads(b)['status'], 'succeeded', b)

    def round_trip(self, model, X):
        blob = self.export_onnx(model)
        meta = {p.key: p.value for p in onnx.load_from_string(blob).metadata_props}
        self.assertEqual(meta.get('mlpd.exact'), '1', sorted(meta))
        st, v, _ = self.post_onnx(model, blob)
        self.assertEqual(st, 201, v)
        self.assertEqual(v['version'], 2)
        a, b = self.predict_raw(model, 1, X), self.predict_raw(model, 2, X)
        self.assertEqual(a, b, model)  # the same JSON text
        pa, pb = json.loads(a)['predictions'], json.loads(b)['predictions']
        self.assertEqual(pa, pb)  # the same floats
        self.assertEqual(v2_bytes(self.base, model, 1, X), v2_bytes(self.base, model, 2, X))
        d1, d2 = self.json_export(model, 1), self.json_export(model, 2)
        self.assertEqual(d1['standardization'], d2['standardization'])
        self.assertEqual([L['weights'] for L in d1['layers']], [L['weights'] for L in d2['layers']])
        return blob

    def test_classifier_relu(self):
        self.train('rt-cls', self.tab, 'classification', 'kind',
                   {'hidden': [8, 6], 'activation': 'relu'})
        self.round_trip('rt-cls', self.Xtab)

    def test_binary_classifier_mish(self):
        self.train('rt-bin', self.tab, 'classification', 'yes',
                   {'hidden': [6], 'activation': 'mish', 'output_activation': 'sigmoid',
                    'loss': 'logistic'})
        self.round_trip('rt-bin', self.Xtab)

    def test_regressor_linear_head(self):
        self.train('rt-reg', self.tab, 'regression', 'y', {'hidden': [7, 5], 'activation': 'elu'})
        self.round_trip('rt-reg', self.Xtab)

    def test_regressor_without_hidden_layers(self):
        self.train('rt-lin', self.tab, 'regression', 'y', {'hidden': [], 'activation': 'linear'})
        self.round_trip('rt-lin', self.Xtab)

    def test_regressor_tanh_head(self):
        self.train('rt-th', self.tab, 'regression', 'y',
                   {'hidden': [5], 'activation': 'swish', 'output_activation': 'tanh'})
        self.round_trip('rt-th', self.Xtab)

    def test_autoencoder(self):
        self.train('rt-ae', self.ae, 'autoencoder', None,
                   {'hidden': [4, 2, 4], 'activation': 'softsign'})
        self.round_trip('rt-ae', self.Xae)

    def test_edited_graph_imports_as_the_graph(self):
        self.train('rt-ed', self.tab, 'regression', 'y', {'hidden': [6], 'activation': 'tanh'})
        m = onnx.load_from_string(self.export_onnx('rt-ed'))
        w = next(i for i in m.graph.initializer if i.name == 'l0_W')
        a = numpy_helper.to_array(w).copy()
        a.flat[5] = np.nextafter(a.flat[5], np.float32(np.inf))
        w.CopyFrom(numpy_helper.from_array(a, 'l0_W'))
        blob = m.SerializeToString()
        st, v, _ = self.post_onnx('rt-ed', blob)
        self.assertEqual(st, 201, v)
        got = np.array(json.loads(self.predict_raw('rt-ed', 2, self.Xtab))['predictions'])
        want = graph_predict(blob, self.Xtab).reshape(got.shape)
        np.testing.assert_allclose(got, want, rtol=1e-5)
        doc = self.json_export('rt-ed', 2)
        # the imported network is the edited graph's: its first layer holds the edited weights
        w2 = np.array(doc['layers'][0]['weights'], dtype=np.float32)
        self.assertTrue(np.array_equal(w2, a))
        self.assertNotEqual(doc['layers'][0]['weights'],
                            self.json_export('rt-ed', 1)['layers'][0]['weights'])
        st = doc.get('standardization')
        self.assertTrue(st is None or (all(x == 0 for x in st['x_mean']) and
                                       all(x == 1 for x in st['x_scale'])), st)


if __name__ == '__main__':
    unittest.main(verbosity=2)
