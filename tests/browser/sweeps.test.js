"use strict";
/* sweeps.test.js — the dashboard's Sweeps panel (web/sweeps.js) in a real browser: Debian's
 * chromium, headless, driven by playwright-core, against the real build/mlpd. Through the page
 * only: upload a CSV, fill the run form, launch a grid sweep with halving off, follow it until
 * it is finished with its runs best first and the server's overlay plot shown (labelled by the
 * varied params), then promote the best run to an alias; an invalid grid is refused with the
 * server's message and nothing queued. The daemon/chromium setup is dashboard.test.js's.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails (never skips) when /usr/bin/chromium is
 * missing. Run: `make test-browser`, or `node --test sweeps.test.js` in this directory. */
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

/* A deterministic generator (the test must not depend on Math.random). */
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/* Two classes split by a line: big steps learn it in a few epochs, tiny ones do not. */
function lineCsv(rows) {
  const u = lcg(3);
  const lines = ["a,b,side"];
  for (let i = 0; i < rows; i++) {
    const a = 2 * u() - 1, b = 2 * u() - 1;
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${a + b > 0 ? "up" : "down"}`);
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

let tmp, daemon, ctx, page;
const consoleErrors = [];
const failedRequests = [];

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlpd-browser-"));
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
  // Console errors, except the browser's own line for each failed request (checked below).
  page.on("console", (m) => {
    if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) consoleErrors.push(m.text());
  });
  page.on("response", (r) => { if (r.status() >= 400) failedRequests.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`); });
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(20000);
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  await stopDaemon(daemon);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test("launch a grid sweep from the form, watch it, see the overlay, promote the best run", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  await page.waitForSelector("#sweeps-sec #sw-grid");
  const csv = path.join(tmp, "line.csv");
  fs.writeFileSync(csv, lineCsv(400));
  await page.fill("#ds-name", "line");
  await page.setInputFiles("#file", csv);
  await page.waitForSelector("#ds-detail h3");
  assert.equal(await page.inputValue("#rf-target"), "side");
  await page.fill("#rf-model", "line");
  await page.fill("#p-hidden", "8");
  await page.fill("#p-epochs", "4");

  // An invalid combination: the server's message, and no run queued.
  await page.fill("#sw-grid", '{"learning_rate": [0.3, -1]}');
  await page.click("#sw-launch");
  await page.waitForFunction(() => /sweep run 2 of 2/.test(document.querySelector("#sw-msg").textContent));
  assert.equal((await (await page.request.get(daemon.url + "/api/v1/runs")).json()).total, 0);

  await page.fill("#sw-grid", '{"learning_rate": [0.3, 0.001], "optimizer": ["sgd", "adam"]}');
  await page.click("#sw-launch");
  await page.waitForFunction(() => /4 runs queued/.test(document.querySelector("#sw-msg").textContent));
  await page.waitForSelector("#sweeps-table tbody tr.sel");
  // Finished: the detail shows every run, best first, and the plot.
  await page.waitForFunction(() => /finished/.test(document.querySelector("#sw-title").textContent),
    null, { timeout: 120000 });
  const rows = await page.$$eval("#sw-runs tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(rows.length, 4);
  const losses = rows.map((r) => Number(r[3]));
  for (let i = 1; i < losses.length; i++) assert.ok(losses[i - 1] <= losses[i], `not best first: ${losses}`);
  for (const r of rows) assert.match(r[1], /^learning_rate=0\.(3|001), optimizer=(sgd|adam)$/);
  await page.waitForFunction(() => {
    const img = document.querySelector("#sw-plot");
    return img.complete && img.naturalWidth > 0;
  });
  const svg = await page.evaluate(async () => (await fetch(document.querySelector("#sw-plot").src)).text());
  assert.equal((svg.match(/<polyline class="series" data-series="val_loss"/g) || []).length, 4);
  assert.match(svg, />learning_rate=0\.3, optimizer=adam</);

  // Promote: the alias points at the best run's version.
  await page.click("#sw-promote");
  await page.waitForFunction(() => /line:best -> version/.test(document.querySelector("#sw-promote-msg").textContent));
  const sw = await (await page.request.get(daemon.url + "/api/v1/sweeps/swp_1")).json();
  const model = await (await page.request.get(daemon.url + "/api/v1/models/line")).json();
  assert.equal(model.aliases.best, sw.runs[0].model.version);
  assert.equal(sw.best_run_id, sw.runs[0].run_id);

  assert.deepEqual(consoleErrors, []);
  assert.deepEqual(failedRequests, ["POST /api/v1/sweeps 400"]);
});
