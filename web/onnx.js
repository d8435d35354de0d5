"use strict";
/* onnx.js — "Download ONNX" in the dashboard's "Try a model" panel: GET
 * /api/v1/models/{name}/versions/{v}/export?format=onnx for the model and version chosen there
 * (window.mlpdDash.tryMeta), sent with the page's API key like every other request, saved under
 * the file name the answer's Content-Disposition gives ({name}-v{v}.onnx). Uses app.js's helpers
 * ($, el, enc, msg, apiKey); needs no hook in app.js: it reads the chosen model when clicked. */
(() => {
  const path = (name, v) => `/api/v1/models/${enc(name)}/versions/${enc(v)}/export?format=onnx`;

  async function download() {
    const M = window.mlpdDash && window.mlpdDash.tryMeta;
    if (!M) { msg("#onnx-msg", "choose a model first", "err"); return; }
    msg("#onnx-msg", "");
    try {
      const headers = {};
      const k = apiKey();
      if (k) headers.Authorization = "Bearer " + k;
      const r = await fetch(path(M.name, M.version), { headers });
      if (!r.ok) {
        const ct = r.headers.get("Content-Type") || "";
        throw new ApiError(r.status, ct.includes("json") ? await r.json().catch(() => null) : await r.text());
      }
      const cd = r.headers.get("Content-Disposition") || "";
      const m = /filename="([^"]+)"/.exec(cd);
      const file = m ? m[1] : `${M.name}-v${M.version}.onnx`;
      const blob = await r.blob();
      const a = el("a", { href: URL.createObjectURL(blob), download: file });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
      msg("#onnx-msg", `${file}: ${blob.size} bytes (ONNX opset 17)`, "ok");
    } catch (e) { msg("#onnx-msg", e.message, "err"); }
  }

  function init() {
    const meta = $("#try-meta");
    if (!meta || $("#onnx-row")) return;
    meta.after(el("p", { id: "onnx-row", class: "actions" },
      el("button", { id: "onnx-download", type: "button", class: "small", title: "the chosen version as an ONNX model, for onnxruntime and other tools", onclick: download }, "Download ONNX"),
      " ", el("span", { id: "onnx-msg", class: "msg" })));
  }

  window.mlpdOnnx = { path, download };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
