"use strict";
/* users.js — class mode in the dashboard (README, Class mode): once a key is in use, the header
 * says who it belongs to (GET /api/v1/me: name and role); for an admin, a Users panel imports a
 * roster (CSV, POST /api/v1/users:import) and offers the answer, with each new user's key, as a
 * keys.csv download, lists the users with their role (changed in place: PATCH), edits a user's
 * quotas (empty for the server default: PATCH), and shows a user's usage of each quota (GET
 * /api/v1/users/{name}) and keys with a revoke button (DELETE /api/v1/users/{name}/keys/{id}).
 *
 * Signed in as a user (a user's key, `mlpd_…`, that /me answers), the datasets, runs, models and
 * sweeps lists hold the caller's own things (?owner=NAME) unless the "show the class" toggle
 * (remembered in localStorage) is on; then they hold everything the caller may see, each row
 * naming its owner. Datasets and models show their visibility as a badge, and the dataset and
 * model views give whoever may change it (owner, staff, admin) a visibility control (PATCH).
 * Without users (an open server, or a --api-key flag key, which acts as the bootstrap admin) the
 * page lists everything, as it always did, with neither toggle nor badges.
 *
 * Uses app.js's api(), apiKey(), enc() and el() (classic scripts share their global names) at
 * call time only, and listens to the same "Use key" button. Loaded before app.js, so that the
 * lists' first load (app.js's init) can ask ownerQuery(); its own setup waits for the DOM. */

const SHOW_CLASS_STORE = "mlpd.showClass";
const users = {
  me: null, keysOf: null, quotasOf: null, lastCsvUrl: null,
  meKey: null, mePromise: null, // the key /me was asked for, and that answer
  ownerQuery, classMode, tags, visibilityControl,
};
window.mlpdUsers = users; // for app.js's hooks and the browser test

/* GET path with the page's key: the answer's JSON, or null when refused. fetch, not api(): a
 * key that may not call /me (a predict-scope flag key), or a flag key of the admin user without
 * the admin scope, is no error worth the key message. */
async function probe(path) {
  const headers = {};
  const k = apiKey();
  if (k) headers.Authorization = "Bearer " + k;
  try {
    const r = await fetch(path, { headers });
    return r.ok ? await r.json() : null;
  } catch (_) { return null; } /* unreachable: the health badge says so */
}

/* The caller for the page's key (null without one), asked once per key. */
function meNow() {
  const k = apiKey();
  if (users.meKey !== k) {
    users.meKey = k;
    users.mePromise = (k ? probe("/api/v1/me") : Promise.resolve(null)).then((me) => {
      if (users.meKey === k) users.me = me;
      return me;
    });
  }
  return users.mePromise;
}

/* Signed in as a user: /me answered for a user's key. A flag key acts as the bootstrap admin,
 * who sees everything: no toggle, as without keys. Valid once meNow() has resolved. */
function classMode() { return !!users.me && users.meKey === apiKey() && apiKey().startsWith("mlpd_"); }

function showClass() { return localStorage.getItem(SHOW_CLASS_STORE) === "1"; }

/* "&owner=NAME" while the lists hold only the caller's own things, "" otherwise. */
async function ownerQuery() {
  await meNow();
  return classMode() && !showClass() ? "&owner=" + enc(users.me.name) : "";
}

/* Nodes to append to a list row's name: its owner (with the class shown) and its visibility
 * badge (datasets, models); none without users. */
function tags(item) {
  if (!classMode() || !item) return [];
  const out = [];
  if (showClass() && item.owner) out.push(" ", el("span", { class: "owner", title: "owner" }, item.owner));
  if (item.visibility) out.push(" ", el("span", { class: "badge vis " + item.visibility }, item.visibility));
  return out;
}

/* The visibility control of a dataset or model (kind "dataset" | "model") for a caller who may
 * change it (owner, staff, admin; the server's rule decides, and its 403 is shown), or null.
 * saved(answer) runs after a change the server took. */
function visibilityControl(kind, item, saved) {
  if (!classMode() || !item || !item.visibility) return null;
  if (item.owner !== users.me.name && users.me.role === "student") return null;
  const sel = el("select", { class: "vis-select" },
    ...["private", "class", "public"].map((v) => el("option", { value: v }, v)));
  sel.value = item.visibility;
  const rows = kind === "dataset" ? el("input", { type: "checkbox", class: "vis-rows" }) : null;
  if (rows) rows.checked = !!item.rows_visible;
  const note = el("span", { class: "msg vis-msg" });
  async function save() {
    const body = { visibility: sel.value };
    if (rows) body.rows_visible = rows.checked;
    const path = kind === "dataset" ? `/api/v1/datasets/${enc(item.id)}` : `/api/v1/models/${enc(item.name)}`;
    try {
      const r = await api("PATCH", path, body);
      note.textContent = `now ${r.visibility}` + (rows ? (r.rows_visible ? ", rows visible" : ", rows hidden") : "");
      note.className = "msg vis-msg ok";
      if (saved) await saved(r);
    } catch (e) {
      note.textContent = e.message;
      note.className = "msg vis-msg err";
    }
  }
  sel.addEventListener("change", save);
  if (rows) rows.addEventListener("change", save);
  return el("div", { class: "row vis-control", "data-kind": kind },
    el("label", {}, "visibility ", sel), rows ? el("label", {}, rows, " rows visible") : null, note);
}

