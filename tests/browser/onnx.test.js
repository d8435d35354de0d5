"use strict";
/* onnx.test.js — "Download ONNX" in the dashboard's "Try a model" panel, in a real browser
 * (headless chromium via playwright-core, set up by lib.js): a classifier trained through the
 * API is chosen in the panel; the button's request answers 200 application/onnx with the
 * version's file name, the browser saves a file of that name which starts like a protobuf
 * ModelProto (field 1, ir_version 8), and the panel reports its name and size.
 *
 * Environment: MLPD_BIN (default ../../build/mlpd). Fails when /usr/bin/chromium is missing
 * (scripts/install-browser-deps.sh). Run: `node --test onnx.test.js` in this directory. */
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const lib = require("./lib");

let tmp, daemon, ctx, page;
const pageErrors = [];

before(async () => {
  ({ tmp, daemon, ctx, page } = await lib.setup("mlpd-browser-onnx-", {
    browser: { acceptDownloads: true },
    seed: async (d) => {
      const lines = ["a,b,kind"];
      const u = lib.lcg(3);
      for (let i = 0; i < 60; i++) lines.push(`${(u() * 4 - 2).toFixed(3)},${(u() * 4 - 2).toFixed(3)},${i % 2 ? "yes" : "no"}`);
      const ds = await lib.uploadCsv(d.url, "name=onnx", lines.join("\n") + "\n");
      const r = await lib.api(d.url, null, "POST", "/api/v1/runs", { dataset_id: ds.id, task: "classification",
        target: "kind", model_name: "tiny", params: { hidden: [4], epochs: 2, seed: 1 } });
      assert.equal(r.status, 202);
      const s = await lib.waitRun(d.url, r.json.id);
      assert.equal(s.status, "succeeded", `run ${r.json.id} ${s.status}`);
    },
  }));
  lib.watchErrors(page, pageErrors);
});

after(() => lib.teardown({ ctx, daemon, tmp }));

test("Download ONNX saves the chosen version as an application/onnx file", async () => {
  await page.goto(daemon.url + "/", { waitUntil: "load" });
  await page.waitForSelector("#onnx-download");
  await page.waitForSelector('#try-model option[value="tiny"]', { state: "attached" });
  await page.selectOption("#try-model", "tiny");
  await page.waitForFunction(() => /classification, 2 inputs/.test(document.querySelector("#try-meta").textContent));
  const [resp, download] = await Promise.all([
    page.waitForResponse((r) => r.url().includes("/export?format=onnx")),
    page.waitForEvent("download"),
    page.click("#onnx-download"),
  ]);
  assert.equal(resp.status(), 200);
  assert.equal(resp.headers()["content-type"], "application/onnx");
  assert.equal(new URL(resp.url()).pathname, "/api/v1/models/tiny/versions/1/export");
  assert.equal(download.suggestedFilename(), "tiny-v1.onnx");
  const bytes = fs.readFileSync(await download.path());
  assert.deepEqual([...bytes.subarray(0, 2)], [0x08, 0x08]); // ModelProto.ir_version = 8
  await page.waitForSelector("#onnx-msg.ok");
  assert.match(await page.textContent("#onnx-msg"), new RegExp(`tiny-v1.onnx: ${bytes.length} bytes`));
  assert.deepEqual(pageErrors, []);
});
