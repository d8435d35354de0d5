"use strict";
/* sweeps.js — the dashboard's Sweeps panel: launch a sweep from the run form's values plus a grid
 * (POST /api/v1/sweeps), list sweeps, show one sweep's runs best first with the server's overlay
 * plot (GET /api/v1/sweeps/{id}/plot.svg, fetched with the API key and shown as an image), and
 * promote its best run's version to an alias (POST /api/v1/sweeps/{id}:promote).
 *
 * Uses app.js's helpers (api, el, msg, fmt, runBody, loadRuns, loadModels, enc): app.js loads
 * first (both scripts are deferred, in document order). The panel builds its own section, after
 * the runs panel, so index.html carries only the script tag. */

const sweeps = {
  selected: null, // the shown sweep's id
  shownStatus: null, // its status when last shown
  plotUrl: null,  // object URL of the shown plot
};
window.mlpdSweeps = sweeps; // for the browser test

function sweepsPanel() {
  const sec = el("section", { id: "sweeps-sec" },
    el("h2", {}, "Sweeps"),
    el("p", { class: "muted" }, "A grid over params of the run form above: every combination is queued as a run."),
    el("label", {}, "grid ", el("input", { id: "sw-grid", size: "48",
      placeholder: '{"learning_rate": [0.3, 0.1, 0.03], "optimizer": ["sgd", "adam"]}' })),
    el("label", {}, " halving rung ", el("input", { id: "sw-rung", type: "number", min: "1", size: "4",
      placeholder: "off", title: "successive halving: every N epochs keep the better half" })),
    el("div", { class: "actions" },
      el("button", { id: "sw-launch", type: "button", class: "primary" }, "Launch sweep"),
      el("span", { id: "sw-msg", class: "msg" })),
    el("table", { id: "sweeps-table", class: "list" },
      el("thead", {}, el("tr", {}, ...["id", "status", "runs", "varying", "best"].map((h) => el("th", {}, h)))),
      el("tbody")),
    el("div", { id: "sw-detail", hidden: "" },
      el("h3", { id: "sw-title" }),
      el("table", { id: "sw-runs", class: "list" },
        el("thead", {}, el("tr", {}, ...["run", "params", "status", "best val_loss", "best val_accuracy"].map((h) => el("th", {}, h)))),
        el("tbody")),
      el("img", { id: "sw-plot", alt: "the sweep's validation curves" }),
      el("div", { class: "actions" },
        el("label", {}, "alias ", el("input", { id: "sw-alias", value: "best", size: "10" })),
        el("button", { id: "sw-promote", type: "button" }, "Promote best run"),
        el("button", { id: "sw-delete", type: "button" }, "Cancel and delete"),
        el("span", { id: "sw-promote-msg", class: "msg" }))));
  const runs = document.querySelector("#runs-sec");
  runs.parentNode.insertBefore(sec, runs.nextSibling);
}

async function launchSweep() {
  let grid;
  try {
    grid = JSON.parse(document.querySelector("#sw-grid").value);
  } catch (e) {
    msg("#sw-msg", "grid: not JSON: " + e.message, "err");
    return;
  }
  const body = runBody();
  body.grid = grid;
  const rung = document.querySelector("#sw-rung").value;
  if (rung) body.early_stopping = { rule: "successive_halving", rung: Number(rung) };
  try {
    const sw = await api("POST", "/api/v1/sweeps", body);
    msg("#sw-msg", `${sw.id}: ${sw.runs.length} runs queued`, "ok");
    await Promise.allSettled([loadSweeps(), loadRuns()]);
    await showSweep(sw.id);
  } catch (e) {
    msg("#sw-msg", e.message, "err");
  }
}

