"use strict";
/* diag.js — the live run view's "layers" tab: vanishing gradients made visible. A heat strip of
 * the per-layer gradient norm (grad_norm.l<l>; one row per dense layer, l0 the first, one column
 * per epoch, colour on a log scale shared by all cells), and beside each row the layer's latest
 * dead fraction (ReLU family: units never active on the epoch's last 1,000 rows) or saturated
 * fraction (sigmoid, tanh: unit values with |z| > 4). Fed by the same SSE epoch events (or polled
 * metrics) as the learning curve: app.js calls mlpdDiag.reset(live) when it starts watching a run
 * and mlpdDiag.add(epoch, metrics) for each epoch. Cells carry data-layer, data-epoch and
 * data-value (the browser test reads them); a cell whose gradient is exactly 0 (no logarithm) is
 * grey. Shows the last MAX_EPOCHS epochs. */
(function () {
  const FAM = /^(grad_norm|update_ratio|dead|saturated)\.l(\d+)$/;
  const MAX_EPOCHS = 200;
  const NS = "http://www.w3.org/2000/svg";
  const D = window.mlpdDiag = {
    runId: null, epochs: [], grad: [], ratio: [], units: [], layers: 0, tab: "curves",
    reset, add, show, render,
  };

  function svgEl(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  /* The tab bar above the curve and the layers panel below it, made once. */
  function ui() {
    if (document.getElementById("live-layers")) return;
    const chart = document.getElementById("live-chart");
    if (!chart) return;
    const style = document.createElement("style");
    style.textContent = ".live-tabs{margin-top:6px}.live-tabs button{border:1px solid #bbb;background:#fff;" +
      "padding:2px 12px;cursor:pointer}.live-tabs button.sel{background:#e8eefc;font-weight:bold}" +
      "#live-layers{margin-top:6px}#live-layers .note{color:#666}";
    document.head.appendChild(style);
    const tabs = document.createElement("div");
    tabs.className = "live-tabs";
    tabs.setAttribute("role", "tablist");
    for (const [id, label] of [["tab-curves", "curves"], ["tab-layers", "layers"]]) {
      const b = document.createElement("button");
      b.type = "button";
      b.id = id;
      b.textContent = label;
      b.setAttribute("role", "tab");
      b.addEventListener("click", () => show(label));
      tabs.appendChild(b);
    }
    chart.before(tabs);
    const panel = document.createElement("div");
    panel.id = "live-layers";
    panel.hidden = true;
    chart.after(panel);
    const link = document.createElement("a");
    link.id = "live-layers-svg";
    link.target = "_blank";
    link.hidden = true;
    link.textContent = "layers.svg";
    const plot = document.getElementById("live-svg");
    if (plot) plot.after(" ", link);
    show(D.tab);
  }

  function show(tab) {
    ui();
    D.tab = tab === "layers" ? "layers" : "curves";
    const layers = D.tab === "layers";
    document.getElementById("live-chart").hidden = layers;
    document.getElementById("live-layers").hidden = !layers;
    document.getElementById("tab-curves").classList.toggle("sel", !layers);
    document.getElementById("tab-layers").classList.toggle("sel", layers);
    document.getElementById("tab-layers").setAttribute("aria-selected", String(layers));
    document.getElementById("tab-curves").setAttribute("aria-selected", String(!layers));
    if (layers) render();
  }

  function reset(live) {
    ui();
    D.runId = live && live.id;
    D.epochs = [];
    D.grad = [];
    D.ratio = [];
    D.units = [];
    D.layers = 0;
    const link = document.getElementById("live-layers-svg");
    if (link && D.runId) {
      link.href = `/api/v1/runs/${encodeURIComponent(D.runId)}/plot.svg?diagnostics=true`;
      link.hidden = false;
    }
    render();
  }

  /* One epoch's metrics (the fixed ones are ignored here). */
  function add(epoch, m) {
    if (D.epochs.length && epoch <= D.epochs[D.epochs.length - 1]) return;
    const i = D.epochs.push(epoch) - 1;
    for (const [k, v] of Object.entries(m || {})) {
      const f = FAM.exec(k);
      if (!f || typeof v !== "number") continue;
      const l = Number(f[2]);
      if (l + 1 > D.layers) D.layers = l + 1;
      if (f[1] === "grad_norm") (D.grad[l] = D.grad[l] || [])[i] = v;
      else if (f[1] === "update_ratio") (D.ratio[l] = D.ratio[l] || [])[i] = v;
      else (D.units[l] = D.units[l] || [])[i] = { kind: f[1], v };
    }
    if (D.tab === "layers") render();
  }

  /* Viridis-like ramp, t in [0, 1]: dark blue (small gradients) to yellow (large). */
  const STOPS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  function color(t) {
    const x = Math.max(0, Math.min(1, t)) * (STOPS.length - 1);
    const i = Math.min(STOPS.length - 2, Math.floor(x)), f = x - i;
    const c = STOPS[i].map((a, k) => Math.round(a + f * (STOPS[i + 1][k] - a)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }
  function sci(e) { return "1e" + e; }

  function render() {
    const panel = document.getElementById("live-layers");
    if (!panel) return;
    panel.replaceChildren();
    const first = Math.max(0, D.epochs.length - MAX_EPOCHS);
    const eps = D.epochs.slice(first);
    if (!D.layers || !eps.length) {
      const p = document.createElement("p");
      p.className = "note";
      p.textContent = D.epochs.length ? "this run has no per-layer diagnostics" : "no epoch yet";
      panel.appendChild(p);
      return;
    }
    let lo = Infinity, hi = -Infinity;
    for (let l = 0; l < D.layers; l++)
      for (let i = first; i < D.epochs.length; i++) {
        const g = (D.grad[l] || [])[i];
        if (g > 0) { const e = Math.log10(g); lo = Math.min(lo, e); hi = Math.max(hi, e); }
      }
    if (!(lo <= hi)) { lo = -1; hi = 0; }
    lo = Math.floor(lo);
    hi = Math.max(lo + 1, Math.ceil(hi));
    const CW = Math.max(3, Math.min(24, Math.floor(420 / eps.length))), CH = 16, LX = 34;
    const W = Math.max(LX + CW * eps.length + 120, LX + 160 + 330), H = CH * D.layers + 44;
    const svg = svgEl("svg", { id: "layers-heat", width: W, height: H, viewBox: `0 0 ${W} ${H}`,
      "font-size": 11, "font-family": "Helvetica, Arial, sans-serif",
      "data-lo": lo, "data-hi": hi });
    for (let l = 0; l < D.layers; l++) {
      const y = l * CH;
      svg.appendChild(svgEl("text", { x: LX - 4, y: y + CH - 4, "text-anchor": "end" }, "l" + l));
      eps.forEach((ep, j) => {
        const g = (D.grad[l] || [])[first + j];
        if (typeof g !== "number") return;
        const r = svgEl("rect", { class: "cell", x: LX + j * CW, y, width: CW, height: CH - 1,
          fill: g > 0 ? color((Math.log10(g) - lo) / (hi - lo)) : "#bbb",
          "data-layer": l, "data-epoch": ep, "data-value": g });
        const ratio = (D.ratio[l] || [])[first + j];
        r.appendChild(svgEl("title", {}, `layer ${l}, epoch ${ep}: grad_norm ${g.toPrecision(3)}` +
          (typeof ratio === "number" ? `, update_ratio ${ratio.toPrecision(3)}` : "")));
        svg.appendChild(r);
      });
      const units = (D.units[l] || []).filter(Boolean);
      const u = units[units.length - 1];
      if (u) {
        const label = `${u.kind} ${(100 * u.v).toFixed(u.v > 0 && u.v < 0.01 ? 2 : 0)}%`;
        svg.appendChild(svgEl("text", { class: "frac", x: LX + CW * eps.length + 8, y: y + CH - 4,
          "data-layer": l, "data-kind": u.kind, "data-value": u.v,
          fill: u.v >= 0.5 ? "#c0392b" : "#333" }, label));
      }
    }
    /* the colour legend under the strip */
    const ly = CH * D.layers + 10, lw = 160;
    const grad = svgEl("linearGradient", { id: "layers-ramp" });
    STOPS.forEach((c, k) => grad.appendChild(svgEl("stop", { offset: k / (STOPS.length - 1), "stop-color": `rgb(${c})` })));
    const defs = svgEl("defs");
    defs.appendChild(grad);
    svg.appendChild(defs);
    svg.appendChild(svgEl("text", { x: LX - 4, y: ly + 10, "text-anchor": "end" }, sci(lo)));
    svg.appendChild(svgEl("rect", { id: "layers-legend", x: LX, y: ly, width: lw, height: 12, fill: "url(#layers-ramp)" }));
    svg.appendChild(svgEl("text", { x: LX + lw + 4, y: ly + 10 }, sci(hi) + "  gradient norm (log scale), epoch →"));
    panel.appendChild(svg);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ui);
  else ui();
})();
