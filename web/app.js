"use strict";
/* app.js — the mlpd dashboard. A client of the public API only (API.md): /api/v1 for datasets,
 * runs, metrics and models, /v1/models for inference, and the run's Server-Sent Events stream
 * for live learning curves. Plain modern JavaScript, no build step; charts by uPlot.
 *
 * API key: kept in sessionStorage ("mlpd.key"), sent as "Authorization: Bearer <key>" on every
 * fetch, and as "?access_token=<key>" on the EventSource URL (EventSource cannot send headers). */

const $ = (sel) => document.querySelector(sel);
const KEY_STORE = "mlpd.key";
const state = {
  datasets: [], runs: [], models: [],
  dsCache: new Map(),   // id -> dataset object (with columns)
  live: null,           // the watched run: {id, run, es, timer, xs, ys{}, mode, history[]}
  chart: null, cmpChart: null,
  tryMeta: null,        // {name, version, task, input_dim, feature_names, labels, run}
  chooseSeq: 0,         // the latest chooseModel call: an older one's answers are dropped
  dsSeq: 0,             // the same for onDatasetChosen
};
window.mlpdDash = state; // for the browser test and for poking at the page from a console

// ---- HTTP ---------------------------------------------------------------------------------
function apiKey() { return sessionStorage.getItem(KEY_STORE) || ""; }

class ApiError extends Error {
  constructor(status, data) {
    let msg = `HTTP ${status}`;
    if (data && typeof data === "object") {
      msg = data.detail || data.error || data.title || msg;
      if (Array.isArray(data.errors) && data.errors.length)
        msg = data.errors.map((e) => (e.field ? `${e.field}: ` : "") + e.detail).join("; ");
    } else if (typeof data === "string" && data) msg = data.slice(0, 200);
    super(msg);
    this.status = status;
    this.data = data;
  }
}

async function api(method, path, body) {
  const headers = {};
  const k = apiKey();
  if (k) headers.Authorization = "Bearer " + k;
  let payload = body;
  if (body !== undefined && !(body instanceof FormData) && !(body instanceof Blob)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const r = await fetch(path, { method, headers, body: payload });
  const ct = r.headers.get("Content-Type") || "";
  let data = null;
  if (r.status !== 204) data = ct.includes("json") ? await r.json().catch(() => null) : await r.text();
  if (!r.ok) {
    if (r.status === 401) keyMsg("this server needs an API key", true);
    else if (r.status === 403) keyMsg("the key lacks the scope for that", true);
    throw new ApiError(r.status, data);
  }
  return data;
}
const enc = encodeURIComponent;

// ---- small DOM helpers --------------------------------------------------------------------
function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined)
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
}
function msg(sel, text, kind) {
  const m = $(sel);
  m.textContent = text || "";
  m.className = "msg" + (kind ? " " + kind : "");
}
function keyMsg(text, bad) { msg("#key-msg", text, bad ? "err" : "ok"); }
function fmt(v, digits = 4) {
  if (v === null || v === undefined) return "—";
  if (typeof v !== "number") return String(v);
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(2) : v.toFixed(digits);
}
function fmtDuration(s) {
  if (!isFinite(s) || s < 0) return "";
  if (s < 1) return "<1 s";
  if (s < 90) return Math.round(s) + " s";
  if (s < 5400) return Math.round(s / 60) + " min";
  return (s / 3600).toFixed(1) + " h";
}
function setOptions(select, items, keep) {
  const old = keep ? select.value : null;
  select.replaceChildren(...items.map(([v, label]) => el("option", { value: v, text: label })));
  if (old !== null && items.some(([v]) => String(v) === old)) select.value = old;
}

// ---- class mode (web/users.js) -------------------------------------------------------------
/* "&owner=NAME" while the lists hold only the caller's own things; row tags (owner, visibility);
 * the visibility control of a dataset or model the caller may change. Inert without users.js. */
async function ownerQ() { return window.mlpdUsers ? window.mlpdUsers.ownerQuery() : ""; }
function ownerTags(item) { return window.mlpdUsers ? window.mlpdUsers.tags(item) : []; }
function visControl(kind, item, saved) {
  return window.mlpdUsers ? window.mlpdUsers.visibilityControl(kind, item, saved) : null;
}

// ---- datasets ------------------------------------------------------------------------------
function safeName(file) {
  let n = file.replace(/\.gz$/i, "").replace(/\.(csv|idx\d?-?\w*|ubyte|json|bin)$/i, "");
  n = n.replace(/-?(images|labels)-idx\d-ubyte$/i, "").replace(/[^A-Za-z0-9._-]+/g, "-");
  n = n.replace(/^[^A-Za-z0-9]+/, "").slice(0, 64);
  return n || "dataset";
}

/* The number of dimensions of an IDX file (byte 3 of its magic), reading through gzip. */
async function idxDims(file) {
  let head = new Uint8Array(await file.slice(0, 4).arrayBuffer());
  if (head[0] === 0x1f && head[1] === 0x8b && "DecompressionStream" in window) {
    const reader = file.stream().pipeThrough(new DecompressionStream("gzip")).getReader();
    const { value } = await reader.read();
    reader.cancel().catch(() => {});
    head = value || new Uint8Array(0);
  }
  return head.length >= 4 && head[0] === 0 && head[1] === 0 ? head[3] : -1;
}

