"use strict";
/* dashboard.test.js — the web dashboard end to end in a real browser: Debian's chromium, headless,
 * driven by playwright-core, against the real build/mlpd on an ephemeral port. Through the page
 * only: upload a CSV (file picker) and an image dataset (drag and drop), launch runs from the
 * form, watch the learning curve grow from the event stream until the run succeeds, classify a
 * row picked from the dataset, reconstruct a noisy image with a denoising autoencoder, and save a
 * screenshot. Also measures the first paint of the page.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd), MLPD_SHOT (default ../../build/dashboard.png).
 * Fails (never skips) when /usr/bin/chromium is missing: scripts/install-browser-deps.sh
 * installs it. Run: `make test-browser`, or `node --test` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib");
const SHOT = process.env.MLPD_SHOT || path.join(lib.ROOT, "build/dashboard.png");

/* Three gaussian blobs in 4 dimensions, labelled by name: a classification the net learns. */
function blobsCsv(rows) {
  const u = lib.lcg(7);
  const centers = { setosa: [0, 0, 2, 1], versicolor: [2, 1, 0, 0], virginica: [0, 2, 1, 2] };
  const names = Object.keys(centers);
  const lines = ["sepal_l,sepal_w,petal_l,petal_w,species"];
  for (let i = 0; i < rows; i++) {
    const n = names[i % 3];
    lines.push(centers[n].map((c) => (c + 0.6 * lib.randn(u)).toFixed(4)).join(",") + "," + n);
  }
  return lines.join("\n") + "\n";
}

/* 8×8 images of one horizontal or vertical bar (p0..p63, values 0..1), for the autoencoder. */
function barsCsv(rows) {
  const u = lib.lcg(11);
  const lines = [lib.pixelHeader(64)];
  for (let i = 0; i < rows; i++) {
    const k = Math.floor(u() * 8);
    const vertical = u() < 0.5;
    const px = [];
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) px.push((vertical ? x === k : y === k) ? 1 : 0);
    lines.push(px.join(","));
  }
  return lines.join("\n") + "\n";
}

let tmp, daemon, ctx, page;
const consoleErrors = [];
const failedRequests = [];

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-"));
  // Console errors, except the browser's own line for each failed request (checked below).
  lib.watchErrors(page, consoleErrors, { console: true, failed: failedRequests });
});

after(() => lib.teardown({ ctx, daemon, tmp }));

test("the page is served from the binary and paints quickly", async () => {
  // The best of 5 loads (the first warms the browser up; the machine may be busy).
  const fcps = [];
  for (let i = 0; i < 5; i++) {
    const resp = await page.goto(daemon.url + "/", { waitUntil: "load" });
    assert.equal(resp.status(), 200);
    assert.match(resp.headers()["content-type"], /^text\/html/);
    assert.equal(resp.headers()["cache-control"], "no-cache");
    /* the paint timing entry is queued after the paint; give it a moment on a busy machine */
    await page.waitForFunction(() => performance.getEntriesByType("paint").some((e) => e.name === "first-contentful-paint"),
      null, { timeout: 5000 }).catch(() => {});
    const t = await page.evaluate(() => {
      const p = performance.getEntriesByType("paint");
      const fcp = p.find((e) => e.name === "first-contentful-paint");
      const fp = p.find((e) => e.name === "first-paint");
      return { fp: fp ? fp.startTime : null, fcp: fcp ? fcp.startTime : null,
        load: performance.getEntriesByType("navigation")[0].loadEventEnd };
    });
    assert.ok(t.fcp !== null, "no first-contentful-paint entry");
    fcps.push(t);
  }
  const best = Math.min(...fcps.map((t) => t.fcp));
  const median = fcps.map((t) => t.fcp).sort((a, b) => a - b)[2];
  console.log(`# first-contentful-paint ms: ${fcps.map((t) => t.fcp.toFixed(1)).join(", ")}; ` +
    `first-paint ms: ${fcps.map((t) => (t.fp ?? NaN).toFixed(1)).join(", ")}; ` +
    `load ms: ${fcps.map((t) => t.load.toFixed(1)).join(", ")}; best FCP ${best.toFixed(1)}, median ${median.toFixed(1)}`);
  assert.ok(best < 300, `first contentful paint ${best.toFixed(0)} ms >= 300 ms`);
  await page.waitForFunction(() => typeof uPlot === "function" && document.querySelectorAll("#params code").length > 20);
  // The form offers every params field of the API.
  const fields = await page.$$eval("#params code", (cs) => cs.map((c) => c.textContent));
  for (const k of ["hidden", "activation", "output_activation", "loss", "init", "optimizer", "learning_rate",
    "momentum", "beta1", "beta2", "epsilon", "lr_schedule", "lr_decay", "step_epochs", "bias_lr_multiplier",
    "batch_size", "epochs", "weight_decay", "batch_norm", "dropout", "standardize", "noise", "early_stopping", "seed"])
    assert.ok(fields.includes(k), `params field ${k} is not in the form`);
  assert.equal(await page.textContent("#health"), "serving");
});

