"use strict";
/* quotas.test.js — class-mode quotas in the dashboard, in a real browser (Debian's chromium driven
 * by playwright-core, set up by lib.js): a student enters their key and sees a bar per quota
 * with their use against the --quota-* limits; a run past their active_runs quota is refused in
 * the run form with the quota named.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Run: `make test-browser`, or
 * `node --test quotas.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const lib = require("./lib");
const ADMIN = "quota-browser-admin-key-0123";

let tmp, daemon, ctx, page, annKey;
const consoleErrors = [];

/* One request to the daemon as `key` (lib.api): { status, json }. */
const as = (key, method, p, body, type) => lib.api(daemon.url, key, method, p, body, type);

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-quotas-", { args: ["--api-key", ADMIN + ":admin",
    "--quota-storage-bytes", "1M", "--quota-active-runs", "1", "--quota-models", "5"], seed: async (d) => {
    daemon = d; // as() needs its url
    annKey = await lib.createUser(d.url, ADMIN, "ann", "student");
    const lines = ["a,b,c,y"];
    for (let i = 0; i < 300; i++) lines.push(`${i % 7},${(i * 3) % 5},${i % 2},${i % 3 ? "x" : "z"}`);
    const ds = await lib.uploadCsv(d.url, "name=mine", lines.join("\n") + "\n", annKey);
    const run = await as(annKey, "POST", "/api/v1/runs", { dataset_id: ds.id, task: "classification", target: "y",
      params: { hidden: [8], epochs: 100000 } });
    assert.equal(run.status, 202); /* her one active run */
  } }));
  lib.watchErrors(page, consoleErrors);
});

after(() => lib.teardown({ ctx, daemon, tmp }));

test("a student's key shows their usage against each quota", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  assert.equal(await page.isHidden("#usage-sec"), true, "no usage without a key");
  await page.fill("#key", annKey);
  await page.click("#key-save");
  await page.waitForSelector("#usage-sec:not([hidden]) tr[data-quota=storage_bytes]");
  const rows = await page.$$eval("#usage-table tr", (trs) =>
    Object.fromEntries(trs.map((tr) => [tr.dataset.quota, tr.textContent])));
  assert.match(rows.storage_bytes, /4\.7 KiB \/ 1\.0 MiB/); /* 300 x 4 x 4 bytes */
  assert.match(rows.active_runs, /1 \/ 1/);
  assert.match(rows.models, /0 \/ 5/);
  assert.match(rows.train_seconds_per_day, /no limit/);
  assert.match(await page.textContent("#usage-sec h2"), /ann \(student\)/);
  const meter = await page.$eval("#usage-table tr[data-quota=active_runs] meter", (m) => [m.value, m.max]);
  assert.deepEqual(meter, [1, 1]);
});

test("a run past the active_runs quota is refused in the form, naming it", async () => {
  await page.waitForFunction(() => document.querySelector("#rf-target") && document.querySelector("#rf-target").options.length > 0);
  await page.click("#launch");
  await page.waitForFunction(() => /quota/.test(document.querySelector("#run-msg").textContent));
  const m = await page.textContent("#run-msg");
  assert.match(m, /quota active_runs exceeded: limit 1, used 1/);
  assert.deepEqual(consoleErrors, []);
});
