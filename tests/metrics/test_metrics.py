#!/usr/bin/python3
"""test_metrics.py — GET /metrics parsed by a real Prometheus text parser (Debian's
python3-prometheus-client, prometheus_client.parser.text_string_to_metric_families) against the
real daemon ($MLPD_BIN): every family is there with its type, HTTP requests are labelled by the
route pattern (not the raw path), histogram counts agree with the request counters, inference
counts /v1 and /v2 requests and instances per model and version, and the gauges read at
scrape time (runs by state, epochs, models loaded, memory, connections) have the right values."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BIN = os.environ.get('MLPD_BIN', 'build/mlpd')


def call(base, method, path, body=None, ctype='application/json'):
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method,
                                 headers={'Content-Type': ctype} if data is not None else {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read(), r.headers
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers


class Metrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix='mlpd-metrics-')
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
        csv = 'x,y,k\n' + ''.join('%d,%d,%s\n' % (i % 7, i % 5, 'ab'[i % 2]) for i in range(60))
        st, b, _ = call(cls.base, 'POST', '/api/v1/datasets?name=m', csv.encode(), 'text/csv')
        assert st == 201, b
        st, b, _ = call(cls.base, 'POST', '/api/v1/runs', {
            'dataset_id': json.loads(b)['id'], 'task': 'classification', 'target': 'k',
            'model_name': 'mm', 'params': {'hidden': [4], 'epochs': 3, 'seed': 1}})
        assert st == 202, b
        run = json.loads(b)['id']
        for _ in range(3000):
            st, b, _ = call(cls.base, 'GET', '/api/v1/runs/' + run)
            if json.loads(b)['status'] in ('succeeded', 'failed', 'cancelled'):
                break
            time.sleep(0.02)
        assert json.loads(b)['status'] == 'succeeded', b
        # 3 /v2 infers of 2 rows, 2 unknown paths, 1 bad /v2 request
        for _ in range(3):
            st, b, _ = call(cls.base, 'POST', '/v2/models/mm/infer', {'inputs': [
                {'name': 'input', 'shape': [2, 2], 'datatype': 'FP32', 'data': [1, 2, 3, 4]}]})
            assert st == 200, b
        # and 2 /v1 :predict calls of 1 and 3 rows
        for rows in ([[1, 2]], [[1, 2], [3, 4], [5, 6]]):
            st, b, _ = call(cls.base, 'POST', '/v1/models/mm:predict', {'instances': rows})
            assert st == 200, b
        for p in ('/no/such/path', '/another/one'):
            assert call(cls.base, 'GET', p)[0] == 404
        assert call(cls.base, 'POST', '/v2/models/mm/infer', {'inputs': []})[0] == 400
        st, b, h = call(cls.base, 'GET', '/metrics')
        assert st == 200, b
        cls.ctype = h['Content-Type']
        cls.text = b.decode()
        cls.fam = {f.name: f for f in text_string_to_metric_families(cls.text)}

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(30)
        cls.log.close()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def sample(self, family, name, **labels):
        for s in self.fam[family].samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        self.fail('no sample %s%s in\n%s' % (name, labels, self.text))

    def test_content_type_and_families(self):
        self.assertTrue(self.ctype.startswith('text/plain; version=0.0.4'), self.ctype)
        want = {'mlpd_http_requests': 'counter', 'mlpd_http_request_duration_seconds': 'histogram',
                'mlpd_inference_requests': 'counter', 'mlpd_inference_instances': 'counter',
                'mlpd_runs': 'gauge', 'mlpd_run_queue_depth': 'gauge',
                'mlpd_training_epochs': 'counter', 'mlpd_models_loaded': 'gauge',
                'process_resident_memory_bytes': 'gauge', 'mlpd_open_connections': 'gauge'}
        for name, typ in want.items():
            self.assertIn(name, self.fam)
            self.assertEqual(self.fam[name].type, typ, name)

    def test_requests_by_route_pattern(self):
        v = self.sample('mlpd_http_requests', 'mlpd_http_requests_total',
                        route='/v2/models/{name}/infer', method='POST', code='200')
        self.assertEqual(v, 3)
        self.assertEqual(self.sample('mlpd_http_requests', 'mlpd_http_requests_total',
                                     route='/v2/models/{name}/infer', method='POST', code='400'), 1)
        self.assertEqual(self.sample('mlpd_http_requests', 'mlpd_http_requests_total',
                                     route='(unmatched)', method='GET', code='404'), 2)
        for s in self.fam['mlpd_http_requests'].samples:
            self.assertNotIn('/mm', s.labels['route'], 'raw paths must not become labels')

    def test_histogram_agrees_with_counters(self):
        cnt = self.sample('mlpd_http_request_duration_seconds',
                          'mlpd_http_request_duration_seconds_count', route='/v2/models/{name}/infer')
        inf = self.sample('mlpd_http_request_duration_seconds',
                          'mlpd_http_request_duration_seconds_bucket', route='/v2/models/{name}/infer',
                          le='+Inf')
        self.assertEqual(cnt, 4)
        self.assertEqual(inf, 4)
        total = self.sample('mlpd_http_request_duration_seconds',
                            'mlpd_http_request_duration_seconds_sum', route='/v2/models/{name}/infer')
        self.assertGreater(total, 0)
        self.assertLess(total, 60)

    def test_inference_counts(self):
        self.assertEqual(self.sample('mlpd_inference_requests', 'mlpd_inference_requests_total',
                                     model='mm', version='1'), 5)
        self.assertEqual(self.sample('mlpd_inference_instances', 'mlpd_inference_instances_total',
                                     model='mm'), 10)

    def test_gauges(self):
        self.assertEqual(self.sample('mlpd_runs', 'mlpd_runs', state='succeeded'), 1)
        self.assertEqual(self.sample('mlpd_runs', 'mlpd_runs', state='queued'), 0)
        self.assertEqual(self.sample('mlpd_run_queue_depth', 'mlpd_run_queue_depth'), 0)
        self.assertEqual(self.sample('mlpd_training_epochs', 'mlpd_training_epochs_total'), 3)
        self.assertEqual(self.sample('mlpd_models_loaded', 'mlpd_models_loaded'), 1)
        self.assertGreater(self.sample('process_resident_memory_bytes', 'process_resident_memory_bytes'), 1 << 20)
        self.assertGreaterEqual(self.sample('mlpd_open_connections', 'mlpd_open_connections'), 1)


if __name__ == '__main__':
    unittest.main(verbosity=2)