async function upload(files) {
  files = Array.from(files || []);
  if (!files.length) return;
  const fd = new FormData();
  const name = $("#ds-name").value.trim() || safeName(files[0].name);
  fd.append("name", name);
  try {
    if (files.length === 1) {
      fd.append("file", files[0], files[0].name);
    } else if (files.length === 2) {
      // An IDX pair: labels are the file with one dimension (or "label" in its name).
      let [a, b] = files;
      const byName = (f) => /label/i.test(f.name);
      if (byName(a) === byName(b)) {
        const [da, db] = await Promise.all([idxDims(a), idxDims(b)]);
        if (da === 1 && db !== 1) [a, b] = [b, a];
      } else if (byName(a)) [a, b] = [b, a];
      fd.append("images", a, a.name);
      fd.append("labels", b, b.name);
    } else {
      throw new Error("choose one file, or two (IDX images + labels)");
    }
    msg("#upload-msg", `uploading ${files.map((f) => f.name).join(" + ")} …`);
    const t0 = performance.now();
    const ds = await api("POST", "/api/v1/datasets?name=" + enc(name), fd);
    msg("#upload-msg", `${ds.id} "${ds.name}": ${ds.rows} rows × ${ds.cols} columns ` +
      `(${((performance.now() - t0) / 1000).toFixed(1)} s)`, "ok");
    state.dsCache.set(ds.id, ds);
    $("#ds-name").value = "";
    await loadDatasets();
    showDataset(ds.id);
    $("#rf-dataset").value = ds.id;
    await onDatasetChosen();
  } catch (e) {
    msg("#upload-msg", "upload failed: " + e.message, "err");
  } finally {
    $("#file").value = "";
  }
}

async function loadDatasets() {
  const r = await api("GET", "/api/v1/datasets?limit=1000" + await ownerQ());
  state.datasets = r.items;
  const tb = $("#ds-table tbody");
  tb.replaceChildren(...r.items.map((d) => el("tr", { "data-id": d.id, onclick: () => showDataset(d.id) },
    el("td", { text: d.id }), el("td", {}, d.name, ownerTags(d)), el("td", { class: "num", text: d.rows }),
    el("td", { class: "num", text: d.cols }), el("td", { class: "muted", text: (d.created_at || "").replace("T", " ").replace("Z", "") }),
    el("td", {}, el("button", { class: "small", type: "button", title: "delete", onclick: (ev) => { ev.stopPropagation(); deleteDataset(d.id); } }, "✕")))));
  const opts = r.items.map((d) => [d.id, `${d.id} — ${d.name} (${d.rows}×${d.cols})`]);
  setOptions($("#rf-dataset"), opts, true);
  setOptions($("#rf-valds"), [["", "—"], ...opts], true);
  setOptions($("#try-ds"), opts, true);
}

async function getDataset(id) {
  if (!state.dsCache.has(id)) state.dsCache.set(id, await api("GET", "/api/v1/datasets/" + enc(id)));
  return state.dsCache.get(id);
}

async function deleteDataset(id) {
  try {
    await api("DELETE", "/api/v1/datasets/" + enc(id));
    state.dsCache.delete(id);
    $("#ds-detail").replaceChildren();
    await loadDatasets();
  } catch (e) { msg("#upload-msg", `delete ${id}: ${e.message}`, "err"); }
}

async function showDataset(id) {
  for (const tr of document.querySelectorAll("#ds-table tbody tr")) tr.classList.toggle("sel", tr.dataset.id === id);
  const box = $("#ds-detail");
  try {
    const [ds, rows] = await Promise.all([getDataset(id),
      api("GET", `/api/v1/datasets/${enc(id)}/rows?limit=5`)]);
    const MAXC = 200;
    const cols = ds.columns.slice(0, MAXC);
    const stats = el("table", { class: "stats" },
      el("thead", {}, el("tr", {}, ["column", "type", "min", "max", "mean", "std", "levels"].map((h) => el("th", { text: h })))),
      el("tbody", {}, cols.map((c) => el("tr", {},
        el("td", { text: c.name }), el("td", { text: c.type }),
        el("td", { class: "num", text: fmt(c.min) }), el("td", { class: "num", text: fmt(c.max) }),
        el("td", { class: "num", text: fmt(c.mean) }), el("td", { class: "num", text: fmt(c.std) }),
        el("td", { text: c.levels ? c.levels.slice(0, 12).join(", ") + (c.levels.length > 12 ? ` … (${c.levels.length})` : "") : "" })))));
    const PC = 12;
    const preview = el("table", { class: "stats" },
      el("thead", {}, el("tr", {}, rows.columns.slice(0, PC).map((h) => el("th", { text: h })), rows.columns.length > PC ? el("th", { text: "…" }) : null)),
      el("tbody", {}, rows.rows.map((r) => el("tr", {}, r.slice(0, PC).map((v) => el("td", { class: "num", text: fmt(v, 3) })), r.length > PC ? el("td", { text: "…" }) : null))));
    const nNum = ds.columns.filter((c) => c.type === "numeric").length;
    box.replaceChildren(...[
      el("h3", { text: `${ds.id} "${ds.name}" — ${ds.rows} rows, ${ds.cols} columns (${nNum} numeric, ${ds.cols - nNum} categorical)` }),
      visControl("dataset", ds, (d) => { state.dsCache.set(d.id, d); return loadDatasets(); }),
      el("div", { class: "scroll" }, stats),
      ds.columns.length > MAXC ? el("p", { class: "muted", text: `… and ${ds.columns.length - MAXC} more columns` }) : null,
      el("h3", { text: "first rows" }), el("div", { class: "scroll" }, preview)].filter(Boolean));
  } catch (e) {
    box.replaceChildren(el("p", { class: "err", text: `${id}: ${e.message}` }));
  }
}