test("upload a CSV, launch a run, watch it live, classify a row", async () => {
  const csv = path.join(tmp, "blobs.csv");
  fs.writeFileSync(csv, blobsCsv(3000));
  await page.fill("#ds-name", "blobs");
  await page.setInputFiles("#file", csv);
  await page.waitForSelector("#ds-detail h3");
  const head = await page.textContent("#ds-detail h3");
  assert.match(head, /"blobs" — 3000 rows, 5 columns \(4 numeric, 1 categorical\)/);
  const detail = await page.textContent("#ds-detail");
  assert.match(detail, /species/);
  assert.match(detail, /setosa, versicolor, virginica/);

  // The form: the new dataset and its categorical target are chosen for us.
  assert.equal(await page.inputValue("#rf-target"), "species");
  assert.equal(await page.inputValue("#rf-task"), "classification");
  await page.fill("#rf-model", "blobs");
  await page.fill("#p-hidden", "256, 256");
  await page.fill("#p-batch_size", "1");
  await page.fill("#p-epochs", "12");
  await page.selectOption("#p-optimizer", "momentum");
  await page.fill("#p-learning_rate", "0.01");
  // A bad value is answered by the server and marked on its field.
  await page.fill("#p-dropout", "1.5");
  await page.click("#validate");
  await page.waitForSelector("#p-dropout.bad");
  assert.match(await page.textContent("#run-msg"), /params\.dropout/);
  await page.fill("#p-dropout", "0");
  await page.click("#launch");

  // Watch: sample the chart's point count while the run goes on.
  const seen = [];
  const t0 = Date.now();
  let status = "";
  while (Date.now() - t0 < 60000) {
    const s = await page.evaluate(() => ({
      points: window.mlpdDash.chart ? window.mlpdDash.chart.data[0].length : -1,
      status: document.querySelector("#live-state").textContent,
      bar: document.querySelector("#live-bar").style.width,
    }));
    if (!seen.length || seen[seen.length - 1].points !== s.points || seen[seen.length - 1].status !== s.status) seen.push(s);
    status = s.status;
    if (["succeeded", "failed", "cancelled"].includes(status)) break;
    await new Promise((r) => setTimeout(r, 40));
  }
  console.log("# live samples (points/status): " + seen.map((s) => `${s.points}/${s.status}`).join(" "));
  assert.equal(status, "succeeded", "the run did not succeed within 60 s");
  const live = await page.evaluate(() => ({
    mode: window.mlpdDash.live.mode, history: window.mlpdDash.live.history,
    points: window.mlpdDash.chart.data[0].length, xs: window.mlpdDash.chart.data[0],
    val: window.mlpdDash.chart.data[2], acc: window.mlpdDash.chart.data[3], progress: document.querySelector("#live-progress").textContent,
    bar: document.querySelector("#live-bar").style.width,
  }));
  assert.equal(live.mode, "sse", "the page did not follow the run through its event stream");
  assert.deepEqual(live.xs, Array.from({ length: 12 }, (_, i) => i + 1), "one chart point per epoch, in order");
  assert.deepEqual(live.history, Array.from({ length: 12 }, (_, i) => i + 1), "the chart grew by one point per epoch event");
  assert.ok(live.val.every((v) => typeof v === "number" && v > 0), "every epoch has a val_loss");
  assert.ok(live.acc.every((v) => typeof v === "number"), "every epoch has a val_accuracy");
  assert.ok(live.acc[11] >= 0.9, `val_accuracy ${live.acc[11]} on well-separated blobs`);
  const distinct = new Set(seen.map((s) => s.points).filter((p) => p >= 0));
  assert.ok(distinct.size >= 3, `the chart was seen with only ${[...distinct]} points`);
  assert.match(live.progress, /epoch 12\/12/);
  assert.match(live.bar, /^100(\.0)?%$/);

  // The run is listed, and its model.
  await page.waitForSelector('#runs-table tr[data-id="run_1"]');
  assert.match(await page.textContent('#runs-table tr[data-id="run_1"]'), /succeeded/);
  await page.waitForFunction(() => document.querySelector("#models-table tbody").textContent.includes("blobs"));

  // Try it: pick a row of the dataset and classify it; the page shows what the API answers.
  await page.waitForFunction(() => /classification, 4 inputs → 3 outputs.*trained by run_1 on ds_1/.test(document.querySelector("#try-meta").textContent));
  await page.fill("#try-row", "4");
  await page.click("#try-load");
  await page.waitForFunction(() => document.querySelector("#try-input").value.split(",").length === 4);
  assert.match(await page.textContent("#try-truth"), /species = versicolor/);
  const x = (await page.inputValue("#try-input")).split(",").map(Number);
  await page.click("#predict");
  await page.waitForSelector("#try-class");
  const shown = await page.textContent("#try-class");
  const probs = await page.$$eval(".probs tr", (trs) => trs.map((tr) => [tr.cells[0].textContent, Number(tr.cells[1].textContent)]));
  assert.equal(probs.length, 3);
  assert.ok(Math.abs(probs.reduce((a, [, p]) => a + p, 0) - 1) < 1e-3, `probabilities ${probs}`);
  const api = await (await fetch(daemon.url + "/v1/models/blobs:classify", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ instances: [x] }),
  })).json();
  assert.equal(shown, api.results[0][0][0]);
  assert.equal(shown, "versicolor", "a well-separated blob is classified right");
});

