"use strict";
/* ensemble.js — ensembles in the dashboard: a "make an ensemble" form under Models (tick two or
 * more published versions, name the new model, POST /api/v1/models/{name}/versions
 * {"ensemble": [...]}), and, in "Try a model", the members of a chosen ensemble version (the
 * version object's "ensemble" list). Uses app.js's helpers (api, el, msg, $, loadModels,
 * chooseModel); app.js calls window.mlpdEnsemble.models after each model list and
 * window.mlpdEnsemble.version after choosing a version. */
(() => {
  const MAX = 16; /* members; the server says the same (ENS_MAX_MEMBERS) */

  /* The form, built once at the end of the Models section. */
  function form() {
    let f = $("#ens-form");
    if (f) return f;
    f = el("form", { id: "ens-form", class: "ens" },
      el("h3", { text: "Make an ensemble" }),
      el("p", { class: "muted", text: "Tick 2 to " + MAX + " versions of one task with the same features and labels: the new version serves the mean of their outputs (probabilities or predictions) and keeps copies of their weights." }),
      el("div", { id: "ens-pick", class: "ens-pick" }),
      el("div", { class: "actions" },
        el("label", {}, "name ", el("input", { id: "ens-name", size: "16", placeholder: "ensemble" })),
        el("button", { id: "ens-make", type: "submit" }, "Make ensemble"),
        el("span", { id: "ens-msg", class: "msg" })));
    f.querySelector("#ens-pick").style.cssText = "display:flex;flex-wrap:wrap;gap:.25em 1.2em;margin:.4em 0";
    f.addEventListener("submit", (ev) => { ev.preventDefault(); make(); });
    $("#models-sec").append(f);
    return f;
  }

  /* One checkbox per published version; ticks survive a refresh. */
  function models(items) {
    form();
    const pick = $("#ens-pick");
    const ticked = new Set([...pick.querySelectorAll("input:checked")].map((c) => c.value));
    const boxes = [];
    for (const m of items)
      for (const v of m.versions || []) {
        const val = `${m.name}@${v}`;
        boxes.push(el("label", { class: "ens-opt" },
          el("input", { type: "checkbox", value: val, checked: ticked.has(val) }), ` ${m.name} v${v}`));
      }
    pick.replaceChildren(...(boxes.length ? boxes : [el("span", { class: "muted", text: "no published versions yet" })]));
  }

  async function make() {
    const members = [...$("#ens-pick").querySelectorAll("input:checked")].map((c) => {
      const at = c.value.lastIndexOf("@");
      return { model: c.value.slice(0, at), version: Number(c.value.slice(at + 1)) };
    });
    const name = $("#ens-name").value.trim();
    if (!name) { msg("#ens-msg", "name the ensemble", "err"); return; }
    if (members.length < 2 || members.length > MAX) { msg("#ens-msg", `tick 2 to ${MAX} versions`, "err"); return; }
    msg("#ens-msg", "making…");
    try {
      const v = await api("POST", `/api/v1/models/${enc(name)}/versions`, { ensemble: members });
      msg("#ens-msg", `${name} v${v.version}: ensemble of ${v.ensemble.length}`, "ok");
      await loadModels();
      $("#try-model").value = name;
      await chooseModel(name, v.version);
    } catch (e) { msg("#ens-msg", e.message, "err"); }
  }

  /* Under the chosen model's description: its members, or nothing. */
  function version(name, vinfo) {
    let p = $("#ens-members");
    if (!p) {
      p = el("p", { id: "ens-members", class: "muted" });
      $("#try-meta").after(p);
    }
    const ms = vinfo && Array.isArray(vinfo.ensemble) ? vinfo.ensemble : null;
    p.hidden = !ms;
    p.textContent = ms ? `ensemble of ${ms.length}: ` + ms.map((m) => `${m.model} v${m.version}` + (m.alias ? ` (@${m.alias})` : "")).join(", ") +
      " — serves the mean of their outputs" : "";
  }

  window.mlpdEnsemble = { models, version };
})();
