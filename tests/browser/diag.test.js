"use strict";
/* diag.test.js — the live run view's "layers" tab (web/diag.js) in a real browser: Debian's
 * chromium, headless, driven by playwright-core, against the real build/mlpd on an ephemeral port.
 * Two runs launched from the form on generated 8×8 digit-like images, a 6-layer sigmoid net with
 * small initialisation and the same net with ReLU and He initialisation: while the sigmoid run trains, the layers tab fills one heat-strip
 * column per SSE epoch event; its first layer's cells sit many decades below the last layer's on
 * the log colour scale, and each hidden layer shows its saturated fraction; the ReLU run shows
 * dead fractions instead, and no vanishing. The curves tab still works beside it.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd), MLPD_SHOT_DIAG (a screenshot of the layers
 * tab, default ../../build/diag.png). Fails (never skips) when /usr/bin/chromium
 * is missing: scripts/install-browser-deps.sh installs it. Run: `make test-browser`, or
 * `node --test diag.test.js` in this directory. */
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
const SHOT = process.env.MLPD_SHOT_DIAG || path.join(ROOT, "build/diag.png");

/* A deterministic generator (the test must not depend on Math.random). */
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/* 8×8 images, values 0..16: class c lights its own random 40% of the pixels, plus noise. */
function digitsCsv(rows) {
  const u = lcg(14);
  const proto = Array.from({ length: 10 }, () => Array.from({ length: 64 }, () => (u() < 0.4 ? 12 : 0)));
  const lines = [Array.from({ length: 64 }, (_, j) => "p" + j).join(",") + ",digit"];
  for (let i = 0; i < rows; i++) {
    const c = i % 10;
    const px = proto[c].map((p) => Math.max(0, Math.min(16, p + Math.floor(u() * 5) - (p ? 2 : 0))));
    lines.push(px.join(",") + ",d" + c);
  }
  return lines.join("\n") + "\n";
}

