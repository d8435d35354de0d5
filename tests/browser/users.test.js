"use strict";
/* users.test.js — class mode in the dashboard (web/users.js), in Debian's chromium driven by
 * playwright-core against the real build/mlpd: with an admin key the header names the caller
 * and the Users panel appears; the admin imports a roster of 3 (one name already taken), gets
 * keys.csv to download with a key for each new user, changes a role in place, sets and resets a
 * quota, and revokes a key, which the server then refuses; with a student's key the header says
 * student and the panel stays hidden.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails when /usr/bin/chromium is missing
 * (scripts/install-browser-deps.sh). Run: `make test-browser`, or `node --test users.test.js`. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const lib = require("./lib");
const ADMIN = "teacher-key-0123456789";

let tmp, daemon, ctx, page;
const pageErrors = [];

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-users-", { args: ["--api-key", ADMIN + ":admin"],
    browser: { acceptDownloads: true } }));
  lib.watchErrors(page, pageErrors);
});

after(() => lib.teardown({ ctx, daemon, tmp }));

async function useKey(key) {
  await page.fill("#key", key);
  await page.click("#key-save");
}

/* The server's own answer for /me with key (outside the page). */
async function meStatus(key) {
  return (await lib.api(daemon.url, key, "GET", "/api/v1/me")).status;
}

test("an admin imports a roster of 3, downloads the keys, edits a role and revokes a key", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  assert.equal(await page.isVisible("#users-sec"), false); // no key yet: not even /me
  // One name of the roster exists already.
  await lib.createUser(daemon.url, ADMIN, "bob", "student");
  await useKey(ADMIN);
  await page.waitForSelector("#me:not([hidden])");
  assert.equal(await page.textContent("#me"), "admin (admin)");
  await page.waitForSelector("#users-sec:not([hidden])");
  await page.waitForSelector('#users-table tr[data-user="bob"]');

  const roster = path.join(tmp, "roster.csv");
  fs.writeFileSync(roster, "name,display_name,role\nann,Ann A.,student\nbob,Bob B.,student\ncat,Cat C.,staff\n");
  await page.setInputFiles("#roster-file", roster);
  await page.click("#roster-import");
  await page.waitForSelector("#roster-keys:not([hidden])");
  assert.match(await page.textContent("#users-msg"), /2 created; already there: bob/);
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#roster-keys")]);
  assert.equal(download.suggestedFilename(), "keys.csv");
  const csv = fs.readFileSync(await download.path(), "utf8").trim().split("\n");
  assert.equal(csv[0], "name,key,status");
  const rows = Object.fromEntries(csv.slice(1).map((l) => { const [n, k, s] = l.split(","); return [n, { k, s }]; }));
  assert.equal(rows.bob.s, "exists");
  assert.equal(rows.bob.k, "");
  assert.equal(rows.ann.s, "created");
  assert.match(rows.ann.k, /^mlpd_[A-Za-z0-9_-]{43}$/);
  assert.equal(rows.cat.s, "created");
  await page.waitForSelector('#users-table tr[data-user="cat"]');
  assert.equal(await page.inputValue('#users-table select[data-user="cat"]'), "staff");
  assert.equal(await page.textContent("#users-count"), "4 user(s)");

  // Role edit in place: cat becomes admin, as the server then says.
  await page.selectOption('#users-table select[data-user="cat"]', "admin");
  await page.waitForFunction(() => /cat is now admin/.test(document.querySelector("#users-msg").textContent));
  const me = await fetch(daemon.url + "/api/v1/me", { headers: { Authorization: "Bearer " + rows.cat.k } });
  assert.equal((await me.json()).role, "admin");

  // Quotas: models 3 for ann, the rest left to the server's defaults; then back to the default.
  await page.click('#users-table tr[data-user="ann"] .user-quotas');
  assert.equal(await page.textContent("#user-quotas-of"), "ann");
  await page.fill('#user-quotas-fields input[data-quota="models"]', "3");
  await page.click("#user-quotas-save");
  await page.waitForFunction(() => /quotas of ann saved/.test(document.querySelector("#users-msg").textContent));
  let ann = await (await fetch(daemon.url + "/api/v1/users/ann", { headers: { Authorization: "Bearer " + ADMIN } })).json();
  assert.equal(ann.quotas.models, 3);
  assert.equal(ann.quotas.storage_bytes, null);
  await page.click('#users-table tr[data-user="ann"] .user-quotas');
  assert.equal(await page.inputValue('#user-quotas-fields input[data-quota="models"]'), "3");
  await page.fill('#user-quotas-fields input[data-quota="models"]', "");
  await page.evaluate(() => { document.querySelector("#users-msg").textContent = ""; });
  await page.click("#user-quotas-save");
  await page.waitForFunction(() => /quotas of ann saved/.test(document.querySelector("#users-msg").textContent));
  ann = await (await fetch(daemon.url + "/api/v1/users/ann", { headers: { Authorization: "Bearer " + ADMIN } })).json();
  assert.equal(ann.quotas.models, null);

  // Revoke ann's key: refused from then on.
  assert.equal(await meStatus(rows.ann.k), 200);
  await page.click('#users-table tr[data-user="ann"] .user-keys');
  await page.waitForSelector("#user-keys-table .key-revoke");
  assert.equal(await page.textContent("#user-keys-of"), "ann");
  await page.click("#user-keys-table .key-revoke");
  await page.waitForFunction(() => /revoked/.test(document.querySelector("#user-keys-table tbody").textContent) &&
    !document.querySelector("#user-keys-table .key-revoke"));
  assert.equal(await meStatus(rows.ann.k), 401);

  // A student's key: named in the header, no Users panel.
  await useKey(rows.cat.k); // an admin again: still the panel
  await page.waitForFunction(() => /Cat C\. \(admin\)/.test(document.querySelector("#me").textContent));
  const stu = await fetch(daemon.url + "/api/v1/users/bob/keys", { method: "POST", headers: { Authorization: "Bearer " + ADMIN } });
  const bobKey = (await stu.json()).key;
  await useKey(bobKey);
  await page.waitForFunction(() => /bob \(student\)/.test(document.querySelector("#me").textContent));
  await page.waitForSelector("#users-sec", { state: "hidden" });
  assert.deepEqual(pageErrors, []);
});