test("drop an image dataset, train a denoising autoencoder, see input, noisy input, reconstruction", async () => {
  // Drag and drop: a DataTransfer holding a File, dropped on the drop zone.
  const text = barsCsv(800);
  const dt = await page.evaluateHandle((t) => {
    const d = new DataTransfer();
    d.items.add(new File([t], "bars.csv", { type: "text/csv" }));
    return d;
  }, text);
  await page.dispatchEvent("#drop", "drop", { dataTransfer: dt });
  await page.waitForFunction(() => /"bars" — 800 rows, 64 columns/.test(document.querySelector("#ds-detail h3").textContent));

  await page.selectOption("#rf-task", "autoencoder");
  assert.equal(await page.isHidden("#rf-target-l"), true);
  await page.fill("#rf-model", "bars-dae");
  // A 16-unit code: with 8 ReLU units this small net keeps dead codes and blurs neighbouring bars
  // (val_loss ~0.8 whatever the init), and the check below then held only by the noise drawn.
  await page.fill("#p-hidden", "32, 16, 32");
  await page.fill("#p-batch_size", "8");
  await page.fill("#p-epochs", "30");
  await page.selectOption("#p-optimizer", "adam");
  await page.fill("#p-learning_rate", "0.01");
  await page.uncheck("#p-standardize");
  await page.selectOption("#p-noise", "gaussian");
  await page.fill("#p-noise-amt", "0.3");
  await page.click("#launch");
  await page.waitForFunction(() => window.mlpdDash.live && window.mlpdDash.live.id === "run_2" &&
    document.querySelector("#live-state").textContent === "succeeded", null, { timeout: 60000 });
  assert.equal(await page.evaluate(() => window.mlpdDash.live.mode), "sse");
  assert.equal(await page.evaluate(() => window.mlpdDash.chart.data[0].length), 30);

  await page.waitForFunction(() => /autoencoder, 64 inputs → 64 outputs.*8×8 image.*trained by run_2 on ds_2/.test(document.querySelector("#try-meta").textContent));
  assert.equal(await page.isVisible("#try-noise-row"), true);
  assert.equal(await page.inputValue("#try-noise"), "gaussian");
  assert.equal(await page.inputValue("#try-ds"), "ds_2");
  await page.click("#try-load");
  await page.waitForFunction(() => document.querySelector("#try-input").value.split(",").length === 64);
  await page.click("#predict");
  await page.waitForSelector("#try-out canvas.digit");
  const figs = await page.$$eval("#try-out figure", (fs) => fs.map((f) => f.querySelector("figcaption").textContent));
  assert.deepEqual(figs, ["input", "noisy input", "reconstruction"]);
  // The canvases hold different pictures: noise was added, and the reconstruction removes some.
  const px = await page.$$eval("#try-out canvas", (cs) => cs.map((c) =>
    Array.from(c.getContext("2d").getImageData(0, 0, 8, 8).data).filter((_, i) => i % 4 === 0)));
  const dist = (a, b) => a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0);
  assert.ok(dist(px[0], px[1]) > 0, "the noisy input equals the input");
  assert.ok(dist(px[0], px[2]) < dist(px[0], px[1]), "the reconstruction is no closer to the input than the noisy input");
  assert.match(await page.textContent("#try-class"), /reconstruction error/);

  // Compare both runs' val_loss.
  await page.check('#runs-table input[value="run_1"]');
  await page.check('#runs-table input[value="run_2"]');
  await page.click("#compare");
  await page.waitForSelector("#compare-chart .uplot");
  assert.equal(await page.evaluate(() => window.mlpdDash.cmpChart.series.length), 3);

  // The screenshot: the classifier's curves (a finished run replays its stream), the
  // autoencoder's pictures.
  await page.click('#runs-table tr[data-id="run_1"] td:nth-child(2)');
  await page.waitForFunction(() => window.mlpdDash.live.id === "run_1" && window.mlpdDash.live.done &&
    window.mlpdDash.chart.data[0].length === 12 && window.mlpdDash.tryMeta.name === "blobs");
  assert.equal(await page.evaluate(() => window.mlpdDash.live.mode), "sse");
  await page.selectOption("#try-model", "bars-dae");
  await page.waitForFunction(() => window.mlpdDash.tryMeta.name === "bars-dae");
  await page.fill("#try-row", "3");
  await page.click("#try-load");
  await page.waitForFunction(() => document.querySelector("#try-input").value.split(",").length === 64);
  await page.click("#predict");
  await page.waitForSelector("#try-out canvas.digit");
  fs.mkdirSync(path.dirname(SHOT), { recursive: true });
  await page.screenshot({ path: SHOT, fullPage: true });
  assert.ok(fs.statSync(SHOT).size > 10000);
  console.log(`# screenshot: ${SHOT}`);
  assert.deepEqual(consoleErrors, []);
  // The one request that failed is the invalid form the test validated on purpose.
  assert.deepEqual(failedRequests, ["POST /api/v1/runs:validate 400"]);
});