async function toggleClass(on) {
  localStorage.setItem(SHOW_CLASS_STORE, on ? "1" : "0");
  await Promise.allSettled([refreshAll(), typeof loadSweeps === "function" ? loadSweeps() : null]);
}

async function whoAmI() {
  const me = await meNow();
  const tag = document.getElementById("me");
  tag.textContent = me ? `${me.display_name || me.name} (${me.role})` : "";
  tag.hidden = !me;
  const toggle = document.getElementById("class-toggle");
  toggle.hidden = !classMode();
  document.getElementById("show-class").checked = showClass();
  const panel = document.getElementById("users-sec");
  /* The panel needs the admin role and a key with the admin scope. */
  panel.hidden = !(me && me.role === "admin" && (await probe("/api/v1/users?limit=1")));
  if (!panel.hidden) await loadUsers();
}

function usersMsg(text, bad) { msg("#users-msg", text, bad ? "err" : "ok"); }

async function loadUsers() {
  const data = await api("GET", "/api/v1/users?limit=1000");
  const tbody = document.querySelector("#users-table tbody");
  tbody.replaceChildren();
  for (const u of data.items) {
    const role = el("select", { "data-user": u.name, class: "user-role" },
      ...["student", "staff", "admin"].map((r) => el("option", { value: r }, r)));
    role.value = u.role;
    role.disabled = u.id === 1; // the bootstrap admin stays admin
    role.addEventListener("change", () => setRole(u.name, role.value));
    const keys = el("button", { type: "button", class: "user-keys" }, "keys");
    keys.addEventListener("click", () => showKeys(u.name));
    const quotas = el("button", { type: "button", class: "user-quotas" }, "quotas");
    quotas.addEventListener("click", () => editQuotas(u));
    tbody.append(el("tr", { "data-user": u.name },
      el("td", {}, u.name), el("td", {}, u.display_name || ""), el("td", {}, role),
      el("td", {}, keys, " ", quotas)));
  }
  document.getElementById("users-count").textContent = `${data.total} user(s)`;
}

async function setRole(name, role) {
  try {
    await api("PATCH", `/api/v1/users/${enc(name)}`, { role });
    usersMsg(`${name} is now ${role}`);
  } catch (e) { usersMsg(e.message, true); await loadUsers(); }
}

const QUOTAS = ["storage_bytes", "active_runs", "train_seconds_per_day", "models", "predict_per_second"];

/* The quota form for user u: one number per quota, empty for the server default. */
function editQuotas(u) {
  const box = document.getElementById("user-quotas");
  box.hidden = false;
  document.getElementById("user-quotas-of").textContent = u.name;
  const fields = document.getElementById("user-quotas-fields");
  fields.replaceChildren(...QUOTAS.map((q) => el("label", {}, q + " ",
    el("input", { type: "number", min: "0", step: "1", "data-quota": q, size: "10",
      placeholder: "default", value: u.quotas[q] === null ? undefined : String(u.quotas[q]) }))));
  users.quotasOf = u.name;
}

async function saveQuotas() {
  const name = users.quotasOf;
  const quotas = {};
  for (const i of document.querySelectorAll("#user-quotas-fields input"))
    quotas[i.dataset.quota] = i.value.trim() === "" ? null : Number(i.value);
  try {
    await api("PATCH", `/api/v1/users/${enc(name)}`, { quotas });
    usersMsg(`quotas of ${name} saved`);
    await loadUsers();
  } catch (e) { usersMsg(e.message, true); }
}

async function showKeys(name) {
  users.keysOf = name;
  const box = document.getElementById("user-keys");
  box.hidden = false;
  document.getElementById("user-keys-of").textContent = name;
  const [data, user] = await Promise.all([api("GET", `/api/v1/users/${enc(name)}/keys`),
    api("GET", `/api/v1/users/${enc(name)}`)]);
  if (users.keysOf !== name) return; /* another user was opened meanwhile */
  document.querySelector("#user-usage-table tbody").replaceChildren(
    ...(user && user.usage && window.mlpdQuotas ? window.mlpdQuotas.rows(user.usage) : []));
  const tbody = document.querySelector("#user-keys-table tbody");
  tbody.replaceChildren();
  for (const k of data.items) {
    const cells = [el("td", {}, k.prefix + "…"), el("td", {}, k.created_at),
      el("td", {}, k.last_used_at || "never"), el("td", {}, k.revoked_at ? "revoked" : "")];
    if (!k.revoked_at) {
      const b = el("button", { type: "button", class: "key-revoke" }, "revoke");
      b.addEventListener("click", () => revokeKey(name, k.id));
      cells[3].append(b);
    }
    tbody.append(el("tr", { "data-key": String(k.id) }, ...cells));
  }
}

