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
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const CHROMIUM = "/usr/bin/chromium";
const ROOT = path.resolve(__dirname, "../..");
const BIN = process.env.MLPD_BIN || path.join(ROOT, "build/mlpd");
const ADMIN = "teacher-key-0123456789";

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
const pageErrors = [];

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlpd-browser-users-"));
  fs.mkdirSync(path.join(tmp, "data"));
  daemon = await startDaemon(path.join(tmp, "data"), ["--api-key", ADMIN + ":admin"]);
  ctx = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    acceptDownloads: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
    viewport: { width: 1400, height: 900 },
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  page.setDefaultTimeout(20000);
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  await stopDaemon(daemon);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function useKey(key) {
  await page.fill("#key", key);
  await page.click("#key-save");
}

/* The server's own answer for /me with key (outside the page). */
async function meStatus(key) {
  const r = await fetch(daemon.url + "/api/v1/me", { headers: { Authorization: "Bearer " + key } });
  return r.status;
}

test("an admin imports a roster of 3, downloads the keys, edits a role and revokes a key", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  assert.equal(await page.isVisible("#users-sec"), false); // no key yet: not even /me
  // One name of the roster exists already.
  const r = await fetch(daemon.url + "/api/v1/users", {
    method: "POST", headers: { Authorization: "Bearer " + ADMIN, "Content-Type": "application/json" },
    body: JSON.stringify({ name: "bob", role: "student" }),
  });
  assert.equal(r.status, 201);
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
