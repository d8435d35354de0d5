"use strict";
/* augment.test.js — data augmentation in the dashboard, in a real browser (Debian's chromium,
 * headless, playwright-core) against the real build/mlpd: the run form shows the augment fields
 * only for an image dataset; "Preview" draws the row and 8 copies from the server's route
 * (GET /api/v1/datasets/{id}/rows/{i}/augmented), pixel for pixel; a bad option is marked on its
 * field by the server's answer; a run launched from the form trains with params.augment.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails (never skips) when /usr/bin/chromium
 * is missing. Run: `make test-browser`, or `node --test augment.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const lib = require("./lib");

/* 8×8 images of a horizontal or vertical bar (values 0..1), labelled h or v. */
function barsCsv(rows) {
  const lines = [lib.pixelHeader(64, "kind")];
  for (let i = 0; i < rows; i++) {
    const vertical = i % 2 === 1, k = 1 + (Math.floor(i / 2) % 6);
    const px = [];
    for (let y = 0; y < 8; y++)
      for (let x = 0; x < 8; x++) px.push((vertical ? x === k : y === k) ? 1 : 0);
    lines.push(px.join(",") + "," + (vertical ? "v" : "h"));
  }
  return lines.join("\n") + "\n";
}

let tmp, daemon, ctx, page, bars, plain;
const pageErrors = [];

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-aug-", { seed: async (d) => {
    plain = await lib.uploadCsv(d.url, "name=plain", "a,b,c,d,kind\n1,2,3,4,x\n2,3,4,5,y\n3,4,5,6,x\n4,5,6,7,y\n");
    bars = await lib.uploadCsv(d.url, "name=bars&image=8x8x1", barsCsv(96));
    assert.deepEqual(bars.image, { height: 8, width: 8, channels: 1 });
  } }));
  lib.watchErrors(page, pageErrors, { console: true });
});

after(() => lib.teardown({ ctx, daemon, tmp }));

test("augment fields appear for image datasets only", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  await page.waitForFunction((id) => [...document.querySelectorAll("#rf-dataset option")].some((o) => o.value === id), bars.id);
  await page.selectOption("#rf-dataset", plain.id);
  await page.waitForFunction(() => document.querySelector("#rf-target").value === "kind");
  // both datasets end in "kind": wait until the form reflects the plain one, not the first shown
  await page.waitForFunction((id) => document.querySelector("#augment-box").dataset.ds === id, plain.id);
  assert.equal(await page.isHidden("#augment-box"), true);
  await page.selectOption("#rf-dataset", bars.id);
  await page.waitForSelector("#augment-box", { state: "visible" });
  assert.match(await page.textContent("#aug-msg"), /8×8×1 images/);
  for (const k of ["shift", "rotate", "scale", "brightness", "hflip"]) assert.ok(await page.isVisible("#aug-" + k), k);
  await page.selectOption("#rf-dataset", plain.id);
  await page.waitForSelector("#augment-box", { state: "hidden" });
});

test("preview draws 8 copies from the server's route", async () => {
  await page.selectOption("#rf-dataset", bars.id);
  await page.waitForSelector("#augment-box", { state: "visible" });
  await page.fill("#aug-shift", "2");
  await page.fill("#aug-rotate", "10");
  await page.fill("#aug-row", "3");
  await page.fill("#aug-seed", "5");
  const req = page.waitForRequest((r) => /\/rows\/3\/augmented\?/.test(r.url()));
  await page.click("#aug-preview-btn");
  const url = new URL((await req).url());
  assert.equal(url.pathname, `/api/v1/datasets/${bars.id}/rows/3/augmented`);
  assert.equal(url.searchParams.get("shift"), "2");
  assert.equal(url.searchParams.get("rotate"), "10");
  assert.equal(url.searchParams.get("n"), "8");
  await page.waitForFunction(() => document.querySelectorAll("#aug-preview canvas").length === 9);
  // Each canvas shows what the route answers (values 0..1 of the original span black..white).
  const route = await (await fetch(daemon.url + url.pathname + url.search)).json();
  const drawn = await page.$$eval("#aug-preview canvas", (cs) => cs.map((c) =>
    Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data).filter((_, i) => i % 4 === 0)));
  const want = [route.original, ...route.copies.map((c) => c.values)]
    .map((v) => v.map((x) => Math.max(0, Math.min(255, Math.round(255 * x)))));
  assert.deepEqual(drawn, want);
  assert.notDeepEqual(drawn[1], drawn[0], "a copy equals the original");
  assert.match(await page.textContent("#aug-msg"), /row 3 and 8 copies \(seed 5\)/);
});

test("a bad option is marked; a run launched from the form augments", async () => {
  await page.fill("#aug-rotate", "500");
  await page.click("#validate");
  await page.waitForSelector("#aug-rotate.bad");
  assert.match(await page.textContent("#run-msg"), /params\.augment\.rotate/);
  await page.fill("#aug-rotate", "10");
  await page.fill("#p-hidden", "16");
  await page.fill("#p-epochs", "3");
  await page.fill("#rf-model", "bars-aug");
  await page.click("#launch");
  await page.waitForFunction(() => /queued/.test(document.querySelector("#run-msg").textContent));
  const id = (await page.textContent("#run-msg")).split(" ")[0];
  const run = await lib.waitRun(daemon.url, id, { interval: 200 });
  assert.equal(run.status, "succeeded", JSON.stringify(run.error || run.status));
  const a = run.params ? run.params.augment : run.request.params.augment;
  assert.equal(a.shift, 2);
  assert.equal(a.rotate, 10);
  assert.deepEqual(a.image, { height: 8, width: 8, channels: 1 });
  assert.deepEqual(pageErrors, []);
});