async function startDaemon(dir, extra = []) {
  const portFile = path.join(dir, "port");
  const proc = spawn(BIN, ["--listen", "127.0.0.1:0", "--port-file", portFile, "--data-dir", dir, "--quiet", ...extra], {
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

let tmp, daemon, ctx, page, dsId;
const consoleErrors = [];

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlpd-browser-diag-"));
  fs.mkdirSync(path.join(tmp, "data"));
  daemon = await startDaemon(path.join(tmp, "data"));
  ctx = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
    viewport: { width: 1400, height: 900 },
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(20000);
  const up = await fetch(daemon.url + "/api/v1/datasets?name=digits8", {
    method: "POST", headers: { "Content-Type": "text/csv" }, body: digitsCsv(3000),
  });
  assert.equal(up.status, 201);
  dsId = (await up.json()).id;
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  await stopDaemon(daemon);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/* Launches a run from the dashboard's form (the page then watches it through its event stream). */
async function launch(activation, init, epochs) {
  await page.selectOption("#rf-dataset", dsId);
  await page.waitForFunction(() => Array.from(document.querySelectorAll("#rf-target option")).some((o) => o.value === "digit"));
  await page.selectOption("#rf-target", "digit");
  await page.selectOption("#rf-task", "classification");
  await page.fill("#rf-model", "deep-" + activation);
  const set = async (sel, v) => {
    if (await page.evaluate((q) => document.querySelector(q).tagName === "SELECT", sel)) await page.selectOption(sel, v);
    else await page.fill(sel, v);
  };
  await set("#p-hidden", "64, 64, 64, 64, 64");
  await set("#p-activation", activation);
  await set("#p-init", init);
  await set("#p-epochs", String(epochs));
  await set("#p-batch_size", "8");
  await page.click("#launch");
  await page.waitForFunction(() => /run_\d+ queued/.test(document.querySelector("#run-msg").textContent));
  const id = (await page.textContent("#run-msg")).match(/run_\d+/)[0];
  await page.waitForFunction((rid) => document.querySelector("#live-id").textContent.includes(rid), id);
  return id;
}

/* The heat strip as the page draws it: cells by layer, fractions by layer. */
function strip() {
  return page.evaluate(() => {
    const cells = Array.from(document.querySelectorAll("#layers-heat rect.cell")).map((r) => ({
      layer: Number(r.dataset.layer), epoch: Number(r.dataset.epoch), value: Number(r.dataset.value), fill: r.getAttribute("fill"),
    }));
    const fracs = Array.from(document.querySelectorAll("#layers-heat text.frac")).map((t) => ({
      layer: Number(t.dataset.layer), kind: t.dataset.kind, value: Number(t.dataset.value), text: t.textContent,
    }));
    return { cells, fracs, layersHidden: document.querySelector("#live-layers").hidden,
      chartHidden: document.querySelector("#live-chart").hidden, status: document.querySelector("#live-state").textContent };
  });
}

test("the layers tab fills from the event stream and shows the sigmoid net's vanishing gradients", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  await page.waitForSelector("#tab-layers");
  await page.waitForFunction((ds) => Array.from(document.querySelectorAll("#rf-dataset option")).some((o) => o.value === ds), dsId);
  await launch("sigmoid", "small", 6);
  await page.click("#tab-layers");
  const seen = [];
  const t0 = Date.now();
  let s;
  while (Date.now() - t0 < 90000) {
    s = await strip();
    const cols = new Set(s.cells.map((c) => c.epoch)).size;
    if (!seen.length || seen[seen.length - 1] !== cols) seen.push(cols);
    if (["succeeded", "failed", "cancelled"].includes(s.status) && cols === 6) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  console.log("# heat-strip columns seen: " + seen.join(" "));
  assert.equal(s.status, "succeeded");
  assert.equal(s.layersHidden, false);
  assert.equal(s.chartHidden, true);
  assert.equal(await page.evaluate(() => window.mlpdDash.live.mode), "sse", "fed by the event stream");
  assert.ok(seen.length >= 3, `the strip grew while the run trained (columns seen: ${seen})`);
  assert.equal(s.cells.length, 6 * 6, "one cell per layer per epoch");
  const at = (l, e) => s.cells.find((c) => c.layer === l && c.epoch === e);
  for (let e = 1; e <= 6; e++) {
    assert.ok(at(0, e).value < 1e-3 * at(5, e).value, `epoch ${e}: l0 ${at(0, e).value} vs l5 ${at(5, e).value}`);
    assert.notEqual(at(0, e).fill, at(5, e).fill, "small and large gradients get different colours");
  }
  assert.deepEqual(s.fracs.map((f) => [f.layer, f.kind]), [0, 1, 2, 3, 4].map((l) => [l, "saturated"]));
  for (const f of s.fracs) assert.ok(f.value >= 0 && f.value <= 1 && /^saturated \d/.test(f.text));
  // the per-layer metrics are not listed with the run's metrics line; the layers.svg link is set
  assert.doesNotMatch(await page.textContent("#live-metrics"), /grad_norm/);
  assert.match(await page.getAttribute("#live-layers-svg", "href"), /plot\.svg\?diagnostics=true$/);
  const svg = await fetch(daemon.url + (await page.getAttribute("#live-layers-svg", "href")));
  assert.equal(svg.status, 200);
  await page.screenshot({ path: SHOT });
  // back to the curves
  await page.click("#tab-curves");
  assert.equal(await page.evaluate(() => document.querySelector("#live-chart").hidden), false);
  assert.equal(await page.evaluate(() => document.querySelector("#live-layers").hidden), true);
});

test("a ReLU net with He initialisation shows dead fractions and no vanishing", async () => {
  await launch("relu", "he", 3);
  await page.click("#tab-layers");
  await page.waitForFunction(() => document.querySelectorAll("#layers-heat rect.cell").length === 18 &&
    document.querySelector("#live-state").textContent === "succeeded", null, { timeout: 60000 });
  const s = await strip();
  const at = (l, e) => s.cells.find((c) => c.layer === l && c.epoch === e);
  for (let e = 1; e <= 3; e++) assert.ok(at(0, e).value >= 1e-3 * at(5, e).value);
  assert.deepEqual(s.fracs.map((f) => [f.layer, f.kind]), [0, 1, 2, 3, 4].map((l) => [l, "dead"]));
  assert.deepEqual(consoleErrors, []);
});
