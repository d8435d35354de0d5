"use strict";
/* ensemble.test.js — the dashboard's ensemble form in a real browser (headless chromium via
 * playwright-core, as dashboard.test.js): two classifiers trained through the API appear as
 * versions to tick; the form refuses one member, makes an ensemble of two, shows its members
 * under "Try a model", and the ensemble classifies a typed row from the page.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails when /usr/bin/chromium is missing
 * (scripts/install-browser-deps.sh). Run: `node --test ensemble.test.js` in this directory. */
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

function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

/* Three blobs in 2 dimensions, labelled by name. */
function blobsCsv(rows) {
  const u = lcg(5);
  const centers = { cat: [-2, 0], dog: [2, 0], emu: [0, 3] };
  const names = Object.keys(centers);
  const lines = ["a,b,kind"];
  for (let i = 0; i < rows; i++) {
    const n = names[i % 3];
    lines.push(centers[n].map((c) => (c + u() - 0.5).toFixed(4)).join(",") + "," + n);
  }
  return lines.join("\n") + "\n";
}

async function startDaemon(dir) {
  const portFile = path.join(dir, "port");
  const proc = spawn(BIN, ["--listen", "127.0.0.1:0", "--port-file", portFile, "--data-dir", dir, "--quiet"], {
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

/* Uploads the blobs and trains model `name` with `seed` through the API; waits for success. */
async function train(name, seed) {
  const up = await fetch(`${daemon.url}/api/v1/datasets?name=${name}`, {
    method: "POST", headers: { "Content-Type": "text/csv" }, body: blobsCsv(300) });
  assert.equal(up.status, 201);
  const ds = await up.json();
  const r = await fetch(`${daemon.url}/api/v1/runs`, {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ dataset_id: ds.id, task: "classification", target: "kind", model_name: name,
      params: { hidden: [8], epochs: 4, seed } }) });
  assert.equal(r.status, 202);
  const run = await r.json();
  for (let i = 0; i < 600; i++) {
    const s = await (await fetch(`${daemon.url}/api/v1/runs/${run.id}`)).json();
    if (s.status === "succeeded") return;
    assert.ok(!["failed", "cancelled"].includes(s.status), `run ${run.id} ${s.status}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`run ${run.id} did not finish`);
}

before(async () => {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), "mlpd-browser-ens-"));
  fs.mkdirSync(path.join(tmp, "data"));
  daemon = await startDaemon(path.join(tmp, "data"));
  await train("m1", 1);
  await train("m2", 2);
  ctx = await chromium.launchPersistentContext(path.join(tmp, "profile"), {
    executablePath: CHROMIUM,
    headless: true,
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