async function loadSweeps() {
  const data = await api("GET", "/api/v1/sweeps?limit=50" + await ownerQ()); // web/users.js
  const tb = document.querySelector("#sweeps-table tbody");
  tb.replaceChildren(...data.items.map((s) => {
    const done = s.counts.succeeded + s.counts.failed + s.counts.cancelled;
    const best = s.runs.length ? s.runs[0].best_val_loss : null;
    const tr = el("tr", { "data-id": s.id, class: s.id === sweeps.selected ? "sel" : "" },
      el("td", {}, s.id), el("td", {}, s.status), el("td", {}, `${done}/${s.runs.length}`),
      el("td", {}, s.varying.join(", ")), el("td", {}, best === null ? "—" : fmt(best)));
    tr.addEventListener("click", () => showSweep(s.id));
    return tr;
  }));
  // The shown sweep follows its runs until it has been shown finished.
  const cur = data.items.find((s) => s.id === sweeps.selected);
  if (cur && (cur.status !== "finished" || sweeps.shownStatus !== "finished"))
    showSweep(sweeps.selected).catch(() => {});
}

function paramsText(p) {
  return Object.entries(p).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(", ");
}

async function showSweep(id) {
  const sw = await api("GET", `/api/v1/sweeps/${enc(id)}`);
  sweeps.selected = id;
  sweeps.shownStatus = sw.status;
  for (const tr of document.querySelectorAll("#sweeps-table tbody tr"))
    tr.classList.toggle("sel", tr.dataset.id === id);
  document.querySelector("#sw-detail").hidden = false;
  document.querySelector("#sw-title").textContent =
    `${sw.id} — ${sw.status}, ${sw.search} over ${sw.varying.join(", ")}` +
    (sw.early_stopping ? `, halving every ${sw.early_stopping.rung} epochs` : "");
  document.querySelector("#sw-runs tbody").replaceChildren(...sw.runs.map((r) => el("tr",
    { "data-run": r.run_id, class: r.run_id === sw.best_run_id ? "sel" : "", title: r.error || "" },
    el("td", {}, r.run_id), el("td", {}, paramsText(r.params)),
    el("td", {}, r.status + (r.pruned ? " (pruned)" : "")),
    el("td", {}, r.best_val_loss === null ? "—" : fmt(r.best_val_loss)),
    el("td", {}, r.best_val_accuracy === null ? "—" : fmt(r.best_val_accuracy)))));
  // The plot is the server's SVG; fetched with the key (an <img src> could not send it).
  const svg = await api("GET", `/api/v1/sweeps/${enc(id)}/plot.svg`);
  if (sweeps.plotUrl) URL.revokeObjectURL(sweeps.plotUrl);
  sweeps.plotUrl = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
  document.querySelector("#sw-plot").src = sweeps.plotUrl;
  document.querySelector("#sw-plot").dataset.sweep = id;
  document.querySelector("#sw-promote").disabled = !sw.best_run_id;
}

async function promoteSweep() {
  if (!sweeps.selected) return;
  const alias = document.querySelector("#sw-alias").value.trim();
  try {
    const r = await api("POST", `/api/v1/sweeps/${enc(sweeps.selected)}:promote`, { alias });
    msg("#sw-promote-msg", `${r.model_name}:${r.alias} -> version ${r.version} (${r.run_id})`, "ok");
    await loadModels();
  } catch (e) {
    msg("#sw-promote-msg", e.message, "err");
  }
}

async function deleteSweep() {
  if (!sweeps.selected) return;
  try {
    await api("DELETE", `/api/v1/sweeps/${enc(sweeps.selected)}`);
    sweeps.selected = null;
    document.querySelector("#sw-detail").hidden = true;
    await Promise.allSettled([loadSweeps(), loadRuns()]);
  } catch (e) {
    msg("#sw-promote-msg", e.message, "err");
  }
}

function initSweeps() {
  sweepsPanel();
  document.querySelector("#sw-launch").addEventListener("click", launchSweep);
  document.querySelector("#sw-promote").addEventListener("click", promoteSweep);
  document.querySelector("#sw-delete").addEventListener("click", deleteSweep);
  loadSweeps().catch(() => {});
  setInterval(() => { if (!document.hidden) loadSweeps().catch(() => {}); }, 3000);
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initSweeps);
else initSweeps();
