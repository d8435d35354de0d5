"use strict";
/* sweeps.test.js — the dashboard's Sweeps panel (web/sweeps.js) in a real browser: Debian's
 * chromium, headless, driven by playwright-core, against the real build/mlpd. Through the page
 * only: upload a CSV, fill the run form, launch a grid sweep with halving off, follow it until
 * it is finished with its runs best first and the server's overlay plot shown (labelled by the
 * varied params), then promote the best run to an alias; an invalid grid is refused with the
 * server's message and nothing queued. The daemon/chromium setup is lib.js's.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails (never skips) when /usr/bin/chromium is
 * missing. Run: `make test-browser`, or `node --test sweeps.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib");

/* Two classes split by a line: big steps learn it in a few epochs, tiny ones do not. */
function lineCsv(rows) {
  const u = lib.lcg(3);
  const lines = ["a,b,side"];
  for (let i = 0; i < rows; i++) {
    const a = 2 * u() - 1, b = 2 * u() - 1;
    lines.push(`${a.toFixed(4)},${b.toFixed(4)},${a + b > 0 ? "up" : "down"}`);
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