// ---- the run form: every params field, its default and what it does -------------------------
const ACTS = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "swish", "mish", "softsign", "linear"];
const PARAMS = [
  { k: "hidden", t: "list", def: "", ph: "100 · AE: 128,32,128", help: "Hidden layer widths, input side first (e.g. 256,128). An autoencoder's narrowest layer is its code. [] = no hidden layer (a linear/logistic model)." },
  { k: "activation", t: "enum", opts: ACTS, def: "relu", help: "Hidden-layer activation. relu: max(0,z); swish: z·σ(z); leaky_relu: max(0.1z, z); mish: z·tanh(softplus(z))." },
  { k: "output_activation", t: "enum", opts: ["", "softmax", ...ACTS], def: "", ph: "by task", help: "Output activation. Default by task: softmax (classification; sigmoid for multi-label), linear (regression, autoencoder)." },
  { k: "loss", t: "enum", opts: ["", "cross_entropy", "logistic", "squared"], def: "", ph: "by task", help: "Default by task: cross_entropy (needs softmax), logistic (needs sigmoid), squared (regression, autoencoder)." },
  { k: "init", t: "enum", opts: ["", "he", "xavier", "small"], def: "", ph: "by activation", help: "Initial weights: he randn·√(2/fan_in) between ReLUs, √(1/fan_in) on the first layer, xavier on a softmax/sigmoid/linear output (default for relu-like), xavier uniform ±√(6/(fan_in+fan_out)), small 1e-5·randn." },
  { k: "optimizer", t: "enum", opts: ["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"], def: "adam", help: "SGD variant: plain, heavy-ball momentum, nesterov, or per-weight step sizes (adagrad, rmsprop, adam)." },
  { k: "learning_rate", t: "lr", def: "", ph: "0.001 adam/rmsprop, else 0.01", help: "Step size α, or \"auto\": the Bottou trick, a log-scale search on ~5% of the rows." },
  { k: "momentum", t: "num", def: 0.9, min: 0, max: 0.999999, help: "β of momentum and nesterov, in [0, 1)." },
  { k: "beta1", t: "num", def: 0.9, min: 0, max: 0.999999, help: "Adam's first-moment decay, in [0, 1)." },
  { k: "beta2", t: "num", def: 0.999, min: 0, max: 0.999999, help: "Second-moment decay of adam and rmsprop, in [0, 1)." },
  { k: "epsilon", t: "num", def: 1e-8, min: 0, help: "Denominator guard of adagrad, rmsprop and adam (> 0)." },
  { k: "lr_schedule", t: "enum", opts: ["constant", "step", "inverse", "cosine"], def: "constant", help: "Decay over epoch e: step lr·decay^⌊e/step_epochs⌋, inverse lr/(1+decay·e), cosine lr·½(1+cos(πe/epochs))." },
  { k: "lr_decay", t: "num", def: 0.5, min: 0, help: "Decay factor of the step and inverse schedules (≥ 0)." },
  { k: "step_epochs", t: "int", def: 10, min: 1, max: 100000, help: "Epochs between decays of the step schedule." },
  { k: "bias_lr_multiplier", t: "num", def: 1, min: 0, help: "Biases use learning_rate × this (> 0)." },
  { k: "batch_size", t: "int", def: 128, min: 1, help: "Mini-batch size; more than the training rows = full batch." },
  { k: "epochs", t: "int", def: 10, min: 1, max: 100000, help: "Passes over the training rows (1–100000)." },
  { k: "weight_decay", t: "num", def: 0, min: 0, help: "L2 regularisation: adds weight_decay·w to the weights' gradient." },
  { k: "batch_norm", t: "bool", def: false, help: "Batch normalisation of hidden units per mini-batch (folded into the weights on export)." },
  { k: "dropout", t: "num", def: 0, min: 0, max: 0.999999, help: "Inverted dropout probability on hidden activations, in [0, 1)." },
  { k: "standardize", t: "bool", def: true, help: "Standardise X by column (and y for regression); folded into the model, so inference takes raw units." },
  { k: "noise", t: "noise", def: "none", help: "Denoising: corrupt each mini-batch's inputs, targets stay clean. gaussian: std (standardised units); mask: p of zeroing each input." },
  { k: "early_stopping", t: "early", def: "", ph: "off", help: "Patience in epochs: stop when val_loss has not improved for that long and keep the best weights (needs validation rows)." },
  { k: "seed", t: "int", def: 0, min: 0, help: "Seed of weights, shuffling, dropout and noise: same seed + data = same model." },
];

function buildParamsForm() {
  const box = $("#params");
  for (const p of PARAMS) {
    const id = "p-" + p.k;
    let input;
    if (p.t === "enum") {
      input = el("select", { id, "data-field": "params." + p.k },
        p.opts.map((o) => el("option", { value: o, text: o === "" ? `(${p.ph})` : o })));
      input.value = p.def;
    } else if (p.t === "bool") {
      input = el("input", { id, type: "checkbox", "data-field": "params." + p.k, checked: p.def });
    } else if (p.t === "noise") {
      input = el("span", { class: "row", style: "margin:0" },
        el("select", { id, "data-field": "params.noise" }, ["none", "gaussian", "mask"].map((o) => el("option", { text: o }))),
        el("input", { id: "p-noise-amt", type: "number", step: "any", min: 0, placeholder: "0.1 / 0.25", style: "width:70px", title: "gaussian std (default 0.1) or mask p (default 0.25)" }));
    } else {
      const num = p.t === "num" || p.t === "int";
      input = el("input", { id, "data-field": "params." + p.k, type: num ? "number" : "text",
        step: p.t === "int" ? 1 : num ? "any" : null, min: p.min, max: p.max,
        placeholder: p.ph || null, value: p.def === "" ? null : String(p.def) });
    }
    box.append(el("code", { text: p.k }), input,
      el("span", { class: "help", text: p.help + (p.def !== "" ? `  (default ${p.def})` : "") }));
  }
}

/* The request body from the form: only params that differ from their defaults are sent, so the
 * server's task-dependent defaults apply; the run object echoes the full set. */
