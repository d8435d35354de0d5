"use strict";
/* microscope.test.js — the autoencoder microscope in the dashboard (web/microscope.js), in a real
 * browser against the real daemon: an autoencoder trained (through the API) on 8×8 images of a
 * blob, with 10 rows of uniform noise planted, chosen under "Try a model", shows its compression
 * against PCA, a scatter map of the codes with one series per label, and a gallery of the worst
 * reconstructed rows drawn as images, led by the planted ones; a classifier shows no microscope.
 *
 * Environment and setup as dashboard.test.js (MLPD_BIN; /usr/bin/chromium must exist).
 * Run: `make test-browser`, or `node --test microscope.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const CHROMIUM = "/usr/bin/chromium";
const ROOT = path.resolve(__dirname, "../..");
const BIN = process.env.MLPD_BIN || path.join(ROOT, "build/mlpd");

function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

const PLANTED = new Set([5, 55, 105, 155, 205, 255, 305, 355, 405, 455]);

/* 8×8 images (p0..p63, 0..1) of a gaussian blob, labelled by the half it sits in, and the
 * PLANTED rows of uniform noise labelled "noise". */
function blobsCsv(rows) {
  const u = lcg(3);
  const lines = [[...Array.from({ length: 64 }, (_, j) => "p" + j), "kind"].join(",")];
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

async function startDaemon(dir) {
  const portFile = path.join(dir, "port");
  const proc = spawn(BIN, ["--listen", "127.0.0.1:0", "--port-file", portFile, "--data-dir", dir, "--quiet"], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, OPENBLAS_NUM_THREADS: "1" },
  });
  let exited = null;
  proc.on("exit", (code, sig) => { exited = `exit ${code} ${sig || ""}`; });
  const t0 = Date.now();
  while (Date.now() - t0 < 15000) {
    if (exited) throw new Error(`mlpd (${BIN}) stopped at start: ${exited}`);
    const p = fs.existsSync(portFile) ? fs.readFileSync(portFile, "utf8").trim() : "";
    if (/^\d+$/.test(p)) return { proc, url: `http://127.0.0.1:${p}` };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill("SIGKILL");
  throw new Error("mlpd did not write its port file within 15 s");
}

async function stopDaemon(d) {
  if (!d || d.proc.exitCode !== null) return;
  const done = new Promise((r) => d.proc.once("exit", r));
  d.proc.kill("SIGTERM");
  const t = setTimeout(() => d.proc.kill("SIGKILL"), 10000);
  await done;
  clearTimeout(t);
}

/* Trains `body` (a run request) through the API and waits until it succeeded. */
async function train(url, body) {
  const r = await fetch(url + "/api/v1/runs", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  assert.equal(r.status, 202);
  const id = (await r.json()).id;
  const t0 = Date.now();
  while (Date.now() - t0 < 60000) {
    const run = await (await fetch(`${url}/api/v1/runs/${id}`)).json();
    if (run.status === "succeeded") return;
    assert.ok(run.status === "queued" || run.status === "running", `run ${id} ended ${run.status}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`run ${id} did not finish within 60 s`);
}

let tmp, daemon, ctx, page;
const consoleErrors = [];

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlpd-browser-ms-"));
  fs.mkdirSync(path.join(tmp, "data"));
  daemon = await startDaemon(path.join(tmp, "data"));
  const up = await fetch(daemon.url + "/api/v1/datasets?name=blobs", { method: "POST", headers: { "Content-Type": "text/csv" }, body: blobsCsv(500) });
  assert.equal(up.status, 201);
  const ds = (await up.json()).id;
  await train(daemon.url, { dataset_id: ds, task: "autoencoder", model_name: "blob-ae",
    params: { hidden: [32, 2, 32], activation: "tanh", output_activation: "linear", optimizer: "adam",
      learning_rate: 0.003, batch_size: 32, epochs: 60, seed: 3 } });
  await train(daemon.url, { dataset_id: ds, task: "classification", target: "kind", model_name: "blob-cls",
    params: { hidden: [8], epochs: 2 } });
  ctx = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
    viewport: { width: 1400, height: 900 },
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.on("console", (m) => { if (m.type() === "error") consoleErrors.push(m.text()); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(20000);
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  await stopDaemon(daemon);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

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
