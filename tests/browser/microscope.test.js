"use strict";
/* microscope.test.js — the autoencoder microscope in the dashboard (web/microscope.js), in a real
 * browser against the real daemon: an autoencoder trained (through the API) on 8×8 images of a
 * blob, with 10 rows of uniform noise planted, chosen under "Try a model", shows its compression
 * against PCA, a scatter map of the codes with one series per label, and a gallery of the worst
 * reconstructed rows drawn as images, led by the planted ones; a classifier shows no microscope.
 *
 * Setup from lib.js (MLPD_BIN; /usr/bin/chromium must exist).
 * Run: `make test-browser`, or `node --test microscope.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const lib = require("./lib");

const PLANTED = new Set([5, 55, 105, 155, 205, 255, 305, 355, 405, 455]);

/* 8×8 images (p0..p63, 0..1) of a gaussian blob, labelled by the half it sits in, and the
 * PLANTED rows of uniform noise labelled "noise". */
function blobsCsv(rows) {
  const u = lib.lcg(3);
  const lines = [lib.pixelHeader(64, "kind")];
  for (let i = 0; i < rows; i++) {
    const cx = 1.5 + 4 * u(), cy = 1.5 + 4 * u();
    const px = [];
    for (let j = 0; j < 64; j++) {
      const x = j % 8, y = Math.floor(j / 8);
      px.push(PLANTED.has(i) ? u() : Math.exp(-((x - cx) ** 2 + (y - cy) ** 2) / 3));
    }
    lines.push(px.map((v) => v.toFixed(4)).join(",") + "," + (PLANTED.has(i) ? "noise" : cy < 3.5 ? "top" : "bottom"));
  }
  return lines.join("\n") + "\n";
}

/* Trains `body` (a run request) through the API and waits until it succeeded. */
async function train(url, body) {
  const r = await lib.api(url, null, "POST", "/api/v1/runs", body);
  assert.equal(r.status, 202);
  const id = r.json.id;
  const run = await lib.waitRun(url, id);
  if (run.status === "succeeded") return;
  assert.ok(run.status === "queued" || run.status === "running", `run ${id} ended ${run.status}`);
  throw new Error(`run ${id} did not finish within 60 s`);
}

let tmp, daemon, ctx, page;
const consoleErrors = [];

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-ms-", { seed: async (d) => {
    const ds = (await lib.uploadCsv(d.url, "name=blobs", blobsCsv(500))).id;
    await train(d.url, { dataset_id: ds, task: "autoencoder", model_name: "blob-ae",
      params: { hidden: [32, 2, 32], activation: "tanh", output_activation: "linear", optimizer: "adam",
        learning_rate: 0.003, batch_size: 32, epochs: 60, seed: 3 } });
    await train(d.url, { dataset_id: ds, task: "classification", target: "kind", model_name: "blob-cls",
      params: { hidden: [8], epochs: 2 } });
  } }));
  lib.watchErrors(page, consoleErrors, { console: "all" });
});

after(() => lib.teardown({ ctx, daemon, tmp }));

test("an autoencoder's map, compression and worst-reconstructed gallery", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  await page.waitForFunction(() => typeof uPlot === "function" && window.mlpdMicroscope &&
    document.querySelectorAll("#try-model option").length >= 2);
  await page.selectOption("#try-model", "blob-ae");
  await page.waitForSelector("#ms-sec:not([hidden])");
  const comp = await page.textContent("#ms-compression");
  assert.match(comp, /compression 32× \(64 → 2\); reconstruction error \(MSE per value\) [\d.e-]+ on 50 validation rows; PCA with 2 components: [\d.e-]+/);
  assert.equal(await page.inputValue("#ms-ds"), "ds_1"); // the run's dataset

  await page.click("#ms-map-btn");
  await page.waitForFunction(() => Number(document.querySelector("#ms-map").dataset.points) > 0);
  assert.equal(await page.getAttribute("#ms-map", "data-points"), "500");
  assert.equal(await page.getAttribute("#ms-map", "data-labels"), "3"); // bottom, noise, top
  assert.ok(await page.$("#ms-map canvas"), "the scatter plot is drawn");
  const legend = await page.$$eval("#ms-map .u-legend .u-label", (ls) => ls.map((l) => l.textContent));
  for (const l of ["bottom", "noise", "top"]) assert.ok(legend.includes(l), `legend lacks ${l}: ${legend}`);
  assert.match(await page.textContent("#ms-map-note"), /the 2-D code itself; colour: kind/);

  await page.click("#ms-outliers-btn");
  await page.waitForFunction(() => document.querySelector("#ms-gallery").dataset.rows === "12");
  assert.equal(await page.getAttribute("#ms-gallery", "data-images"), "1");
  assert.equal((await page.$$("#ms-gallery canvas.digit")).length, 24); // input and reconstruction
  const captions = await page.$$eval("#ms-gallery .ms-pair figure:first-child figcaption", (fs) => fs.map((f) => f.textContent));
  const planted = captions.filter((c) => / · noise$/.test(c)).length;
  assert.ok(planted >= 8, `only ${planted} of the 10 planted rows among the 12 worst: ${captions}`);
  assert.match(captions[0], /^row \d+ · noise$/);

  // A classifier has no microscope.
  await page.selectOption("#try-model", "blob-cls");
  await page.waitForSelector("#ms-sec", { state: "hidden" });
  assert.deepEqual(consoleErrors, []);
});