function runBody() {
  const body = { dataset_id: $("#rf-dataset").value, task: $("#rf-task").value };
  if (body.task !== "autoencoder") body.target = $("#rf-target").value;
  const feats = $("#rf-features").value.trim();
  if (feats) body.features = feats.split(/[\s,]+/).filter(Boolean);
  if ($("#rf-valds").value) body.validation = { dataset_id: $("#rf-valds").value };
  else if ($("#rf-valfrac").value !== "") body.validation = { fraction: Number($("#rf-valfrac").value) };
  if ($("#rf-model").value.trim()) body.model_name = $("#rf-model").value.trim();
  if ($("#rf-exp").value.trim()) body.experiment = $("#rf-exp").value.trim();
  const params = {};
  for (const p of PARAMS) {
    const input = $("#p-" + p.k);
    if (p.t === "bool") { if (input.checked !== p.def) params[p.k] = input.checked; continue; }
    const v = input.value.trim();
    if (p.t === "noise") {
      if (v === "none") continue;
      const amt = $("#p-noise-amt").value;
      params.noise = { type: v };
      if (amt !== "") params.noise[v === "gaussian" ? "std" : "p"] = Number(amt);
      continue;
    }
    if (v === "" || v === String(p.def)) continue;
    if (p.t === "list") params.hidden = v.replace(/[[\]]/g, "").split(/[\s,]+/).filter(Boolean).map(Number);
    else if (p.t === "early") params.early_stopping = { patience: Number(v) };
    else if (p.t === "lr") params.learning_rate = v === "auto" ? "auto" : Number(v);
    else if (p.t === "num" || p.t === "int") params[p.k] = Number(v);
    else params[p.k] = v;
  }
  augmentParams(params); // web/augment.js
  if (Object.keys(params).length) body.params = params;
  return body;
}

function markFieldErrors(err) {
  for (const e of document.querySelectorAll("#run-form .bad")) e.classList.remove("bad");
  const errs = (err && err.data && err.data.errors) || [];
  for (const e of errs) {
    const f = document.querySelector(`#run-form [data-field="${CSS.escape(e.field || "")}"]`);
    if (f) f.classList.add("bad");
  }
}

async function submitRun(validateOnly) {
  const body = runBody();
  markFieldErrors(null);
  try {
    if (validateOnly) {
      await api("POST", "/api/v1/runs:validate", body);
      msg("#run-msg", "valid", "ok");
      return;
    }
    const run = await api("POST", "/api/v1/runs", body);
    msg("#run-msg", `${run.id} queued`, "ok");
    await loadRuns();
    watch(run.id);
  } catch (e) {
    markFieldErrors(e);
    msg("#run-msg", e.message, "err");
  }
}

async function onDatasetChosen() {
  const id = $("#rf-dataset").value;
  if (!id) return;
  const seq = ++state.dsSeq;
  try {
    const ds = await getDataset(id);
    if (seq !== state.dsSeq) return; // another dataset was chosen meanwhile
    augmentDataset(ds); // web/augment.js
    const names = ds.columns.map((c) => c.name);
    setOptions($("#rf-target"), names.map((n) => [n, n]), false);
    const cat = ds.columns.filter((c) => c.type === "categorical");
    const guess = names.includes("label") ? "label" : cat.length ? cat[cat.length - 1].name : names[names.length - 1];
    $("#rf-target").value = guess;
    if ($("#rf-task").value !== "autoencoder")
      $("#rf-task").value = ds.columns.find((c) => c.name === guess).type === "categorical" ? "classification" : $("#rf-task").value;
    onTaskChosen();
  } catch (e) { msg("#run-msg", e.message, "err"); }
}
function onTaskChosen() { $("#rf-target-l").hidden = $("#rf-task").value === "autoencoder"; }

// ---- runs, live view --------------------------------------------------------------------------
const FINISHED = new Set(["succeeded", "failed", "cancelled"]);

async function loadRuns() {
  const r = await api("GET", "/api/v1/runs?limit=200" + await ownerQ());
  state.runs = r.items;
  const checked = new Set(Array.from(document.querySelectorAll("#runs-table input:checked")).map((c) => c.value));
  const tb = $("#runs-table tbody");
  tb.replaceChildren(...r.items.map((run) => {
    const p = run.progress || {};
    const m = run.metrics || {};
    return el("tr", { "data-id": run.id, class: state.live && state.live.id === run.id ? "sel" : null, onclick: () => watch(run.id) },
      el("td", {}, el("input", { type: "checkbox", value: run.id, checked: checked.has(run.id), onclick: (ev) => ev.stopPropagation() })),
      el("td", {}, run.id, ownerTags({ owner: run.owner })), el("td", {}, el("span", { class: "badge " + run.status, text: run.status })),
      el("td", { text: run.task }), el("td", { text: run.model_name }),
      el("td", { class: "num", text: `${p.epoch ?? 0}/${p.epochs ?? "?"}` }),
      el("td", { class: "num", text: fmt(m.val_loss) }),
      el("td", {}, FINISHED.has(run.status)
        ? el("button", { class: "small", type: "button", title: "delete", onclick: (ev) => { ev.stopPropagation(); deleteRun(run.id); } }, "✕")
        : el("button", { class: "small", type: "button", onclick: (ev) => { ev.stopPropagation(); cancelRun(run.id); } }, "cancel")));
  }));
}

async function deleteRun(id) {
  try { await api("DELETE", "/api/v1/runs/" + enc(id)); await loadRuns(); }
  catch (e) { msg("#compare-msg", `delete ${id}: ${e.message}`, "err"); }
}
async function cancelRun(id) {
  try { await api("POST", `/api/v1/runs/${enc(id)}/cancel`); }
  catch (e) { msg("#compare-msg", `cancel ${id}: ${e.message}`, "err"); }
  await loadRuns();
}

function stopWatching() {
  const L = state.live;
  if (!L) return;
  if (L.es) L.es.close();
  clearTimeout(L.timer);
  L.stopped = true;
}

/* Second series: accuracy for classification, R² for regression. */
function scoreName(run) { return run.task === "classification" ? "val_accuracy" : run.task === "regression" ? "val_r2" : null; }

