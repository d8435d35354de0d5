"use strict";
/* ensemble.test.js — the dashboard's ensemble form in a real browser (headless chromium via
 * playwright-core, set up by lib.js): two classifiers trained through the API appear as
 * versions to tick; the form refuses one member, makes an ensemble of two, shows its members
 * under "Try a model", and the ensemble classifies a typed row from the page.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails when /usr/bin/chromium is missing
 * (scripts/install-browser-deps.sh). Run: `node --test ensemble.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const lib = require("./lib");

/* Three blobs in 2 dimensions, labelled by name. */
function blobsCsv(rows) {
  const u = lib.lcg(5);
  const centers = { cat: [-2, 0], dog: [2, 0], emu: [0, 3] };
  const names = Object.keys(centers);
  const lines = ["a,b,kind"];
  for (let i = 0; i < rows; i++) {
    const n = names[i % 3];
    lines.push(centers[n].map((c) => (c + u() - 0.5).toFixed(4)).join(",") + "," + n);
  }
  return lines.join("\n") + "\n";
}

let tmp, daemon, ctx, page;
const pageErrors = [];

/* Uploads the blobs and trains model `name` with `seed` through the API; waits for success. */
async function train(url, name, seed) {
  const ds = await lib.uploadCsv(url, "name=" + name, blobsCsv(300));
  const r = await lib.api(url, null, "POST", "/api/v1/runs", { dataset_id: ds.id, task: "classification", target: "kind",
    model_name: name, params: { hidden: [8], epochs: 4, seed } });
  assert.equal(r.status, 202);
  const run = r.json;
  const s = await lib.waitRun(url, run.id);
  if (s.status === "succeeded") return;
  assert.ok(!["failed", "cancelled"].includes(s.status), `run ${run.id} ${s.status}`);
  assert.fail(`run ${run.id} did not finish`);
}

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-ens-", { seed: async (d) => {
    await train(d.url, "m1", 1);
    await train(d.url, "m2", 2);
  } }));
  lib.watchErrors(page, pageErrors);
});

after(() => lib.teardown({ ctx, daemon, tmp }));

test("make an ensemble from the form, see its members, classify with it", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  await page.waitForSelector('#ens-pick input[value="m1@1"]');
  await page.waitForSelector('#ens-pick input[value="m2@1"]');

  // One member is refused before any request.
  await page.fill("#ens-name", "both");
  await page.check('#ens-pick input[value="m1@1"]');
  await page.click("#ens-make");
  await page.waitForSelector("#ens-msg.err");
  assert.match(await page.textContent("#ens-msg"), /tick 2 to 16 versions/);

  await page.check('#ens-pick input[value="m2@1"]');
  await page.click("#ens-make");
  await page.waitForSelector("#ens-msg.ok");
  assert.equal(await page.textContent("#ens-msg"), "both v1: ensemble of 2");

  // The new model is chosen in "Try a model" and shows its members.
  await page.waitForFunction(() => document.querySelector("#ens-members") && !document.querySelector("#ens-members").hidden);
  assert.equal(await page.inputValue("#try-model"), "both");
  assert.match(await page.textContent("#ens-members"), /ensemble of 2: m1 v1, m2 v1/);
  assert.match(await page.textContent("#try-meta"), /classification, 2 inputs → 3 outputs/);
  // The new version is a tickable member too (a nested ensemble is the server's 400 to give).
  await page.waitForSelector('#ens-pick input[value="both@1"]');

  await page.fill("#try-input", "-2, 0.1");
  await page.click("#predict");
  await page.waitForFunction(() => /cat/.test(document.querySelector("#try-out").textContent));

  // A plain version shows no members.
  await page.selectOption("#try-model", "m1");
  await page.waitForFunction(() => document.querySelector("#ens-members").hidden);

  // The server's 400 for a mismatch reaches the form: an ensemble inside an ensemble.
  await page.fill("#ens-name", "nested");
  await page.check('#ens-pick input[value="both@1"]');
  await page.click("#ens-make");
  await page.waitForSelector("#ens-msg.err");
  assert.match(await page.textContent("#ens-msg"), /itself an ensemble/);
  assert.deepEqual(pageErrors, []);
});