test("with --api-key: the key field unlocks the page and the event stream carries access_token", async () => {
  const dir = lib.makeTmp("mlpd-browser-key-");
  const d = await lib.startDaemon(path.join(dir, "data"), ["--api-key", "trainkey-123456:train"]);
  const { ctx: kctx, page: p } = await lib.launchBrowser(path.join(dir, "profile"), { viewport: null });
  try {
    const streams = [];
    const streamStatus = [];
    p.on("request", (r) => { if (r.url().includes("/events")) streams.push(r.url()); });
    p.on("response", (r) => { if (r.url().includes("/events")) streamStatus.push(r.status()); });
    await p.goto(d.url + "/");
    await p.waitForFunction(() => document.querySelector("#key-msg").textContent.length > 0);
    assert.match(await p.textContent("#key-msg"), /key/i);
    await p.fill("#key", "trainkey-123456");
    await p.click("#key-save");
    await p.waitForFunction(() => /key accepted/.test(document.querySelector("#key-msg").textContent));
    assert.equal(await p.evaluate(() => sessionStorage.getItem("mlpd.key")), "trainkey-123456");
    const csv = path.join(dir, "x.csv");
    fs.writeFileSync(csv, "a,b,y\n" + Array.from({ length: 200 }, (_, i) => `${i % 7},${i % 5},${i % 2 ? "p" : "q"}`).join("\n") + "\n");
    await p.setInputFiles("#file", csv);
    await p.waitForSelector("#ds-detail h3");
    await p.fill("#p-epochs", "5");
    await p.click("#launch");
    await p.waitForFunction(() => window.mlpdDash.live && document.querySelector("#live-state").textContent === "succeeded", null, { timeout: 30000 });
    /* the stream was opened with the key in the query and accepted (200, not 401); its request
     * and response events may reach us a moment after the page shows the final state */
    for (let i = 0; i < 100 && (streams.length === 0 || streamStatus.length === 0); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.ok(streams.length > 0 && streams.every((u) => /[?&]access_token=trainkey-123456/.test(u)), streams.join(" "));
    assert.ok(streamStatus.length > 0 && streamStatus.every((st) => st === 200), streamStatus.join(" "));
    /* and without the key the API refuses: the page's key is what let it through */
    const r = await fetch(d.url + "/api/v1/runs", { method: "POST", body: "{}" });
    assert.equal(r.status, 401);
  } finally {
    await lib.teardown({ ctx: kctx, daemon: d, tmp: dir });
  }
});