function makeChart(L) {
  const box = $("#live-chart");
  box.replaceChildren();
  if (state.chart) { state.chart.destroy(); state.chart = null; }
  const score = scoreName(L.run);
  const series = [{ label: "epoch" },
    { label: "train_loss", stroke: "#2f6fdf", width: 2, scale: "loss", points: { show: true, size: 4 } },
    { label: "val_loss", stroke: "#e0662f", width: 2, scale: "loss", points: { show: true, size: 4 } }];
  const axes = [{ label: "epoch" }, { label: "loss", scale: "loss" }];
  if (score) {
    series.push({ label: score, stroke: "#1f8a4c", width: 2, dash: [6, 4], scale: "score", points: { show: true, size: 4 } });
    axes.push({ label: score === "val_r2" ? "R²" : "accuracy", scale: "score", side: 1, grid: { show: false } });
  }
  L.keys = series.slice(1).map((s) => s.label);
  const opts = {
    width: Math.max(300, box.clientWidth || 560), height: 260, series, axes,
    scales: { x: { time: false }, loss: { auto: true }, score: { auto: true } },
    legend: { live: true },
  };
  if (typeof uPlot === "function") state.chart = new uPlot(opts, chartData(L), box);
}
function chartData(L) { return [L.xs, ...L.keys.map((k) => L.ys[k])]; }

function renderLive() {
  const L = state.live;
  const run = L.run;
  const st = $("#live-state");
  st.textContent = run.status;
  st.className = "badge " + run.status;
  $("#cancel").disabled = FINISHED.has(run.status);
  const epochs = (run.progress && run.progress.epochs) || (run.params && run.params.epochs) || 0;
  const epoch = Math.max(L.xs.length ? L.xs[L.xs.length - 1] : 0, (run.progress && run.progress.epoch) || 0);
  const frac = epochs ? Math.min(1, epoch / epochs) : 0;
  $("#live-bar").style.width = (100 * (run.status === "succeeded" ? 1 : frac)).toFixed(1) + "%";
  let eta = "";
  if (run.status === "running" && epoch > 0 && epoch < epochs) {
    const secs = L.epochSeconds.length ? L.epochSeconds.reduce((a, b) => a + b, 0) / L.epochSeconds.length
      : (Date.now() - Date.parse(run.started_at)) / 1000 / epoch;
    eta = ", ETA " + fmtDuration(secs * (epochs - epoch));
  }
  $("#live-progress").textContent = `epoch ${epoch}/${epochs}${eta}` + (run.error ? ` — ${run.error.message || run.error}` : "");
  const m = L.last || run.metrics || {};
  // per-layer metrics (grad_norm.l0, ...) are drawn by the layers tab (diag.js), not listed here
  $("#live-metrics").textContent = Object.entries(m).filter(([k]) => k !== "epoch" && k !== "step" && !k.includes("."))
    .map(([k, v]) => `${k} ${fmt(v)}`).join(" · ") + (L.mode ? `  [${L.mode === "sse" ? "live: event stream" : "polling"}]` : "");
  $("#live-chart").dataset.points = String(L.xs.length);
}

function addEpoch(d) {
  const L = state.live;
  const m = d.metrics && typeof d.metrics === "object" ? d.metrics : d;
  const ep = Number(d.epoch ?? d.step ?? m.epoch ?? (L.xs.length ? L.xs[L.xs.length - 1] + 1 : 1));
  if (L.xs.length && ep <= L.xs[L.xs.length - 1]) return; // already drawn (a replay after reconnect)
  L.xs.push(ep);
  for (const k of L.keys) L.ys[k].push(typeof m[k] === "number" ? m[k] : null);
  if (typeof m.epoch_seconds === "number") L.epochSeconds.push(m.epoch_seconds);
  L.last = m;
  L.history.push(L.xs.length);
  if (window.mlpdDiag) window.mlpdDiag.add(ep, m);
  if (state.chart) state.chart.setData(chartData(L));
  if (L.run.status === "queued") L.run.status = "running";
  renderLive();
}

async function watch(id) {
  stopWatching();
  for (const tr of document.querySelectorAll("#runs-table tbody tr")) tr.classList.toggle("sel", tr.dataset.id === id);
  $("#live-id").textContent = id;
  $("#live-id").className = "";
  let run;
  try { run = await api("GET", "/api/v1/runs/" + enc(id)); }
  catch (e) { $("#live-progress").textContent = e.message; return; }
  const L = state.live = { id, run, xs: [], ys: {}, keys: [], epochSeconds: [], history: [], mode: null, last: null };
  makeChart(L);
  for (const k of L.keys) L.ys[k] = [];
  if (window.mlpdDiag) window.mlpdDiag.reset(L);
  const svg = $("#live-svg");
  svg.href = `/api/v1/runs/${enc(id)}/plot.svg`;
  svg.hidden = false;
  renderLive();
  if ("EventSource" in window) stream(L); else poll(L);
}

/* The event stream replays the run's history, then follows it live; "done" ends it. */
function stream(L) {
  const k = apiKey();
  const url = `/api/v1/runs/${enc(L.id)}/events` + (k ? "?access_token=" + enc(k) : "");
  const es = L.es = new EventSource(url);
  let opened = false;
  es.onopen = () => { opened = true; L.mode = "sse"; renderLive(); };
  es.addEventListener("status", (ev) => {
    let d = ev.data;
    try { d = JSON.parse(ev.data); } catch (_) { /* a bare state name */ }
    const s = typeof d === "string" ? d : d.status || d.state;
    if (s) L.run.status = s;
    if (d && typeof d === "object" && d.id === L.id) Object.assign(L.run, d);
    renderLive();
    loadRuns().catch(() => {});
  });
  es.addEventListener("epoch", (ev) => { try { addEpoch(JSON.parse(ev.data)); } catch (e) { console.error(e); } });
  es.addEventListener("done", (ev) => {
    es.close();
    try { Object.assign(L.run, JSON.parse(ev.data)); } catch (_) { /* keep what we have */ }
    finished(L);
  });
  es.onerror = () => {
    // Never opened (no such route, 401, ...) or closed for good: fall back to polling.
    if (L.stopped || L.done) return;
    if (!opened || es.readyState === EventSource.CLOSED) { es.close(); L.es = null; poll(L); }
  };
}

