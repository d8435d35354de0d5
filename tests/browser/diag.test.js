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
const path = require("node:path");
const lib = require("./lib");
const SHOT = process.env.MLPD_SHOT_DIAG || path.join(lib.ROOT, "build/diag.png");

/* 8×8 images, values 0..16: class c lights its own random 40% of the pixels, plus noise. */
function digitsCsv(rows) {
  const u = lib.lcg(14);
  const proto = Array.from({ length: 10 }, () => Array.from({ length: 64 }, () => (u() < 0.4 ? 12 : 0)));
  const lines = [lib.pixelHeader(64, "digit")];
  for (let i = 0; i < rows; i++) {
    const c = i % 10;
    const px = proto[c].map((p) => Math.max(0, Math.min(16, p + Math.floor(u() * 5) - (p ? 2 : 0))));
    lines.push(px.join(",") + ",d" + c);
  }
  return lines.join("\n") + "\n";
}

let tmp, daemon, ctx, page, dsId;
const consoleErrors = [];

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-diag-"));
  lib.watchErrors(page, consoleErrors, { console: true });
  dsId = (await lib.uploadCsv(daemon.url, "name=digits8", digitsCsv(12000))).id;
});

after(() => lib.teardown({ ctx, daemon, tmp }));

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
  // the message of the previous launch ("run_1 queued") must not be taken for this one's
  const before = await page.textContent("#run-msg");
  await page.click("#launch");
  await page.waitForFunction((b) => {
    const t = document.querySelector("#run-msg").textContent;
    return t !== b && /run_\d+ queued/.test(t);
  }, before);
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
