"use strict";
/* quotas.test.js — class-mode quotas in the dashboard, in a real browser (Debian's chromium driven
 * by playwright-core, as dashboard.test.js): a student enters their key and sees a bar per quota
 * with their use against the --quota-* limits; a run past their active_runs quota is refused in
 * the run form with the quota named.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Run: `make test-browser`, or
 * `node --test quotas.test.js` in this directory. */
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
const ADMIN = "quota-browser-admin-key-0123";

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

let tmp, daemon, ctx, page, annKey;
const consoleErrors = [];

async function as(key, method, p, body, type) {
  const headers = { Authorization: "Bearer " + key };
  if (body !== undefined) headers["Content-Type"] = type || "application/json";
  const r = await fetch(daemon.url + p, { method, headers, body: type ? body : JSON.stringify(body) });
  return { status: r.status, json: await r.json().catch(() => null) };
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlpd-quotas-"));
  fs.mkdirSync(path.join(tmp, "data"));
  daemon = await startDaemon(path.join(tmp, "data"), ["--api-key", ADMIN + ":admin",
    "--quota-storage-bytes", "1M", "--quota-active-runs", "1", "--quota-models", "5"]);
  const u = await as(ADMIN, "POST", "/api/v1/users", { name: "ann", role: "student" });
  assert.equal(u.status, 201);
  annKey = u.json.key.key;
  const lines = ["a,b,c,y"];
  for (let i = 0; i < 300; i++) lines.push(`${i % 7},${(i * 3) % 5},${i % 2},${i % 3 ? "x" : "z"}`);
  const ds = await as(annKey, "POST", "/api/v1/datasets?name=mine", lines.join("\n") + "\n", "text/csv");
  assert.equal(ds.status, 201);
  const run = await as(annKey, "POST", "/api/v1/runs", { dataset_id: ds.json.id, task: "classification", target: "y",
    params: { hidden: [8], epochs: 100000 } });
  assert.equal(run.status, 202); /* her one active run */
  ctx = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
    viewport: { width: 1400, height: 900 },
  });
  page = ctx.pages()[0] || (await ctx.newPage());
  page.on("pageerror", (e) => consoleErrors.push(String(e)));
  page.setDefaultTimeout(20000);
});

after(async () => {
  if (ctx) await ctx.close().catch(() => {});
  await stopDaemon(daemon);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

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