/* Fallback without an event stream: the run object and its metrics, once a second. */
async function poll(L) {
  if (L.stopped) return;
  L.mode = "poll";
  try {
    const [run, mh] = await Promise.all([api("GET", "/api/v1/runs/" + enc(L.id)),
      api("GET", `/api/v1/runs/${enc(L.id)}/metrics?limit=1000`)]);
    if (L.stopped) return;
    L.run = run;
    const bystep = new Map();
    for (const p of mh.metrics || []) {
      if (!bystep.has(p.step)) bystep.set(p.step, { epoch: p.step });
      bystep.get(p.step)[p.name] = p.value;
    }
    for (const step of [...bystep.keys()].sort((a, b) => a - b)) addEpoch(bystep.get(step));
    renderLive();
    if (FINISHED.has(run.status)) return finished(L);
  } catch (e) {
    $("#live-progress").textContent = e.message;
  }
  L.timer = setTimeout(() => poll(L), 1000);
}

function finished(L) {
  L.done = true;
  renderLive();
  loadRuns().catch(() => {});
  if (L.run.status === "succeeded" && L.run.model) {
    loadModels().then(() => {
      $("#try-model").value = L.run.model.name;
      return chooseModel(L.run.model.name, L.run.model.version);
    }).catch((e) => msg("#try-msg", e.message, "err"));
  }
}

// ---- compare runs ---------------------------------------------------------------------------
async function compare() {
  const ids = Array.from(document.querySelectorAll("#runs-table input:checked")).map((c) => c.value);
  if (ids.length < 1) { msg("#compare-msg", "tick one or more runs", "err"); return; }
  msg("#compare-msg", "");
  try {
    const hist = await Promise.all(ids.map((id) => api("GET", `/api/v1/runs/${enc(id)}/metrics?name=val_loss&limit=1000`)));
    const steps = [...new Set(hist.flatMap((h) => h.metrics.map((p) => p.step)))].sort((a, b) => a - b);
    const data = [steps, ...hist.map((h) => {
      const m = new Map(h.metrics.map((p) => [p.step, p.value]));
      return steps.map((s) => (m.has(s) ? m.get(s) : null));
    })];
    const palette = ["#2f6fdf", "#e0662f", "#1f8a4c", "#8e44ad", "#c0392b", "#16a085", "#7f8c8d", "#d4ac0d"];
    const box = $("#compare-chart");
    box.replaceChildren();
    if (state.cmpChart) state.cmpChart.destroy();
    const runs = new Map(state.runs.map((r) => [r.id, r]));
    state.cmpChart = new uPlot({
      width: Math.max(300, box.clientWidth || 560), height: 220,
      scales: { x: { time: false } }, axes: [{ label: "epoch" }, { label: "val_loss" }],
      series: [{ label: "epoch" }, ...ids.map((id, i) => {
        const r = runs.get(id);
        const lr = r && r.params ? ` lr=${r.params.learning_rate} ${r.params.optimizer}` : "";
        return { label: id + lr, stroke: palette[i % palette.length], width: 2, spanGaps: true };
      })],
    }, data, box);
    const a = $("#compare-svg");
    a.href = `/api/v1/runs/${enc(ids[0])}/plot.svg?compare=${ids.slice(1).map(enc).join(",")}`;
    a.hidden = false;
  } catch (e) { msg("#compare-msg", e.message, "err"); }
}

// ---- models and inference -------------------------------------------------------------------
async function loadModels() {
  const r = await api("GET", "/api/v1/models?limit=1000" + await ownerQ());
  state.models = r.items;
  $("#models-table tbody").replaceChildren(...r.items.map((m) => el("tr", { onclick: () => { $("#try-model").value = m.name; chooseModel(m.name); } },
    el("td", {}, m.name, ownerTags(m)), el("td", { class: "num", text: m.latest_version }),
    el("td", { text: (m.versions || []).join(", ") }),
    el("td", { text: Object.entries(m.aliases || {}).map(([a, v]) => `${a}→${v}`).join(", ") }),
    el("td", {}, el("button", { class: "small", type: "button" }, "try")))));
  setOptions($("#try-model"), r.items.map((m) => [m.name, m.name]), true);
  if (state.tryMeta && !r.items.some((m) => m.name === state.tryMeta.name)) clearTry(); // no longer listed
  if (window.mlpdEnsemble) window.mlpdEnsemble.models(r.items);
}

/* Forgets the model being tried (another key, or a model the lists no longer hold). */
function clearTry() {
  state.tryMeta = null;
  state.chooseSeq++;
  $("#try-meta").textContent = "";
  $("#try-vis").replaceChildren();
  $("#try-out").replaceChildren();
}

