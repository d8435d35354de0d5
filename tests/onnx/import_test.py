#!/usr/bin/python3
"""import_test.py — ONNX import (POST /api/v1/models/{name}/versions, Content-Type
application/onnx) against the real daemon ($MLPD_BIN), with models trained in PyTorch (Debian's
python3-torch) on a few hundred generated rows and written by torch.onnx.export (opset 17):

- a classifier (input normalisation as Sub/Div, BatchNorm1d, ReLU, Dropout, Softmax head), a
  regressor (swish, which torch writes as x*Sigmoid(x)) and an autoencoder (tanh, Sigmoid output),
  plus one small network per other mlpd activation (leaky_relu, elu, softplus, softsign, mish,
  sigmoid) and a one-output Sigmoid classifier; each imported, then :predict compared with
  PyTorch's outputs (relative 1e-5, absolute 1e-6 near 0);
- the round trip mlpd -> ONNX -> mlpd: versions trained by mlpd runs (standardised inputs, and a
  standardised regression target) are written as ONNX with python3-onnx's helper API from the
  weights of their JSON export (Sub/Div of the standardisation, Gemm per layer, the activations,
  Mul/Add of the output scaling), imported, and must predict bit-identically;
- the same file as a multipart part, and the query parameters task/labels/features.

Fails, never skips, when torch or onnx is missing."""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import uuid

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    import torch
except ImportError as e:  # a missing dependency is a failure, never a skip
    sys.exit('import_test.py: %s (install Debian python3-torch and python3-onnx: '
             'scripts/install-deps.sh)' % e)

BIN = os.environ.get('MLPD_BIN', 'build/mlpd')
RTOL, ATOL = 1e-5, 1e-6


def call(base, method, path, body=None, ctype='application/json'):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={'Content-Type': ctype} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


def torch_onnx(model, n_in):
    f = io.BytesIO()
    torch.onnx.export(model.eval(), torch.zeros(2, n_in), f, opset_version=17,
                      input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'N'}, 'output': {0: 'N'}})
    return f.getvalue()


class Norm(torch.nn.Module):
    """(x - mean) / std, as a preprocessing layer: torch writes it as Sub and Div."""

    def __init__(self, X):
        super().__init__()
        self.register_buffer('m', X.mean(0))
        self.register_buffer('s', X.std(0) + 0.1)

    def forward(self, x):
        return (x - self.m) / self.s


def train(model, X, Y, loss, epochs=60):
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model.train()
    for _ in range(epochs):
        for i in range(0, len(X), 50):
            opt.zero_grad()
            loss(model(X[i:i + 50]), Y[i:i + 50]).backward()
            opt.step()
    return model.eval()


