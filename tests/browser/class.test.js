"use strict";
/* class.test.js — the dashboard in class mode (web/users.js, hooks in web/app.js), in Debian's
 * chromium driven by playwright-core against the real build/mlpd, with the bootstrap admin key
 * from MLPD_API_KEYS, two students (alice, bob) and a staff member (carol). Each user's lists
 * hold their own things by default and everything they may see with "show the class" on:
 * alice uploads and trains a private model through the page; bob's page does not list it with
 * the toggle off or on, cannot open it in "Try a model" and gets 404 from /v1/models; carol
 * (staff) sees it, with its owner, with the toggle on; alice makes it `class` from the model
 * view (and her dataset, rows visible, from the dataset view); bob then sees them with the
 * toggle on and not with it off, and has no visibility control on them; carol still sees it.
 *
 * bob and carol each own a model (trained over the API before the page opens), so that every
 * list view has something it must show: a view is checked only once that is there.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails when /usr/bin/chromium is missing
 * (scripts/install-browser-deps.sh). Run: `make test-browser`, or `node --test class.test.js`. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib");
const ADMIN = "class-browser-admin-key-0123";

let tmp, daemon, ctx, page;
const keys = {};
const pageErrors = [];

/* One request to the daemon as `key` (lib.api): { status, json }. */
const as = (key, method, p, body, type) => lib.api(daemon.url, key, method, p, body, type);

/* 150 rows of 4 features and a species: three separable blobs. */
function blobsCsv() {
  const lines = ["a,b,c,d,species"];
  const names = ["setosa", "versicolor", "virginica"];
  for (let i = 0; i < 150; i++) {
    const k = i % 3;
    const j = (i * 7919) % 97 / 97;
    lines.push(`${(k * 3 + j).toFixed(3)},${(k - j).toFixed(3)},${(j * 2).toFixed(3)},${(k * 0.5 + j).toFixed(3)},${names[k]}`);
  }
  return lines.join("\n") + "\n";
}

/* Uploads a dataset and trains a model on it as `key`, over the API; waits for its success. */
async function trainOverApi(key, dsName, model) {
  const ds = await as(key, "POST", "/api/v1/datasets?name=" + dsName, blobsCsv(), "text/csv");
  assert.equal(ds.status, 201, JSON.stringify(ds.json));
  const run = await as(key, "POST", "/api/v1/runs", { dataset_id: ds.json.id, task: "classification",
    target: "species", model_name: model, params: { hidden: [4], epochs: 2 } });
  assert.equal(run.status, 202, JSON.stringify(run.json));
  const r = await lib.waitRun(daemon.url, run.json.id, { key });
  if (r.status === "succeeded") return;
  assert.ok(!["failed", "cancelled"].includes(r.status), JSON.stringify(r));
  throw new Error(`${model} did not train within 60 s`);
}

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-class-", { env: { MLPD_API_KEYS: ADMIN + ":admin" },
    seed: async (d) => {
      daemon = d; // as() needs its url
      for (const [name, role] of [["alice", "student"], ["bob", "student"], ["carol", "staff"]])
        keys[name] = await lib.createUser(d.url, ADMIN, name, role);
      await trainOverApi(keys.bob, "bob-data", "bob-model");       // private (a student's default)
      await trainOverApi(keys.carol, "carol-data", "carol-model"); // class (staff's default)
    } }));
  lib.watchErrors(page, pageErrors);
});

after(() => lib.teardown({ ctx, daemon, tmp }));

async function useKey(name) {
  await page.fill("#key", keys[name]);
  await page.click("#key-save");
  await page.waitForFunction((n) => new RegExp(`^${n} \\(`).test(document.querySelector("#me").textContent), name);
  await page.waitForSelector("#class-toggle:not([hidden])");
}

/* Sets "show the class" (a click, as a user would, when it is not already so). */
async function showClass(on) {
  if ((await page.isChecked("#show-class")) !== on) await page.click("#show-class");
}

