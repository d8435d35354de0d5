// ort.test.js — every ONNX file export_test.py wrote runs in onnxruntime (onnxruntime-node, pinned
// in package-lock.json) on the same rows mlpd's :predict answered, and each output value agrees
// with mlpd's within 1e-5 relative, for every activation, task, head and the ensemble (all
// trained with batch norm and standardisation on). Relative to the output's magnitude: for
// output j, |ort - mlpd| <= 1e-5 * max(|mlpd|, max over the rows of |mlpd[., j]|). A value that a
// Gemm's cancellation leaves near 0 (tanh(-8.7e-5) under an untrained head) has no meaningful
// digits of its own to agree on: any summation order moves it by ~1e-7 of the terms' size.
// ONNX_MANIFEST names the manifest (default: build/onnx-test/manifest.json from the repository
// root).
'use strict';
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const ort = require('onnxruntime-node');

const RTOL = 1e-5;
const manifestPath =
  process.env.ONNX_MANIFEST || path.join(__dirname, '..', '..', 'build', 'onnx-test', 'manifest.json');

const manifest = JSON.parse(fs.readFileSync(manifestPath, 'utf8'));

test('the manifest covers every activation and task', () => {
  const names = manifest.map((m) => m.name);
  for (const act of ['linear', 'sigmoid', 'tanh', 'relu', 'leaky_relu', 'elu', 'softplus', 'swish',
    'mish', 'softsign'])
    for (const t of ['cls', 'bin', 'reg', 'ae'])
      assert.ok(names.includes(`${t}-${act}-v1`), `${t}-${act}-v1 missing from ${manifestPath}`);
  assert.ok(names.includes('ens-v1'), 'the ensemble is missing');
  assert.ok(names.includes('reghead-tanh-v2'), 'a non-linear head with y standardisation is missing');
});

for (const m of manifest) {
  test(`${m.name}: onnxruntime agrees with mlpd's :predict within ${RTOL} relative`, async () => {
    const session = await ort.InferenceSession.create(m.file);
    assert.deepStrictEqual(session.inputNames, ['input']);
    assert.deepStrictEqual(session.outputNames, [m.output]);
    const rows = m.input.length, d = m.input[0].length;
    const x = new ort.Tensor('float32', Float32Array.from(m.input.flat()), [rows, d]);
    const out = (await session.run({ input: x }))[m.output];
    const want = m.expected.flat();
    assert.strictEqual(out.dims[0], rows);
    assert.strictEqual(out.data.length, want.length);
    const k = want.length / rows, scale = new Array(k).fill(0);
    for (let i = 0; i < want.length; i++) scale[i % k] = Math.max(scale[i % k], Math.abs(want[i]));
    let worst = 0;
    for (let i = 0; i < want.length; i++) {
      const got = out.data[i], e = want[i];
      const rel = Math.abs(got - e) / Math.max(Math.abs(e), scale[i % k]);
      if (!(rel <= RTOL))
        assert.fail(`${m.name}: value ${i} (row ${Math.floor(i / k)}): ` +
          `onnxruntime ${got}, mlpd ${e}, relative difference ${rel}`);
      worst = Math.max(worst, rel);
    }
    await session.release();
    console.log(`# ${m.name}: worst relative difference ${worst.toExponential(2)}`);
  });
}
