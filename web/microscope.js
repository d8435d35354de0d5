"use strict";
/* microscope.js — the autoencoder microscope in the dashboard: when the model chosen under "Try
 * a model" is an autoencoder, a section below it states the version's compression (d / code,
 * its reconstruction error beside PCA's at the code's size), draws the 2-D map of a dataset's
 * codes coloured by label (GET .../codes, a uPlot scatter: one series per label) and a gallery
 * of the rows it reconstructs worst (GET .../outliers), as images when the data are images: the
 * dataset's `image` shape when it declares one, else a square feature count whose values look
 * like pixels (all within [0, 1] or [0, 255]); otherwise as a table.
 *
 * Uses app.js's helpers ($, el, api, enc, msg, fmt, setOptions, getDataset, state); app.js calls
 * mlpdMicroscope.show(meta, versionObject) from chooseModel. */
const mlpdMicroscope = (() => {
  const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#ad494a"];
  let chart = null;
  let current = null; // {name, version, input_dim, dataset_id}

  function section() {
    let s = $("#ms-sec");
    if (s) return s;
    s = el("section", { id: "ms-sec", hidden: true },
      el("h2", { text: "Autoencoder microscope" }),
      el("p", { id: "ms-compression", class: "muted" }),
      el("div", { class: "row" },
        el("label", {}, "dataset ", el("select", { id: "ms-ds" })),
        el("label", {}, "rows ", el("input", { id: "ms-limit", type: "number", min: 1, max: 100000, value: 2000, size: 6 })),
        el("button", { id: "ms-map-btn", type: "button", onclick: () => drawMap() }, "Map codes"),
        el("button", { id: "ms-outliers-btn", type: "button", onclick: () => drawOutliers() }, "Worst reconstructed")),
      el("p", { id: "ms-msg", class: "msg" }),
      el("p", { id: "ms-map-note", class: "muted" }),
      el("div", { id: "ms-map", class: "chart", "data-points": "0" }),
      el("div", { id: "ms-gallery", "data-rows": "0" }));
    $("#try-sec").after(s);
    return s;
  }

  function show(meta, vinfo) {
    const s = section();
    if (!meta || meta.task !== "autoencoder") { s.hidden = true; current = null; return; }
    s.hidden = false;
    current = { name: meta.name, version: meta.version, input_dim: meta.input_dim };
    const c = vinfo && vinfo.compression;
    $("#ms-compression").textContent = c
      ? `compression ${fmt(c.ratio, 1)}× (${c.input_dim} → ${c.code_dim}); reconstruction error (MSE per value) ` +
        `${fmt(c.reconstruction_mse)} on ${c.rows} ${c.on} rows; PCA with ${c.code_dim} components: ${fmt(c.pca_mse)}`
      : "compression not measured for this version (imported, or published before it was)";
    setOptions($("#ms-ds"), state.datasets.map((d) => [d.id, `${d.id} ${d.name}`]), true);
    const runDs = meta.run && meta.run.dataset_id;
    if (runDs && state.datasets.some((d) => d.id === runDs)) $("#ms-ds").value = runDs;
    $("#ms-map").replaceChildren();
    $("#ms-map").dataset.points = "0";
    $("#ms-gallery").replaceChildren();
    $("#ms-gallery").dataset.rows = "0";
    $("#ms-map-note").textContent = "";
    msg("#ms-msg", "");
  }

  function base() { return `/api/v1/models/${enc(current.name)}/versions/${enc(current.version)}`; }

  async function drawMap() {
    if (!current) return;
    const ds = $("#ms-ds").value;
    const limit = Number($("#ms-limit").value) || 2000;
    msg("#ms-msg", "encoding…");
    try {
      const r = await api("GET", `${base()}/codes?dataset_id=${enc(ds)}&limit=${limit}`);
      const pts = r.items.filter((it) => it.map[0] !== null && it.map[1] !== null)
        .map((it) => ({ x: it.map[0], y: it.map[1], label: it.label === null ? "—" : it.label }))
        .sort((a, b) => a.x - b.x);
      const labels = [...new Set(pts.map((p) => p.label))].sort().slice(0, palette.length);
      const xs = pts.map((p) => p.x);
      const ys = labels.map((l) => pts.map((p) => (p.label === l ? p.y : null)));
      const box = $("#ms-map");
      box.replaceChildren();
      if (chart) chart.destroy();
      chart = null;
      const ax = r.projection === "pca" ? ["PC 1 of the codes", "PC 2"] : ["code 1", r.code_dim > 1 ? "code 2" : ""];
      if (typeof uPlot === "function") {
        chart = new uPlot({
          width: Math.max(300, box.clientWidth || 560), height: 360,
          scales: { x: { time: false } }, axes: [{ label: ax[0] }, { label: ax[1] }],
          cursor: { drag: { x: true, y: true } },
          series: [{ label: "x" }, ...labels.map((l, i) => ({
            label: String(l), stroke: palette[i], fill: palette[i], paths: () => null,
            points: { show: true, size: 4, stroke: palette[i], fill: palette[i] },
          }))],
        }, [xs, ...ys], box);
      }
      box.dataset.points = String(pts.length);
      box.dataset.labels = String(labels.length);
      $("#ms-map-note").textContent = `${pts.length} rows of ${r.dataset_id}; ` +
        (r.projection === "pca" ? `the ${r.code_dim}-D codes projected on their first two principal components`
          : `the ${r.code_dim}-D code itself`) + (r.label_column ? `; colour: ${r.label_column}` : "");
      msg("#ms-msg", "");
    } catch (e) { msg("#ms-msg", e.message, "err"); }
  }

  /* The image shape of rows of width d: the dataset's declared `image`, else a square whose
   * values look like pixels; null when they are not images. */
  function imageShape(dsObj, d, items) {
    const im = dsObj && dsObj.image;
    if (im && im.height * im.width * (im.channels || 1) === d) return { h: im.height, w: im.width, c: im.channels || 1 };
    const side = Math.round(Math.sqrt(d));
    if (side < 2 || side * side !== d) return null;
    let lo = Infinity, hi = -Infinity;
    for (const it of items) for (const v of it.input) { if (v < lo) lo = v; if (v > hi) hi = v; }
    return lo >= 0 && (hi <= 1 || hi <= 255) ? { h: side, w: side, c: 1 } : null;
  }

  function drawRow(values, shape, lo, hi, title) {
    const c = el("canvas", { class: "digit", width: shape.w, height: shape.h, style: "width:70px;height:70px" });
    const ctx = c.getContext("2d");
    const img = ctx.createImageData(shape.w, shape.h);
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < shape.w * shape.h; i++) {
      for (let k = 0; k < 3; k++) {
        const v = values[i * shape.c + (shape.c === 3 ? k : 0)];
        img.data[4 * i + k] = Math.max(0, Math.min(255, Math.round(255 * (v - lo) / span)));
      }
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    return el("figure", {}, c, el("figcaption", { text: title }));
  }

  async function drawOutliers() {
    if (!current) return;
    const ds = $("#ms-ds").value;
    msg("#ms-msg", "scoring every row…");
    try {
      const [r, dsObj] = await Promise.all([api("GET", `${base()}/outliers?dataset_id=${enc(ds)}&top=12`),
        getDataset(ds).catch(() => null)]);
      const g = $("#ms-gallery");
      const shape = imageShape(dsObj, current.input_dim, r.items);
      const head = el("p", { class: "muted", text: `the ${r.items.length} worst of ${r.rows_scored} rows ` +
        `(mean error ${fmt(r.mean_error)}): input above, reconstruction below` });
      if (shape) {
        let lo = 0, hi = 1;
        for (const it of r.items) for (const v of it.input) if (v > hi) hi = 255;
        g.replaceChildren(head, el("div", { class: "img-row ms-gallery" }, r.items.map((it) =>
          el("div", { class: "ms-pair" }, drawRow(it.input, shape, lo, hi, `row ${it.row}${it.label !== null ? " · " + it.label : ""}`),
            drawRow(it.reconstruction, shape, lo, hi, `error ${fmt(it.error)}`)))));
      } else {
        g.replaceChildren(head, el("table", { class: "list" },
          el("thead", {}, el("tr", {}, ["row", "label", "error"].map((h) => el("th", { text: h })))),
          el("tbody", {}, r.items.map((it) => el("tr", {}, el("td", { class: "num", text: it.row }),
            el("td", { text: it.label === null ? "—" : it.label }), el("td", { class: "num", text: fmt(it.error) }))))));
      }
      g.dataset.rows = String(r.items.length);
      g.dataset.images = shape ? "1" : "0";
      msg("#ms-msg", "");
    } catch (e) { msg("#ms-msg", e.message, "err"); }
  }

  return { show, drawMap, drawOutliers };
})();
window.mlpdMicroscope = mlpdMicroscope;