class Import(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.manual_seed(7)
        torch.set_num_threads(1)
        cls.dir = tempfile.mkdtemp(prefix='mlpd-onnxin-')
        port_file = os.path.join(cls.dir, 'port')
        cls.log = open(os.path.join(cls.dir, 'log'), 'w')
        cls.proc = subprocess.Popen([BIN, '--listen', '127.0.0.1:0', '--data-dir', cls.dir,
                                     '--port-file', port_file, '--quiet'], stderr=cls.log)
        for _ in range(2000):
            if os.path.exists(port_file):
                break
            time.sleep(0.01)
        with open(port_file) as f:
            cls.base = 'http://127.0.0.1:%s' % f.read().strip()
        g = torch.Generator().manual_seed(1)
        cls.X = torch.randn(300, 8, generator=g) * torch.linspace(0.5, 4, 8) + torch.arange(8.0)
        cls.Xt = torch.randn(40, 8, generator=g) * 2 + 3

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        rc = cls.proc.wait(timeout=60)
        cls.log.close()
        if rc != 0:  # a sanitizer report or a crash (an ASan build of the daemon)
            with open(os.path.join(cls.dir, 'log')) as f:
                sys.stderr.write(f.read()[-4000:])
            raise AssertionError('mlpd exited with status %d after SIGTERM' % rc)
        shutil.rmtree(cls.dir, ignore_errors=True)

    def post_onnx(self, name, blob, query=''):
        st, b, h = call(self.base, 'POST', '/api/v1/models/%s/versions%s' % (name, query), blob,
                        'application/onnx')
        return st, json.loads(b), h

    def predict(self, name, X, version=None):
        path = '/v1/models/%s%s:predict' % (name, '/versions/%d' % version if version else '')
        st, b, _ = call(self.base, 'POST', path, {'instances': X.tolist()})
        self.assertEqual(st, 200, b)
        return np.array(json.loads(b)['predictions'], dtype=np.float64)

    def import_and_compare(self, name, model, X, query='', expect_task=None, post=None):
        blob = torch_onnx(model, X.shape[1])
        st, v, h = self.post_onnx(name, blob, query)
        self.assertEqual(st, 201, v)
        self.assertEqual(h['Location'], '/api/v1/models/%s/versions/%d' % (name, v['version']))
        if expect_task:
            self.assertEqual(v['task'], expect_task)
        with torch.no_grad():
            want = model(X).double().numpy()
        if post:
            want = post(want)
        got = self.predict(name, X).reshape(want.shape)
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL, err_msg=name)
        return v

    def test_classifier(self):
        X = self.X
        y = ((X[:, 0] - 0.0) * 0.7 + (X[:, 3] - 3.0) - 0.5 * (X[:, 5] - 5.0) > 0).long()
        y = y + (X[:, 1] > 1.5).long()
        m = torch.nn.Sequential(Norm(X), torch.nn.Linear(8, 16), torch.nn.BatchNorm1d(16),
                                torch.nn.ReLU(), torch.nn.Dropout(0.1), torch.nn.Linear(16, 12),
                                torch.nn.ReLU(), torch.nn.Linear(12, 3))
        train(m, X, y, torch.nn.CrossEntropyLoss())
        m = torch.nn.Sequential(*m, torch.nn.Softmax(dim=1)).eval()
        feats = ','.join('f%d' % i for i in range(8))
        v = self.import_and_compare('cls', m, self.Xt, '?labels=lo,mid,hi&features=' + feats,
                                    'classification')
        self.assertEqual(v['labels'], ['lo', 'mid', 'hi'])
        self.assertEqual(v['feature_names'], feats.split(','))
        # the labels answer :classify
        st, b, _ = call(self.base, 'POST', '/v1/models/cls:classify',
                        {'instances': self.Xt[:2].tolist()})
        self.assertEqual(st, 200, b)
        self.assertIn(b'"lo"', b)

    def test_log_softmax_head_serves_probabilities(self):
        m = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.Tanh(), torch.nn.Linear(6, 4),
                                torch.nn.LogSoftmax(dim=1)).eval()
        self.import_and_compare('logsm', m, self.Xt, '', 'classification', post=np.exp)

    def test_regressor(self):
        X = self.X
        Y = torch.stack([torch.sin(X[:, 0]) + 0.1 * X[:, 4], X[:, 2] * X[:, 7] * 0.05], 1)
        m = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.SiLU(), torch.nn.Linear(16, 16),
                                torch.nn.SiLU(), torch.nn.Linear(16, 2))
        train(m, X, Y, torch.nn.MSELoss())
        self.import_and_compare('reg', m, self.Xt, '', 'regression')

    def test_autoencoder(self):
        X = torch.sigmoid(self.X[:, :8] - torch.arange(8.0))
        m = torch.nn.Sequential(torch.nn.Linear(8, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3),
                                torch.nn.Tanh(), torch.nn.Linear(3, 6), torch.nn.Tanh(),
                                torch.nn.Linear(6, 8), torch.nn.Sigmoid())
        train(m, X, X, torch.nn.MSELoss())
        Xt = torch.sigmoid(self.Xt - torch.arange(8.0))
        self.import_and_compare('ae', m, Xt, '', 'autoencoder')
        # the task parameter overrides the graph's guess
        self.import_and_compare('ae_as_reg', m, Xt, '?task=regression', 'regression')

    def test_every_activation(self):
        acts = {'leaky_relu': torch.nn.LeakyReLU(0.1), 'elu': torch.nn.ELU(),
                'softplus': torch.nn.Softplus(), 'softsign': torch.nn.Softsign(),
                'mish': torch.nn.Mish(), 'sigmoid': torch.nn.Sigmoid(), 'tanh': torch.nn.Tanh(),
                'relu': torch.nn.ReLU(), 'swish': torch.nn.SiLU()}
        for name, a in acts.items():
            with self.subTest(activation=name):
                m = torch.nn.Sequential(torch.nn.Linear(8, 10), a, torch.nn.Linear(10, 7), a,
                                        torch.nn.Linear(7, 3)).eval()
                self.import_and_compare('act_' + name, m, self.Xt / 3, '', 'regression')

    def test_binary_sigmoid_classifier(self):
        m = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.ELU(), torch.nn.Linear(5, 1),
                                torch.nn.Sigmoid()).eval()
        v = self.import_and_compare('bin', m, self.Xt / 4, '?labels=no,yes', 'classification')
        self.assertEqual(v['labels'], ['no', 'yes'])

    def test_multipart(self):
        m = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        blob = torch_onnx(m, 8)
        bd = uuid.uuid4().hex
        body = (('--%s\r\nContent-Disposition: form-data; name="file"; filename="m.onnx"\r\n'
                 'Content-Type: application/octet-stream\r\n\r\n' % bd).encode() + blob +
                ('\r\n--%s--\r\n' % bd).encode())
        st, b, _ = call(self.base, 'POST', '/api/v1/models/mp/versions', body,
                        'multipart/form-data; boundary=' + bd)
        self.assertEqual(st, 201, b)
        with torch.no_grad():
            want = m.eval()(self.Xt).double().numpy()
        np.testing.assert_allclose(self.predict('mp', self.Xt), want, rtol=RTOL, atol=ATOL)

    def test_gelu_is_refused_by_name(self):
        m = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.GELU(), torch.nn.Linear(4, 2))
        st, v, _ = self.post_onnx('gelu', torch_onnx(m, 8))
        self.assertEqual(st, 400, v)
        self.assertIn('Erf', v['detail'])
        self.assertIn('gelu', v['detail'])
        self.assertIn('Gemm', v['detail'])  # the supported list

    def test_helper_graph_matmul_add_dropout_constant(self):
        """What other exporters write: a Constant scaling the input, MatMul + Add, Dropout with
        its ratio and a false training_mode (bool), Gemm without transB and with alpha/beta,
        float_data weights."""
        rng = np.random.default_rng(5)
        W1, b1 = rng.normal(size=(8, 5)).astype(np.float32), rng.normal(size=5).astype(np.float32)
        W2, b2 = rng.normal(size=(5, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
        ft = lambda n, a: helper.make_tensor(n, TensorProto.FLOAT, a.shape, a.ravel().tolist())
        nodes = [
            helper.make_node('Constant', [], ['half'], value=helper.make_tensor(
                'h', TensorProto.FLOAT, [], [0.5])),
            helper.make_node('Mul', ['input', 'half'], ['xs']),
            helper.make_node('MatMul', ['xs', 'W1'], ['z1']),
            helper.make_node('Add', ['z1', 'b1'], ['y1']),
            helper.make_node('Dropout', ['y1', 'ratio', 'tm'], ['d1']),
            helper.make_node('Relu', ['d1'], ['a1']),
            helper.make_node('Gemm', ['a1', 'W2', 'b2'], ['output'], alpha=2.0, beta=0.5)]
        g = helper.make_graph(nodes, 'h', [helper.make_tensor_value_info(
            'input', TensorProto.FLOAT, ['N', 8])], [helper.make_tensor_value_info(
                'output', TensorProto.FLOAT, ['N', 2])],
            [ft('W1', W1), ft('b1', b1), ft('W2', W2), ft('b2', b2),
             ft('ratio', np.array(0.3, dtype=np.float32)),
             helper.make_tensor('tm', TensorProto.BOOL, [], [False])])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)])
        m.ir_version = 7
        onnx.checker.check_model(m)
        st, v, _ = self.post_onnx('helper', m.SerializeToString())
        self.assertEqual(st, 201, v)
        self.assertEqual(v['task'], 'regression')
        X = self.Xt.numpy()
        want = 2 * (np.maximum(0, (X * 0.5) @ W1 + b1) @ W2) + 0.5 * b2
        np.testing.assert_allclose(self.predict('helper', self.Xt), want, rtol=RTOL, atol=1e-5)

    # ---- mlpd -> ONNX -> mlpd ----------------------------------------------------------------

    def mlpd_run(self, csv, task, target, model, params):
        st, b, _ = call(self.base, 'POST', '/api/v1/datasets?name=' + model, csv.encode(),
                        'text/csv')
        self.assertEqual(st, 201, b)
        st, b, _ = call(self.base, 'POST', '/api/v1/runs', {
            'dataset_id': json.loads(b)['id'], 'task': task, 'target': target,
            'model_name': model, 'params': params})
        self.assertEqual(st, 202, b)
        run = json.loads(b)['id']
        for _ in range(3000):
            st, b, _ = call(self.base, 'GET', '/api/v1/runs/' + run)
            if json.loads(b)['status'] in ('succeeded', 'failed', 'cancelled'):
                break
            time.sleep(0.02)
        self.assertEqual(json.loads(b)['status'], 'succeeded', b)

    def onnx_of_export(self, doc):
        """The ONNX file of an mlpd export document, written with onnx.helper: Sub/Div of the
        input standardisation, Gemm (transB) per layer, the activations as the ONNX ops or
        torch's decompositions, Mul/Add of the output standardisation."""
        f32 = lambda a: np.array(a, dtype=np.float32)
        nodes, inits = [], []
        cur = 'input'
        k = [0]

        def nm(p):
            k[0] += 1
            return '%s_%d' % (p, k[0])

        def const(a):
            n = nm('c')
            inits.append(numpy_helper.from_array(f32(a), n))
            return n

        def node(op, ins, **attrs):
            out = nm(op)
            nodes.append(helper.make_node(op, ins, [out], name=nm('n_' + op), **attrs))
            return out

        def act(a, x):
            simple = {'relu': 'Relu', 'sigmoid': 'Sigmoid', 'tanh': 'Tanh', 'softplus': 'Softplus',
                      'softsign': 'Softsign', 'softmax': 'Softmax'}
            if a == 'linear':
                return x
            if a in simple:
                return node(simple[a], [x], **({'axis': 1} if a == 'softmax' else {}))
            if a == 'leaky_relu':
                return node('LeakyRelu', [x], alpha=0.1)
            if a == 'elu':
                return node('Elu', [x], alpha=1.0)
            if a == 'swish':
                return node('Mul', [x, node('Sigmoid', [x])])
            if a == 'mish':
                return node('Mul', [x, node('Tanh', [node('Softplus', [x])])])
            raise AssertionError(a)

        st = doc.get('standardization')
        if st:
            cur = node('Div', [node('Sub', [cur, const(st['x_mean'])]), const(st['x_scale'])])
        for L in doc['layers']:
            cur = node('Gemm', [cur, const(L['weights']), const(L['bias'])], transB=1)
            cur = act(L['activation'], cur)
        if st and doc['task'] != 'classification':
            cur = node('Add', [node('Mul', [cur, const(st['y_scale'])]), const(st['y_mean'])])
        nodes[-1].output[0] = 'output'
        n_in, n_out = doc['layers'][0]['in'], doc['layers'][-1]['out']
        g = helper.make_graph(nodes, 'mlpd', [helper.make_tensor_value_info(
            'input', TensorProto.FLOAT, ['N', n_in])], [helper.make_tensor_value_info(
                'output', TensorProto.FLOAT, ['N', n_out])], inits)
        m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 17)], producer_name='t')
        m.ir_version = 8
        helper.set_model_props(m, {'mlpd.task': doc['task'],
                                   'mlpd.features': json.dumps(doc.get('feature_names', [])),
                                   'mlpd.labels': json.dumps(doc.get('labels', []))})
        onnx.checker.check_model(m)
        return m.SerializeToString()

    def round_trip(self, model, X):
        st, b, _ = call(self.base, 'GET', '/api/v1/models/%s/versions/1/export' % model)
        self.assertEqual(st, 200, b)
        doc = json.loads(b)
        st, v, _ = self.post_onnx(model, self.onnx_of_export(doc))
        self.assertEqual(st, 201, v)
        self.assertEqual(v['version'], 2)
        self.assertEqual(v['task'], doc['task'])
        self.assertEqual(v['feature_names'], doc['feature_names'])
        self.assertEqual(v['labels'], doc['labels'])
        a, b2 = self.predict(model, X, 1), self.predict(model, X, 2)
        self.assertTrue(np.array_equal(a, b2), (model, np.abs(a - b2).max()))

    def test_round_trip_classifier(self):
        rows = ['%g,%g,%g,%s' % (i % 7, (i * 3) % 11, i % 5, 'abc'[(i + i // 7) % 3])
                for i in range(200)]
        self.mlpd_run('x,y,z,k\n' + '\n'.join(rows) + '\n', 'classification', 'k', 'rtc',
                      {'hidden': [6, 5], 'activation': 'mish', 'epochs': 5, 'seed': 2})
        self.round_trip('rtc', self.Xt[:, :3])

    def test_round_trip_regressor(self):
        rows = ['%g,%g,%g' % (i % 13, (i * 7) % 17, (i % 13) * 2.5 - (i * 7) % 17)
                for i in range(200)]
        self.mlpd_run('x,y,t\n' + '\n'.join(rows) + '\n', 'regression', 't', 'rtr',
                      {'hidden': [7], 'activation': 'tanh', 'epochs': 5, 'seed': 3})
        self.round_trip('rtr', self.Xt[:, :2] * 3)


if __name__ == '__main__':
    unittest.main(verbosity=2)
