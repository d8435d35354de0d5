"use strict";
/* lib.js — the setup every tests/browser/*.test.js shares (not a test itself: the Makefile's
 * test-browser runs *.test.js only). It offers:
 *   CHROMIUM, ROOT, BIN          Debian's chromium; the repository root; the daemon under test
 *                                (MLPD_BIN, default ../../build/mlpd).
 *   startDaemon(dir, args, env)  spawns BIN on 127.0.0.1:0 with --data-dir dir, --quiet, args and
 *                                env added to the environment (OPENBLAS_NUM_THREADS=1); resolves
 *                                to { proc, url } once the port file is written (15 s at most).
 *   stopDaemon(d)                SIGTERM, SIGKILL after 10 s; tolerates null or an exited daemon.
 *   launchBrowser(profile, opts) headless chromium in a persistent context; opts.viewport
 *                                (default 1400×900, null for playwright's own), opts.acceptDownloads;
 *                                resolves to { ctx, page } with a 20 s default timeout.
 *   makeTmp(prefix)              a new temp dir (os.tmpdir()/prefix…) holding an empty data/.
 *   setup(prefix, opts)          the usual `before`: checks chromium and BIN, makes a temp dir
 *                                (prefix) with data/, starts the daemon (opts.args, opts.env),
 *                                awaits opts.seed(daemon, tmp) (API work before the page opens),
 *                                launches the browser (opts.browser); resolves to
 *                                { tmp, daemon, ctx, page }, or cleans up and rejects.
 *   teardown({ ctx, daemon, tmp }) the usual `after`: closes the browser, stops the daemon,
 *                                removes the temp dir; any of them may be missing.
 *   watchErrors(page, errors, opts) collects page errors into errors; opts.console: "all" (every
 *                                console error), true (all but the browser's "Failed to load
 *                                resource" lines) or false (none, the default); opts.failed: an
 *                                array that gets "METHOD /path status" of every response >= 400.
 *   lcg(seed), randn(u)          a deterministic uniform generator and a normal draw from it.
 *   pixelHeader(n, extra)        "p0,...,p{n-1}" (and ",extra"): the header of an image CSV.
 *   api(url, key, method, p, body, type)  one request (Bearer key unless key is null; body as
 *                                JSON, or raw when type is given); resolves to { status, json }.
 *   uploadCsv(url, query, csv, key)  POST /api/v1/datasets?query; asserts 201; the dataset JSON.
 *   createUser(url, adminKey, name, role)  POST /api/v1/users; asserts 201; the new user's key.
 *   waitRun(url, id, opts)       polls GET /api/v1/runs/{id} (opts.key, opts.interval 100 ms,
 *                                opts.timeout 60 s) until the run is succeeded, failed or
 *                                cancelled; resolves to the last run seen (the caller asserts on
 *                                it, with its own message). */
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { chromium } = require("playwright-core");

const CHROMIUM = "/usr/bin/chromium";
const ROOT = path.resolve(__dirname, "../..");
const BIN = process.env.MLPD_BIN || path.join(ROOT, "build/mlpd");

/* A deterministic generator (the tests must not depend on Math.random). */
function lcg(seed) {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}
function randn(u) {
  return Math.sqrt(-2 * Math.log(u() || 1e-12)) * Math.cos(2 * Math.PI * u());
}

function pixelHeader(n, extra) {
  const cols = Array.from({ length: n }, (_, j) => "p" + j);
  if (extra !== undefined) cols.push(extra);
  return cols.join(",");
}

async function startDaemon(dir, args = [], env = {}) {
  const portFile = path.join(dir, "port");
  const proc = spawn(BIN, ["--listen", "127.0.0.1:0", "--port-file", portFile, "--data-dir", dir, "--quiet", ...args], {
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, OPENBLAS_NUM_THREADS: "1", ...env },
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

async function launchBrowser(profile, { viewport = { width: 1400, height: 900 }, acceptDownloads } = {}) {
  const opts = {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--no-first-run"],
  };
  if (acceptDownloads !== undefined) opts.acceptDownloads = acceptDownloads;
  if (viewport) opts.viewport = viewport;
  const ctx = await chromium.launchPersistentContext(profile, opts);
  const page = ctx.pages()[0] || (await ctx.newPage());
  page.setDefaultTimeout(20000);
  return { ctx, page };
}

function makeTmp(prefix) {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.mkdirSync(path.join(tmp, "data"));
  return tmp;
}

async function setup(prefix, { args = [], env = {}, seed, browser = {} } = {}) {
  assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} is missing: run scripts/install-browser-deps.sh (as root)`);
  assert.ok(fs.existsSync(BIN), `${BIN} is missing: run make`);
  const s = { tmp: makeTmp(prefix), daemon: null, ctx: null, page: null };
  try {
    s.daemon = await startDaemon(path.join(s.tmp, "data"), args, env);
    if (seed) await seed(s.daemon, s.tmp);
    Object.assign(s, await launchBrowser(path.join(s.tmp, "profile"), browser));
  } catch (e) {
    await teardown(s); // `after` never sees what a failed setup started
    throw e;
  }
  return s;
}

async function teardown({ ctx, daemon, tmp } = {}) {
  if (ctx) await ctx.close().catch(() => {});
  await stopDaemon(daemon);
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
}

function watchErrors(page, errors, { console: con = false, failed } = {}) {
  if (con) {
    page.on("console", (m) => {
      if (m.type() === "error" && (con === "all" || !/^Failed to load resource/.test(m.text()))) errors.push(m.text());
    });
  }
  if (failed) {
    page.on("response", (r) => {
      if (r.status() >= 400) failed.push(`${r.request().method()} ${new URL(r.url()).pathname} ${r.status()}`);
    });
  }
  page.on("pageerror", (e) => errors.push(String(e)));
}

async function api(url, key, method, p, body, type) {
  const headers = {};
  if (key !== null && key !== undefined) headers.Authorization = "Bearer " + key;
  if (body !== undefined) headers["Content-Type"] = type || "application/json";
  const r = await fetch(url + p, { method, headers, body: type || body === undefined ? body : JSON.stringify(body) });
  return { status: r.status, json: await r.json().catch(() => null) };
}

async function uploadCsv(url, query, csv, key = null) {
  const r = await api(url, key, "POST", "/api/v1/datasets?" + query, csv, "text/csv");
  assert.equal(r.status, 201, JSON.stringify(r.json));
  return r.json;
}

async function createUser(url, adminKey, name, role) {
  const u = await api(url, adminKey, "POST", "/api/v1/users", { name, role });
  assert.equal(u.status, 201, JSON.stringify(u.json));
  return u.json.key.key;
}

async function waitRun(url, id, { key = null, interval = 100, timeout = 60000 } = {}) {
  let run;
  for (const t0 = Date.now(); Date.now() - t0 < timeout;) {
    run = (await api(url, key, "GET", "/api/v1/runs/" + id)).json;
    if (["succeeded", "failed", "cancelled"].includes(run.status)) break;
    await new Promise((r) => setTimeout(r, interval));
  }
  return run;
}

module.exports = {
  CHROMIUM, ROOT, BIN, lcg, randn, pixelHeader, startDaemon, stopDaemon, launchBrowser, makeTmp, setup, teardown,
  watchErrors, api, uploadCsv, createUser, waitRun,
};