async function chooseModel(name, version) {
  if (!name) return;
  const seq = ++state.chooseSeq;
  msg("#try-msg", "");
  $("#try-out").replaceChildren();
  $("#try-vis").replaceChildren();
  try {
    const detail = await api("GET", "/api/v1/models/" + enc(name));
    if (seq !== state.chooseSeq) return;
    const vis = visControl("model", detail, () => loadModels());
    if (vis) $("#try-vis").append(vis);
    const versions = (detail.model_versions || detail.versions || []).map((v) => (typeof v === "object" ? v : { version: v }));
    setOptions($("#try-version"), versions.map((v) => [v.version, `v${v.version}${v.run_id ? " (" + v.run_id + ")" : ""}`]), false);
    const ver = version || detail.latest_version || (versions.length ? versions[versions.length - 1].version : 1);
    $("#try-version").value = String(ver);
    const meta = (await api("GET", `/v1/models/${enc(name)}/versions/${enc(ver)}/metadata`)).metadata;
    const vinfo = versions.find((v) => String(v.version) === String(ver)) || {};
    if (window.mlpdEnsemble) window.mlpdEnsemble.version(name, vinfo);
    let run = null;
    if (vinfo.run_id) run = await api("GET", "/api/v1/runs/" + enc(vinfo.run_id)).catch(() => null);
    if (seq !== state.chooseSeq) return;
    state.tryMeta = { name, version: ver, ...meta, run };
    const side = Math.round(Math.sqrt(meta.input_dim));
    $("#try-meta").textContent = `${meta.task}, ${meta.input_dim} inputs → ${meta.output_dim} outputs` +
      (meta.labels && meta.labels.length ? `; classes ${meta.labels.slice(0, 10).join(", ")}${meta.labels.length > 10 ? " …" : ""}` : "") +
      (side * side === meta.input_dim && side > 1 ? ` (a ${side}×${side} image)` : "") +
      (run ? `; trained by ${run.id} on ${run.dataset_id}` : "");
    if (run && run.dataset_id && state.datasets.some((d) => d.id === run.dataset_id)) $("#try-ds").value = run.dataset_id;
    const ae = meta.task === "autoencoder";
    $("#try-noise-row").hidden = !ae;
    if (ae) {
      const nz = (run && run.params && run.params.noise) || { type: "none" };
      $("#try-noise").value = nz.type === "none" ? "gaussian" : nz.type;
      $("#try-noise-amt").value = nz.type === "mask" ? nz.p : nz.type === "gaussian" ? nz.std : 0.3;
    }
    if (window.mlpdMicroscope) window.mlpdMicroscope.show(state.tryMeta, vinfo); // web/microscope.js
  } catch (e) { if (seq === state.chooseSeq) msg("#try-msg", e.message, "err"); }
}

/* Fills the input with row i of the chosen dataset, in the model's feature order. */
async function loadRow(i) {
  const M = state.tryMeta;
  const dsid = $("#try-ds").value;
  if (!M || !dsid) { msg("#try-msg", "choose a model and a dataset", "err"); return; }
  try {
    const r = await api("GET", `/api/v1/datasets/${enc(dsid)}/rows?offset=${i}&limit=1`);
    if (!r.rows.length) throw new Error(`row ${i} is past the end`);
    const row = r.rows[0];
    const idx = new Map(r.columns.map((c, j) => [c, j]));
    const names = M.feature_names && M.feature_names.length ? M.feature_names : r.columns.slice(0, M.input_dim);
    const missing = names.filter((n) => !idx.has(n));
    if (missing.length) throw new Error(`the dataset lacks feature ${missing[0]}`);
    $("#try-input").value = names.map((n) => row[idx.get(n)]).join(", ");
    const rest = r.columns.filter((c) => !names.includes(c));
    $("#try-truth").textContent = rest.length ? rest.map((c) => `${c} = ${row[idx.get(c)]}`).join(", ") : "";
    $("#try-row").value = i;
    msg("#try-msg", "");
  } catch (e) { msg("#try-msg", e.message, "err"); }
}
async function randomRow() {
  const ds = state.datasets.find((d) => d.id === $("#try-ds").value);
  if (ds) await loadRow(Math.floor(Math.random() * ds.rows));
}

function gauss() { // Box–Muller
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}
/* The run's noise, added here in the browser: gaussian std is in standardised units when the run
 * standardised its inputs (so scaled by each column's std), and mask sets an input to its
 * column's mean (0 in standardised units), or to 0 without standardisation. */
async function addNoise(x) {
  const type = $("#try-noise").value;
  const amt = Number($("#try-noise-amt").value) || 0;
  if (type === "none" || amt <= 0) return x.slice();
  const M = state.tryMeta;
  const std = M.run ? M.run.params.standardize : false;
  let stats = null;
  if (std && M.run) {
    const ds = await getDataset(M.run.dataset_id).catch(() => null);
    if (ds) {
      const by = new Map(ds.columns.map((c) => [c.name, c]));
      stats = (M.feature_names || []).map((n) => by.get(n) || {});
    }
  }
  return x.map((v, j) => {
    const s = stats && stats[j] ? stats[j] : null;
    if (type === "mask") return Math.random() < amt ? (s && typeof s.mean === "number" ? s.mean : 0) : v;
    return v + amt * (s && typeof s.std === "number" && s.std > 0 ? s.std : 1) * gauss();
  });
}

