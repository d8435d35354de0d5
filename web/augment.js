"use strict";
/* augment.js — data augmentation in the run form. When the chosen dataset is an image dataset
 * (its `image` is {height, width, channels}), the form shows the params.augment fields (shift,
 * rotate, scale, brightness, hflip), and "Preview" draws a row and 8 augmented copies of it
 * from GET /api/v1/datasets/{id}/rows/{i}/augmented: the server's own transform code, the one the
 * trainer runs, never a JavaScript copy. Hooks called by app.js: augmentInit() once,
 * augmentDataset(ds) when a dataset is chosen, augmentParams(params) while the request body is
 * built. Uses app.js's $, el, api, enc, msg (loaded after this file, called only later). */

const AUG_FIELDS = [
  { k: "shift", ph: "0", title: "max shift in pixels (random integer translation, zero fill)", step: 1, min: 0 },
  { k: "rotate", ph: "0", title: "max rotation in degrees (bilinear)", step: "any", min: 0, max: 180 },
  { k: "scale", ph: "1,1", title: "zoom range lo,hi, e.g. 0.9,1.1", text: true },
  { k: "brightness", ph: "0,0", title: "additive brightness range lo,hi, in the data's units", text: true },
  { k: "hflip", ph: "0", title: "probability of a horizontal flip", step: "any", min: 0, max: 1 },
];
const augState = { ds: null };

function augmentInit() {
  const inputs = AUG_FIELDS.map((f) => el("label", { title: f.title }, f.k + " ",
    el("input", { id: "aug-" + f.k, "data-field": "params.augment." + f.k, placeholder: f.ph,
      type: f.text ? "text" : "number", step: f.step, min: f.min, max: f.max, style: "width:70px" })));
  const box = el("details", { id: "augment-box", open: true, hidden: true, "data-field": "params.augment" },
    el("summary", { text: "augment — image dataset: transform every training row of every mini-batch" }),
    el("div", { class: "row", style: "flex-wrap:wrap;gap:8px" }, inputs),
    el("div", { class: "row", style: "gap:8px;margin-top:6px" },
      el("label", {}, "row ", el("input", { id: "aug-row", type: "number", min: 0, step: 1, value: "0", style: "width:70px" })),
      el("label", {}, "seed ", el("input", { id: "aug-seed", type: "number", min: 0, step: 1, value: "0", style: "width:70px" })),
      el("button", { id: "aug-preview-btn", type: "button", onclick: augmentPreview }, "Preview"),
      el("span", { id: "aug-msg", class: "msg" })),
    el("div", { id: "aug-preview", class: "row", style: "flex-wrap:wrap;gap:4px;margin-top:6px" }));
  $("#params-box").after(box);
}

/* Shows the fields for an image dataset, hides them (and sends nothing) otherwise. */
function augmentDataset(ds) {
  augState.ds = ds && ds.image ? ds : null;
  $("#augment-box").dataset.ds = ds ? ds.id : ""; /* the dataset it reflects (the tests wait on it) */
  $("#augment-box").hidden = !augState.ds;
  $("#aug-preview").replaceChildren();
  msg("#aug-msg", augState.ds ? `${ds.image.height}×${ds.image.width}×${ds.image.channels} images` : "");
}

/* "lo,hi" (or one number for both) as [lo, hi]; null when empty. */
function augRange(s) {
  const v = s.split(/[\s,]+/).filter(Boolean).map(Number);
  if (!v.length) return null;
  return v.length === 1 ? [v[0], v[0]] : v;
}

/* The options filled in, as params.augment takes them; null when none is. */
function augmentOptions() {
  const a = {};
  for (const f of AUG_FIELDS) {
    const v = $("#aug-" + f.k).value.trim();
    if (v === "") continue;
    a[f.k] = f.text ? augRange(v) : Number(v);
  }
  return Object.keys(a).length ? a : null;
}

function augmentParams(params) {
  if (!augState.ds) return;
  const a = augmentOptions();
  if (a) params.augment = a;
}

/* One image (HWC values) on a canvas, scaled so that min..max of `ref` spans black..white. */
function augCanvas(values, image, lo, hi, title) {
  const { height: H, width: W, channels: C } = image;
  const c = el("canvas", { width: W, height: H, title, class: "aug-img",
    style: `width:${Math.max(48, Math.min(112, W * 4))}px;image-rendering:pixelated;border:1px solid #ccc` });
  const g = c.getContext("2d");
  const img = g.createImageData(W, H);
  const span = hi > lo ? hi - lo : 1;
  for (let p = 0; p < H * W; p++) {
    for (let k = 0; k < 3; k++) {
      const v = values[p * C + (C >= 3 ? k : 0)];
      img.data[p * 4 + k] = Math.max(0, Math.min(255, Math.round(255 * (v - lo) / span)));
    }
    img.data[p * 4 + 3] = 255;
  }
  g.putImageData(img, 0, 0);
  return c;
}

async function augmentPreview() {
  if (!augState.ds) return;
  const q = new URLSearchParams();
  const a = augmentOptions() || {};
  for (const [k, v] of Object.entries(a)) q.set(k, Array.isArray(v) ? v.join(",") : String(v));
  q.set("n", "8");
  q.set("seed", $("#aug-seed").value || "0");
  const row = $("#aug-row").value || "0";
  try {
    const r = await api("GET", `/api/v1/datasets/${enc(augState.ds.id)}/rows/${enc(row)}/augmented?${q}`);
    let lo = Math.min(...r.original), hi = Math.max(...r.original);
    if (lo === hi) hi = lo + 1;
    const d = (x) => `dx ${x.dx}, dy ${x.dy}, rotate ${x.rotate.toFixed(1)}°, scale ${x.scale.toFixed(2)}, ` +
      `brightness ${x.brightness.toFixed(2)}${x.hflip ? ", flipped" : ""}`;
    $("#aug-preview").replaceChildren(augCanvas(r.original, r.image, lo, hi, `row ${r.row} as stored`),
      ...r.copies.map((c) => augCanvas(c.values, r.image, lo, hi, d(c.draw))));
    msg("#aug-msg", `row ${r.row} and ${r.copies.length} copies (seed ${r.seed})`, "ok");
  } catch (e) {
    $("#aug-preview").replaceChildren();
    msg("#aug-msg", e.message, "err");
  }
}
