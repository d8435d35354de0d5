"use strict";
/* quotas.js — the caller's use of each class-mode quota (GET /api/v1/me's "usage"), shown as bars
 * in the "Usage" section once an API key is entered, and refreshed with the lists. A quota error
 * of a form (429 or 507 naming the quota) is shown by the form's own message line, as every
 * problem's detail is. Nothing here runs without a key: an open server has no quotas to show. */
(function () {
  const LABELS = {
    storage_bytes: "storage",
    active_runs: "active runs",
    train_seconds_per_day: "training CPU-s / 24 h",
    models: "models",
    predict_per_second: "predictions / s",
  };

  function amount(name, v) {
    if (name !== "storage_bytes") return String(v);
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i ? v.toFixed(1) : String(v)) + " " + units[i];
  }

  function row(name, u) {
    const tr = document.createElement("tr");
    tr.dataset.quota = name;
    const label = document.createElement("td");
    label.textContent = LABELS[name] || name;
    const barCell = document.createElement("td");
    const bar = document.createElement("meter");
    bar.min = 0;
    bar.max = u.limit || 1;
    bar.value = u.limit ? Math.min(u.used, u.limit) : 0;
    bar.high = u.limit ? u.limit * 0.8 : 1;
    bar.optimum = 0;
    barCell.append(bar);
    const text = document.createElement("td");
    text.className = "num";
    text.textContent = u.limit === null
      ? `${amount(name, u.used)} (no limit)`
      : `${amount(name, u.used)} / ${amount(name, u.limit)}`;
    if (u.limit !== null && u.used >= u.limit) text.classList.add("err");
    tr.append(label, barCell, text);
    return tr;
  }

  /* Reads /me with the key in sessionStorage and redraws; hides the section without a key or
   * when the server has no /me for it. */
  async function refresh() {
    const sec = document.getElementById("usage-sec");
    if (!sec) return;
    const key = sessionStorage.getItem("mlpd.key") || "";
    if (!key) { sec.hidden = true; return; }
    let me = null;
    try {
      const r = await fetch("/api/v1/me", { headers: { Authorization: "Bearer " + key } });
      if (r.ok) me = await r.json();
    } catch (_) { me = null; }
    if (!me || !me.usage) { sec.hidden = true; return; }
    const body = sec.querySelector("tbody");
    body.replaceChildren(...Object.keys(LABELS).filter((k) => me.usage[k]).map((k) => row(k, me.usage[k])));
    sec.querySelector(".who").textContent = `${me.name} (${me.role})`;
    sec.hidden = false;
  }

  /* The rows of a usage object ({quota: {used, limit}}), for the Users panel's per-user usage. */
  function rows(usage) {
    return Object.keys(LABELS).filter((k) => usage[k]).map((k) => row(k, usage[k]));
  }

  window.mlpdQuotas = { refresh, rows };
})();