function drawImage(values, lo, hi, title) {
  const side = Math.round(Math.sqrt(values.length));
  const c = el("canvas", { class: "digit", width: side, height: side });
  const ctx = c.getContext("2d");
  const img = ctx.createImageData(side, side);
  const span = hi > lo ? hi - lo : 1;
  for (let i = 0; i < side * side; i++) {
    const g = Math.max(0, Math.min(255, Math.round(255 * (values[i] - lo) / span)));
    img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = g;
    img.data[4 * i + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  return el("figure", {}, c, el("figcaption", { text: title }));
}

async function predict() {
  const M = state.tryMeta;
  const out = $("#try-out");
  if (!M) { msg("#try-msg", "choose a model", "err"); return; }
  const x = $("#try-input").value.trim().split(/[\s,;]+/).filter(Boolean).map(Number);
  if (x.length !== M.input_dim) { msg("#try-msg", `the model takes ${M.input_dim} values; the input has ${x.length}`, "err"); return; }
  if (x.some((v) => !isFinite(v))) { msg("#try-msg", "the input has a value that is not a number", "err"); return; }
  msg("#try-msg", "");
  const base = `/v1/models/${enc(M.name)}/versions/${enc(M.version)}`;
  const side = Math.round(Math.sqrt(x.length));
  const square = side > 1 && side * side === x.length;
  try {
    if (M.task === "classification") {
      const r = await api("POST", base + ":classify", { instances: [x] });
      const res = r.results[0];
      out.replaceChildren(el("div", { class: "img-row" },
        square ? drawImage(x, Math.min(...x), Math.max(...x), "input") : null,
        el("div", {}, el("div", { class: "big", id: "try-class", text: res[0][0] }),
          el("table", { class: "probs" }, res.slice(0, 20).map(([label, p], i) => el("tr", { class: i === 0 ? "top" : null },
            el("td", { text: label }), el("td", { class: "num", text: p.toFixed(4) }),
            el("td", { style: "width:160px" }, el("div", { class: "bar", style: `width:${(100 * p).toFixed(1)}%` }))))))));
    } else if (M.task === "regression") {
      const r = await api("POST", base + ":predict", { instances: [x] });
      const p = r.predictions[0];
      out.replaceChildren(el("div", { class: "big", id: "try-class", text: Array.isArray(p) ? p.map((v) => fmt(v)).join(", ") : fmt(p) }));
    } else {
      const noisy = await addNoise(x);
      const r = await api("POST", base + ":reconstruct", { instances: [noisy] });
      const rec = r.reconstructions[0];
      const lo = Math.min(...x), hi = Math.max(...x);
      if (square) {
        out.replaceChildren(el("div", { class: "img-row" }, drawImage(x, lo, hi, "input"),
          drawImage(noisy, lo, hi, "noisy input"), drawImage(rec, lo, hi, "reconstruction")),
          el("p", { id: "try-class", class: "muted", text: `reconstruction error (MSE per feature) ${fmt(r.errors[0])}` }));
      } else {
        out.replaceChildren(el("table", { class: "stats" },
          el("thead", {}, el("tr", {}, ["", ...x.map((_, j) => (M.feature_names || [])[j] || j)].map((h) => el("th", { text: h })))),
          el("tbody", {}, [["input", x], ["noisy input", noisy], ["reconstruction", rec]].map(([n, v]) =>
            el("tr", {}, el("td", { text: n }), v.map((u) => el("td", { class: "num", text: fmt(u, 3) })))))),
          el("p", { id: "try-class", class: "muted", text: `reconstruction error (MSE per feature) ${fmt(r.errors[0])}` }));
      }
    }
  } catch (e) { msg("#try-msg", e.message, "err"); }
}

// ---- start ----------------------------------------------------------------------------------
async function refreshAll() {
  const results = await Promise.allSettled([loadDatasets(), loadRuns(), loadModels(),
    window.mlpdQuotas ? window.mlpdQuotas.refresh() : null]);
  const bad = results.find((r) => r.status === "rejected");
  if (bad) msg("#upload-msg", bad.reason.message, "err");
  else if (apiKey()) keyMsg("key accepted");
  if (!$("#rf-target").options.length) await onDatasetChosen();
  if ($("#try-model").value && !state.tryMeta) await chooseModel($("#try-model").value);
}

async function health() {
  const h = $("#health");
  try {
    const r = await fetch("/healthz");
    h.textContent = r.ok ? "serving" : "shutting down";
    h.className = "badge " + (r.ok ? "ok" : "down");
  } catch (_) { h.textContent = "unreachable"; h.className = "badge down"; }
}

function init() {
  buildParamsForm();
  augmentInit(); // web/augment.js
  $("#key").value = apiKey();
  $("#key-save").addEventListener("click", () => {
    const k = $("#key").value.trim();
    if (k) sessionStorage.setItem(KEY_STORE, k); else sessionStorage.removeItem(KEY_STORE);
    keyMsg("");
    // What the last key was shown (and its controls) is not the new key's to see.
    clearTry();
    state.dsCache.clear();
    $("#ds-detail").replaceChildren();
    refreshAll();
  });
  $("#key").addEventListener("keydown", (ev) => { if (ev.key === "Enter") $("#key-save").click(); });
  const drop = $("#drop");
  for (const t of ["dragenter", "dragover"]) drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.add("over"); });
  for (const t of ["dragleave", "drop"]) drop.addEventListener(t, (ev) => { ev.preventDefault(); drop.classList.remove("over"); });
  drop.addEventListener("drop", (ev) => upload(ev.dataTransfer.files));
  $("#file").addEventListener("change", (ev) => upload(ev.target.files));
  $("#rf-dataset").addEventListener("change", onDatasetChosen);
  $("#rf-task").addEventListener("change", onTaskChosen);
  $("#run-form").addEventListener("submit", (ev) => { ev.preventDefault(); submitRun(false); });
  $("#validate").addEventListener("click", () => submitRun(true));
  $("#cancel").addEventListener("click", () => state.live && cancelRun(state.live.id));
  $("#compare").addEventListener("click", compare);
  $("#try-model").addEventListener("change", (ev) => chooseModel(ev.target.value));
  $("#try-version").addEventListener("change", (ev) => chooseModel($("#try-model").value, ev.target.value));
  $("#try-load").addEventListener("click", () => loadRow(Number($("#try-row").value) || 0));
  $("#try-random").addEventListener("click", randomRow);
  $("#predict").addEventListener("click", predict);
  window.addEventListener("resize", () => {
    const w = (sel) => Math.max(300, $(sel).clientWidth);
    if (state.chart) state.chart.setSize({ width: w("#live-chart"), height: 260 });
    if (state.cmpChart) state.cmpChart.setSize({ width: w("#compare-chart"), height: 220 });
  });
  health();
  refreshAll().then(() => {
    const active = state.runs.find((r) => r.status === "running") || state.runs.find((r) => r.status === "queued");
    if (active) watch(active.id);
  });
  // Lists stay fresh without a reload (runs started elsewhere, finished runs' models).
  setInterval(() => { if (!document.hidden) { loadRuns().catch(() => {}); health(); } }, 5000);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
else init();