/* The models table's rows: name cell text (with owner and badge) by model name. */
async function modelRows() {
  return page.$$eval("#models-table tbody tr", (trs) => Object.fromEntries(trs.map((tr) => {
    const td = tr.querySelector("td");
    return [td.firstChild.textContent, {
      owner: (td.querySelector(".owner") || {}).textContent || null,
      vis: (td.querySelector(".badge.vis") || {}).textContent || null,
    }];
  })));
}

/* Waits until the models table holds `must` and none of `mustNot`; returns its rows. */
async function modelsShow(must, mustNot) {
  await page.waitForFunction(([a, b]) => {
    const names = Array.from(document.querySelectorAll("#models-table tbody tr td:first-child"))
      .map((td) => td.firstChild.textContent);
    return a.every((n) => names.includes(n)) && !b.some((n) => names.includes(n));
  }, [must, mustNot]);
  return modelRows();
}

async function pageStatus(p) {
  return page.evaluate(async (u) => (await fetch(u, { headers: { Authorization: "Bearer " + apiKey() } })).status, p);
}

test("a student's private model stays hers until she shares it with the class from the page", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  assert.equal(await page.isHidden("#class-toggle"), true, "no toggle without a key");

  // alice: her own (empty) lists; uploads and trains through the page.
  await useKey("alice");
  assert.equal(await page.isChecked("#show-class"), false, "the class is not shown by default");
  await page.fill("#ds-name", "alice-data");
  const csv = path.join(tmp, "alice.csv");
  fs.writeFileSync(csv, blobsCsv());
  await page.setInputFiles("#file", csv);
  await page.waitForFunction(() => /"alice-data"/.test((document.querySelector("#ds-detail h3") || {}).textContent));
  assert.equal(await page.inputValue("#ds-detail .vis-select"), "private");
  assert.deepEqual(await page.$$eval("#ds-table tbody tr td:nth-child(2)", (tds) => tds.map((td) => td.textContent)),
    ["alice-data private"]); // only hers, with its badge (no owner shown in her own view)
  await page.waitForFunction(() => document.querySelector("#rf-target").value === "species");
  await page.fill("#rf-model", "alice-model");
  await page.fill("#p-epochs", "3");
  await page.click("#launch");
  let rows = await modelsShow(["alice-model"], ["bob-model", "carol-model"]);
  assert.deepEqual(rows["alice-model"], { owner: null, vis: "private" });
  await page.waitForFunction(() => window.mlpdDash.tryMeta && window.mlpdDash.tryMeta.name === "alice-model");
  await page.waitForSelector("#try-vis .vis-select");
  assert.equal(await page.inputValue("#try-vis .vis-select"), "private");
  assert.match(await page.textContent("#runs-table tbody"), /run_3/);

  // bob: neither his own view nor the class's lists it; it does not open; /v1 says 404.
  await useKey("bob");
  rows = await modelsShow(["bob-model"], ["carol-model", "alice-model"]);
  assert.deepEqual(rows["bob-model"], { owner: null, vis: "private" });
  assert.doesNotMatch(await page.textContent("#runs-table tbody"), /run_3/);
  await showClass(true);
  rows = await modelsShow(["bob-model", "carol-model"], ["alice-model"]);
  assert.deepEqual(rows["carol-model"], { owner: "carol", vis: "class" });
  assert.deepEqual(rows["bob-model"], { owner: "bob", vis: "private" });
  assert.doesNotMatch(await page.textContent("#ds-table tbody"), /alice-data/);
  assert.match(await page.textContent("#ds-table tbody"), /carol-data/);
  assert.doesNotMatch(await page.textContent("#runs-table tbody"), /run_3/);
  assert.equal(await page.evaluate(() => Array.from(document.querySelectorAll("#try-model option")).some((o) => o.value === "alice-model")), false);
  await page.evaluate(() => chooseModel("alice-model"));
  await page.waitForFunction(() => /alice-model/.test(document.querySelector("#try-msg").textContent));
  assert.equal(await page.getAttribute("#try-msg", "class"), "msg err");
  assert.equal(await page.$$eval("#try-vis *", (e) => e.length), 0);
  assert.equal(await pageStatus("/v1/models/alice-model"), 404);
  assert.equal(await pageStatus("/v1/models/alice-model/versions/1/metadata"), 404);

  // carol (staff): sees it with the class shown, private and alice's; not in her own view.
  await useKey("carol");
  rows = await modelsShow(["carol-model", "bob-model", "alice-model"], []);
  assert.deepEqual(rows["alice-model"], { owner: "alice", vis: "private" });
  await showClass(false);
  await modelsShow(["carol-model"], ["bob-model", "alice-model"]);

  // alice shares it with the class from the model view.
  await useKey("alice");
  await modelsShow(["alice-model"], ["bob-model", "carol-model"]);
  await page.click('#models-table tbody tr:has-text("alice-model")');
  await page.waitForSelector("#try-vis .vis-select");
  await page.selectOption("#try-vis .vis-select", "class");
  await page.waitForFunction(() => /now class/.test(document.querySelector("#try-vis .vis-msg").textContent));
  await page.waitForFunction(() => /class/.test(document.querySelector('#models-table tbody tr td .badge.vis').textContent));
  assert.deepEqual((await modelRows())["alice-model"], { owner: null, vis: "class" });
  // ... and her dataset, rows included, from the dataset view.
  await page.click('#ds-table tbody tr:has-text("alice-data")');
  await page.waitForSelector("#ds-detail .vis-select");
  await page.check("#ds-detail .vis-rows");
  await page.waitForFunction(() => /now private, rows visible/.test(document.querySelector("#ds-detail .vis-msg").textContent));
  await page.selectOption("#ds-detail .vis-select", "class");
  await page.waitForFunction(() => /now class, rows visible/.test(document.querySelector("#ds-detail .vis-msg").textContent));
  await page.waitForFunction(() => /alice-data class/.test(document.querySelector("#ds-table tbody").textContent));

  // bob: still not in his own view; with the class shown it is, it opens, without a control.
  await useKey("bob");
  await modelsShow(["bob-model"], ["carol-model", "alice-model"]);
  await showClass(true);
  rows = await modelsShow(["bob-model", "carol-model", "alice-model"], []);
  assert.deepEqual(rows["alice-model"], { owner: "alice", vis: "class" });
  await page.click('#models-table tbody tr:has-text("alice-model")');
  await page.waitForFunction(() => window.mlpdDash.tryMeta && window.mlpdDash.tryMeta.name === "alice-model" &&
    /classification, 4 inputs → 3 outputs/.test(document.querySelector("#try-meta").textContent));
  assert.equal(await page.$$eval("#try-vis *", (e) => e.length), 0, "bob may not change alice's model");
  assert.equal(await pageStatus("/v1/models/alice-model"), 200);
  assert.match(await page.textContent("#ds-table tbody"), /alice-data alice class/);
  await page.click('#ds-table tbody tr:has-text("alice-data")');
  await page.waitForFunction(() => /"alice-data"/.test((document.querySelector("#ds-detail h3") || {}).textContent));
  assert.equal(await page.$$eval("#ds-detail .vis-control", (e) => e.length), 0, "bob may not change alice's dataset");
  await showClass(false);
  await modelsShow(["bob-model"], ["carol-model", "alice-model"]);

  // carol: sees it with the class shown, now class.
  await useKey("carol");
  await showClass(true);
  rows = await modelsShow(["carol-model", "bob-model", "alice-model"], []);
  assert.deepEqual(rows["alice-model"], { owner: "alice", vis: "class" });
  assert.deepEqual(pageErrors, []);
});

test("with a flag key (no user of its own) the page lists everything, with no toggle", async () => {
  await page.fill("#key", ADMIN);
  await page.click("#key-save");
  await page.waitForFunction(() => /^admin \(admin\)$/.test(document.querySelector("#me").textContent));
  assert.equal(await page.isHidden("#class-toggle"), true);
  await page.evaluate(() => localStorage.setItem("mlpd.showClass", "0"));
  await page.click("#key-save");
  const rows = await modelsShow(["carol-model", "bob-model", "alice-model"], []);
  assert.deepEqual(rows["alice-model"], { owner: null, vis: null });
  assert.deepEqual(pageErrors, []);
});