async function revokeKey(name, id) {
  try {
    await api("DELETE", `/api/v1/users/${enc(name)}/keys/${id}`);
    usersMsg(`key ${id} of ${name} revoked`);
  } catch (e) { usersMsg(e.message, true); }
  await showKeys(name);
}

async function importRoster() {
  const file = document.getElementById("roster-file").files[0];
  const text = file ? await file.text() : document.getElementById("roster-text").value;
  if (!text.trim()) { usersMsg("choose a roster file or paste its CSV", true); return; }
  try {
    const csv = await api("POST", "/api/v1/users:import", new Blob([text], { type: "text/csv" }));
    const rows = csv.trim().split("\n").slice(1).map((l) => l.split(","));
    const created = rows.filter((r) => r[2] === "created").length;
    const exists = rows.filter((r) => r[2] === "exists").map((r) => r[0]);
    usersMsg(`${created} created` + (exists.length ? `; already there: ${exists.join(", ")}` : ""));
    if (users.lastCsvUrl) URL.revokeObjectURL(users.lastCsvUrl);
    users.lastCsvUrl = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    const a = document.getElementById("roster-keys");
    a.href = users.lastCsvUrl;
    a.hidden = false;
    await loadUsers();
  } catch (e) { usersMsg(e.message, true); }
}

function initUsers() {
  const header = document.querySelector("header");
  const toggle = el("label", { id: "class-toggle", hidden: "", title: "list everything you may see, not only your own" },
    el("input", { id: "show-class", type: "checkbox" }), " show the class");
  header.insertBefore(el("span", { id: "me", class: "badge", hidden: "" }),
    document.getElementById("key-msg").nextSibling);
  header.insertBefore(toggle, document.getElementById("me").nextSibling);
  document.getElementById("show-class").addEventListener("change", (ev) => toggleClass(ev.target.checked));
  const panel = el("section", { id: "users-sec", hidden: "" },
    el("h2", {}, "Users ", el("span", { id: "users-count", class: "muted" })),
    el("p", { class: "muted" }, "Roster CSV: name,display_name,role (header row; role student by default)."),
    el("div", { class: "row" },
      el("input", { id: "roster-file", type: "file", accept: ".csv,text/csv" }),
      el("button", { id: "roster-import", type: "button", class: "primary" }, "Import roster"),
      el("a", { id: "roster-keys", download: "keys.csv", hidden: "" }, "download keys.csv")),
    el("textarea", { id: "roster-text", rows: "3", placeholder: "or paste it: name,display_name,role" }),
    el("span", { id: "users-msg", class: "msg" }),
    el("table", { id: "users-table", class: "list" },
      el("thead", {}, el("tr", {}, el("th", {}, "name"), el("th", {}, "display name"),
        el("th", {}, "role"), el("th", {}, ""))),
      el("tbody")),
    el("div", { id: "user-quotas", hidden: "" },
      el("h3", {}, "Quotas of ", el("span", { id: "user-quotas-of" })),
      el("div", { id: "user-quotas-fields", class: "grid2" }),
      el("button", { id: "user-quotas-save", type: "button" }, "Save quotas")),
    el("div", { id: "user-keys", hidden: "" },
      el("h3", {}, "Usage and keys of ", el("span", { id: "user-keys-of" })),
      el("table", { id: "user-usage-table", class: "list" },
        el("thead", {}, el("tr", {}, el("th", {}, "quota"), el("th", {}, "use"), el("th", {}, ""))),
        el("tbody")),
      el("table", { id: "user-keys-table", class: "list" },
        el("thead", {}, el("tr", {}, el("th", {}, "prefix"), el("th", {}, "created"),
          el("th", {}, "last used"), el("th", {}, ""))),
        el("tbody"))));
  const cols = document.querySelectorAll("main .col");
  cols[cols.length - 1].append(panel);
  document.getElementById("roster-import").addEventListener("click", importRoster);
  document.getElementById("user-quotas-save").addEventListener("click", saveQuotas);
  document.getElementById("key-save").addEventListener("click", () => whoAmI());
  whoAmI();
}

/* After app.js has run (deferred scripts all run before DOMContentLoaded). */
document.addEventListener("DOMContentLoaded", initUsers);
