// The memfs console: one page over memfs's HTTP API, no build step, nothing loaded from elsewhere.
// Every call sends the API key kept in sessionStorage as x-api-key (none on a server without keys).
// Write controls are drawn only for stores the key may write; the server refuses the rest anyway.
// Content from the server is only ever set as text (textContent), never parsed as HTML.
"use strict";

const KEY = "memfs.key";
const state = { who: null };

// ------------------------------------------------------------------ small helpers

function h(tag, attrs, ...kids) {
  const svg = ["svg", "rect", "g", "text", "title", "line"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : String(kid));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);
const short = (sha) => (sha ? sha.slice(0, 12) : "—");
const when = (t) => (t ? t.replace("T", " ").replace(/\.\d+Z$/, "Z") : "—");
const size = (n) => (n < 1024 ? `${n} B` : n < 1048576 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1048576).toFixed(1)} MiB`);
const canWrite = (storeId) => state.who && state.who.stores[storeId] === "rw";

function status(text, kind) {
  const el = $("#status");
  el.textContent = text || "";
  el.className = kind || "";
}

class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

async function api(method, path, body) {
  const headers = {};
  const key = sessionStorage.getItem(KEY);
  if (key) headers["x-api-key"] = key;
  if (body !== undefined) headers["content-type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (!resp.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(resp.status, err.type || "api_error", err.message || `HTTP ${resp.status}`);
  }
  return data;
}

const get = (path, params) => {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const qs = q.toString();
  return api("GET", qs ? `${path}?${qs}` : path);
};
const post = (path, body) => api("POST", path, body === undefined ? {} : body);

// a button that runs an action, shows its outcome in the status line and re-renders the view
function action(label, attrs, fn) {
  return h("button", { ...attrs, onclick: async (ev) => {
    ev.target.disabled = true;
    try {
      const msg = await fn();
      status(msg || `${label}: done`, "ok");
      await route(true);
    } catch (e) {
      status(`${label}: ${e.type ? e.type + ": " : ""}${e.message}`, "error");
      ev.target.disabled = false;
    }
  } }, label);
}

function table(head, rows, attrs) {
  return h("table", attrs || {}, h("thead", {}, h("tr", {}, head.map((x) => h("th", {}, x)))), h("tbody", {}, rows));
}

function tabs(items, current) {
  return h("nav", { class: "tabs" }, items.map(([name, href]) =>
    h("a", { href, class: name === current ? "tab current" : "tab", "data-tab": name }, name)));
}

// ------------------------------------------------------------------ routing

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, "").split("?");
  return { parts: (path || "/").split("/").filter(Boolean).map(decodeURIComponent), q: new URLSearchParams(query || "") };
}

const storeHref = (id, tab, params) => {
  const q = new URLSearchParams(params || {}).toString();
  return `#/s/${encodeURIComponent(id)}/${tab}${q ? "?" + q : ""}`;
};

let routing = 0; // only the newest navigation draws: an older one still loading is dropped

async function route(keepStatus) {
  const mine = ++routing;
  if (!keepStatus) status("");
  document.body.dataset.ready = "0";
  let view;
  try {
    const { parts, q } = parseHash();
    await signIn(); // every view: the key's stores may have changed since the last one
    if (parts[0] === "s" && parts[1]) view = await storeView(parts[1], parts[2] || "files", q);
    else if (parts[0] === "d" && parts[1]) view = await dreamView(parts[1], q);
    else view = await storesView();
  } catch (e) {
    if (e.status === 401) view = loginView(e.message);
    else view = h("p", { class: "error", id: "view-error" }, `${e.type || "error"}: ${e.message}`);
  }
  if (mine !== routing) return;
  $("#main").replaceChildren(view);
  document.body.dataset.ready = "1"; // the browser tests wait for this
}

async function signIn() {
  state.who = await get("/v1/memfs/whoami");
  const who = $("#who");
  const k = state.who.key;
  who.replaceChildren(k ? `key ${k.name} (${k.id})` : "no API key (this server has none)");
  if (k) who.append(h("button", { id: "sign-out", onclick: () => { sessionStorage.removeItem(KEY); route(); } }, "Sign out"));
}

function loginView(message) {
  $("#who").replaceChildren();
  $("#crumbs").replaceChildren();
  const input = h("input", { id: "api-key", type: "password", autocomplete: "off", placeholder: "sk-memfs-…", size: 40 });
  return h("form", { id: "login", onsubmit: (ev) => {
    ev.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    route();
  } },
  h("h1", {}, "memfs console"),
  h("p", {}, "This server needs an API key (", h("code", {}, "memfs keys create"), "). It is kept for this tab only."),
  h("p", { class: "error" }, message),
  input, " ", h("button", { type: "submit", id: "use-key" }, "Use key"));
}

function crumbs(...items) {
  $("#crumbs").replaceChildren(...items.flatMap((x) => [" / ", x]));
}

// ------------------------------------------------------------------ stores

async function storesView() {
  crumbs();
  const { data } = await get("/v1/memfs/stores");
  const sparks = await Promise.all(data.map((s) => activityChart(s, true)));
  const rows = data.map((s, i) => h("tr", { "data-store": s.id },
    h("td", {}, h("a", { href: storeHref(s.id, "files"), class: "store-link" }, s.name)),
    h("td", {}, h("span", { class: `badge ${s.access}` }, s.access)),
    h("td", { class: "num" }, s.usage.files), h("td", { class: "num" }, size(s.usage.bytes)),
    h("td", { class: "num" }, s.usage.revisions), h("td", {}, when(s.last_activity_at)),
    h("td", {}, s.last_agent || "—"), h("td", {}, sparks[i]), h("td", { class: "muted" }, s.description)));
  return h("section", { id: "stores" }, h("h1", {}, "Memory stores"),
    data.length ? table(["store", "access", "files", "size", "revisions", "last write", "by", "writes, 48 h",
      "description"], rows)
      : h("p", { class: "muted" }, "No store this key can see."));
}

async function storeView(id, tab, q) {
  const store = await get(`/v1/memory_stores/${encodeURIComponent(id)}`);
  crumbs(h("a", { href: storeHref(id, "files") }, store.name));
  const names = ["files", "log", "conflicts", "dreams", "branches", "search", "health"];
  const body = { files: filesTab, log: logTab, conflicts: conflictsTab, dreams: dreamsTab, branches: branchesTab,
    search: searchTab, health: healthTab }[tab];
  if (!body) throw new ApiError(404, "not_found_error", `no such page: ${tab}`);
  const [content, chart] = await Promise.all([body(store, q), activityChart(store)]);
  return h("section", { id: "store", "data-store": id },
    h("div", { class: "store-head" },
      h("div", {}, h("h1", {}, store.name, " ", h("span", { class: `badge ${state.who.stores[id]}` }, state.who.stores[id])),
        h("p", { class: "muted" }, store.description || ""), h("p", { class: "muted mono" }, store.id)),
      chart),
    tabs(names.map((n) => [n, storeHref(id, n)]), tab), content);
}

// writes per hour by agent over the last two days, as stacked bars; `small`: a sparkline for a table
async function activityChart(store, small) {
  const act = await get(`/v1/memfs/stores/${store.id}/activity`, { hours: 48 });
  const W = small ? 144 : 480, H = small ? 24 : 90, pad = small ? 1 : 14, bw = W / act.hours;
  const colors = ["#2f6fdd", "#d9822b", "#2e9e5b", "#b04ad1", "#c9364a", "#1f9fa8", "#8a6d3b", "#666"];
  const color = (a) => colors[act.agents.indexOf(a) % colors.length];
  const max = Math.max(1, ...act.buckets.map((b) => Object.values(b.counts).reduce((x, y) => x + y, 0)));
  const bars = [];
  act.buckets.forEach((b, i) => {
    let y = H - pad;
    for (const a of act.agents) {
      const n = b.counts[a] || 0;
      if (!n) continue;
      const bh = ((H - 2 * pad) * n) / max;
      y -= bh;
      bars.push(h("rect", { x: (i * bw + 0.5).toFixed(1), y: y.toFixed(1), width: Math.max(bw - 1, 1).toFixed(1),
        height: bh.toFixed(1), fill: color(a), class: "bar", "data-agent": a },
      h("title", {}, `${when(b.hour).slice(0, 16)} ${a}: ${n}`)));
    }
  });
  if (small) {
    return h("svg", { class: "spark", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
      "aria-label": `writes per hour by agent, last ${act.hours} hours` }, h("line", { x1: 0, y1: H - pad, x2: W, y2: H - pad, class: "axis" }), bars);
  }
  const svg = h("svg", { id: "activity", width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `writes per hour by agent, last ${act.hours} hours` },
  h("line", { x1: 0, y1: H - pad, x2: W, y2: H - pad, class: "axis" }),
  bars,
  h("text", { x: 0, y: H - 2, class: "tick" }, when(act.start).slice(5, 16)),
  h("text", { x: W, y: H - 2, class: "tick", "text-anchor": "end" }, "now"),
  h("text", { x: 0, y: 10, class: "tick" }, `max ${max}/h`));
  const legend = h("div", { class: "legend" }, act.agents.map((a) =>
    h("span", { class: "legend-item" }, h("svg", { width: 10, height: 10 }, h("rect", { width: 10, height: 10, fill: color(a) })), " ", a)));
  return h("figure", { class: "chart" }, svg, h("figcaption", {}, `writes per hour by agent, last ${act.hours} h`, legend));
}

// ------------------------------------------------------------------ files

async function filesTab(store, q) {
  const { data } = await get(`/v1/memfs/stores/${store.id}/tree`);
  const path = q.get("path");
  const tree = h("ul", { id: "tree" }, data.map((e) => {
    const depth = e.path.split("/").length - 2;
    const name = e.path.split("/").pop() + (e.kind === "dir" ? "/" : "");
    const label = e.kind === "file"
      ? h("a", { href: storeHref(store.id, "files", { path: e.path }), "data-path": e.path,
        class: e.path === path ? "current" : null }, name)
      : h("span", { class: "dir" }, name);
    return h("li", { class: `depth-${Math.min(depth, 12)} ${e.kind}` }, label);
  }));
  const side = h("aside", { class: "tree" }, h("h2", {}, "Files"), data.length ? tree : h("p", { class: "muted" }, "empty"));
  const panel = path ? await fileView(store, path, q) : h("p", { class: "muted" }, "Pick a file.");
  return h("div", { class: "files" }, side, h("div", { class: "file-panel" }, panel));
}

async function fileView(store, path, q) {
  const view = q.get("view") || "content";
  const base = `/v1/memfs/stores/${store.id}`;
  const href = (v, extra) => storeHref(store.id, "files", { path, view: v, ...(extra || {}) });
  const head = h("h2", { id: "file-path", class: "mono" }, path);
  const nav = tabs([["content", href("content")], ["history", href("history")], ["diff", href("diff")],
    ["blame", href("blame")]], view);
  let body;
  if (view === "history") body = await historyView(store, path, href);
  else if (view === "diff") body = await diffView(store, path, q, href);
  else if (view === "blame") {
    const { lines } = await get(`${base}/blame`, { path });
    let last = null;
    body = table(["rev", "agent", "session", "time", "#", "line"], lines.map((l) => {
      const first = l.rev !== last;
      last = l.rev;
      return h("tr", { class: first ? "blame-start" : "" },
        h("td", { class: "num" }, first ? l.rev : ""), h("td", {}, first ? l.agent || "—" : ""),
        h("td", { class: "mono" }, first ? l.session || "—" : ""), h("td", {}, first ? when(l.created_at) : ""),
        h("td", { class: "num muted" }, l.n), h("td", { class: "code" }, l.text));
    }), { id: "blame" });
  } else {
    try {
      const f = await get(`${base}/file`, { path, rev: q.get("rev") });
      body = h("div", {}, h("p", { class: "muted" }, `revision ${f.rev} · ${size(f.size)} · sha256 ${short(f.sha256)}`),
        f.content === null ? h("p", { class: "muted" }, "binary content") : h("pre", { id: "content" }, f.content));
    } catch (e) {
      if (e.status !== 404) throw e;
      body = h("p", { class: "muted" }, "This file does not exist now: see its history.");
    }
  }
  return h("div", { id: "file", "data-view": view }, head, nav, body);
}

async function historyView(store, path, href) {
  const { data } = await get(`/v1/memfs/stores/${store.id}/history`, { path });
  const content = data.filter((r) => r.version_id);
  const current = content.length && content[0].op !== "delete" ? content[0].id : null;
  const rw = canWrite(store.id);
  const rows = data.map((r) => {
    let redact = null;
    if (rw && r.version_id && !r.redacted_at && r.op !== "delete" && r.id !== current) {
      redact = h("button", { class: "write btn-redact", "data-rev": r.id, onclick: async (ev) => {
        const b = ev.target;
        if (b.dataset.armed !== "1") { // two clicks: redaction cannot be undone
          b.dataset.armed = "1";
          b.textContent = "Confirm redact";
          return;
        }
        b.disabled = true;
        try {
          await post(`/v1/memory_stores/${store.id}/memory_versions/${r.version_id}/redact`);
          status(`revision ${r.id} redacted`, "ok");
          await route(true);
        } catch (e) {
          status(`redact: ${e.type}: ${e.message}`, "error");
        }
      } }, "Redact");
    }
    return h("tr", { "data-rev": r.id, class: r.redacted_at ? "redacted" : "" },
      h("td", {}, h("input", { type: "radio", name: "a", value: r.id, "aria-label": `diff from ${r.id}` })),
      h("td", {}, h("input", { type: "radio", name: "b", value: r.id, "aria-label": `diff to ${r.id}` })),
      h("td", { class: "num" }, r.id), h("td", {}, r.op), h("td", {}, r.agent || "—"),
      h("td", { class: "mono" }, r.session || "—"), h("td", {}, r.actor), h("td", {}, when(r.created_at)),
      h("td", { class: "mono" }, r.redacted_at ? "redacted" : short(r.sha256)), h("td", { class: "num" }, r.size),
      h("td", { class: "mono" }, r.old_path && r.op === "rename" ? `${r.old_path} → ${r.path}` : r.path),
      h("td", {}, r.sha256 && r.kind === "file" ? h("a", { href: href("content", { rev: r.id }) }, "view") : null, " ", redact));
  });
  const form = h("form", { id: "history-form", onsubmit: (ev) => {
    ev.preventDefault();
    const a = form.querySelector("input[name=a]:checked"), b = form.querySelector("input[name=b]:checked");
    if (!a || !b) { status("pick two versions: one in column A, one in column B", "error"); return; }
    location.hash = href("diff", { a: a.value, b: b.value });
  } },
  table(["A", "B", "rev", "op", "agent", "session", "actor", "time", "sha256", "bytes", "path", ""], rows, { id: "history" }),
  h("button", { type: "submit", id: "diff-selected" }, "Diff A → B"));
  return form;
}

function diffLines(text) {
  return h("pre", { id: "diff", class: "diff" }, text.split("\n").filter((l, i, all) => l || i < all.length - 1).map((l) => {
    const cls = l.startsWith("@@") ? "hunk" : l.startsWith("+++") || l.startsWith("---") ? "file"
      : l.startsWith("+") ? "add" : l.startsWith("-") ? "del" : "ctx";
    return h("span", { class: `line ${cls}` }, l + "\n");
  }));
}

async function diffView(store, path, q, href) {
  const base = `/v1/memfs/stores/${store.id}`;
  const { data } = await get(`${base}/history`, { path });
  const revs = data.filter((r) => r.version_id);
  const a = q.get("a"), b = q.get("b");
  const pick = (name, value, extra) => h("select", { name, id: `diff-${name}` }, extra,
    revs.map((r) => h("option", { value: r.id, selected: String(r.id) === value ? true : null },
      `${r.id} ${r.op} by ${r.agent || r.actor} ${when(r.created_at)}`)));
  const selA = pick("a", a, h("option", { value: "0", selected: a === "0" ? true : null }, "(before it existed)"));
  const selB = pick("b", b, h("option", { value: "", selected: !b ? true : null }, "now"));
  const form = h("form", { id: "diff-form", onsubmit: (ev) => {
    ev.preventDefault();
    location.hash = href("diff", { a: selA.value, b: selB.value });
  } }, "from ", selA, " to ", selB, " ", h("button", { type: "submit" }, "Show diff"));
  const d = await get(`${base}/diff`, { path, a, b });
  return h("div", {}, form, d.diff ? diffLines(d.diff) : h("p", { id: "diff", class: "muted" }, "No difference."));
}

// ------------------------------------------------------------------ audit log, conflicts, search

const OPS = ["", "create", "write", "rename", "delete", "mkdir", "rmdir", "chmod", "symlink"];

// <input type=datetime-local> is local time; the API takes RFC 3339
const toIso = (v) => (v ? new Date(v).toISOString() : "");
const fromIso = (v) => {
  if (!v) return "";
  const d = new Date(v);
  if (isNaN(d)) return "";
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
};

async function logTab(store, q) {
  const f = { agent: q.get("agent") || "", session: q.get("session") || "", op: q.get("op") || "",
    path: q.get("path") || "", since: q.get("since") || "", until: q.get("until") || "" };
  const field = (name, label, el) => h("label", {}, label, " ", el || h("input", { name, value: f[name], size: 14 }));
  const form = h("form", { id: "log-filters", class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const fd = new FormData(form);
    const params = {};
    for (const k of ["agent", "session", "op", "path"]) if (fd.get(k)) params[k] = fd.get(k);
    for (const k of ["since", "until"]) if (fd.get(k)) params[k] = toIso(fd.get(k));
    location.hash = storeHref(store.id, "log", params);
  } },
  field("agent", "agent"), field("session", "session"),
  field("op", "operation", h("select", { name: "op" }, OPS.map((o) => h("option", { value: o, selected: o === f.op ? true : null }, o || "any")))),
  field("path", "path"),
  field("since", "since", h("input", { type: "datetime-local", name: "since", value: fromIso(f.since) })),
  field("until", "until", h("input", { type: "datetime-local", name: "until", value: fromIso(f.until) })),
  h("button", { type: "submit", id: "log-apply" }, "Filter"), " ",
  h("a", { href: storeHref(store.id, "log") }, "clear"));
  const { data, more } = await get(`/v1/memfs/stores/${store.id}/log`, f);
  const rows = data.map((r) => h("tr", { "data-rev": r.id },
    h("td", { class: "num" }, r.id), h("td", {}, when(r.created_at)), h("td", {}, r.op),
    h("td", { class: "mono" }, r.kind === "file" ? h("a", { href: storeHref(store.id, "files", { path: r.path, view: "history" }) }, r.path) : r.path),
    h("td", { class: "agent" }, r.agent || "—"), h("td", { class: "mono" }, r.session || "—"), h("td", {}, r.actor),
    h("td", { class: "mono" }, r.redacted_at ? "redacted" : short(r.sha256)), h("td", { class: "muted" }, r.message || "")));
  return h("div", {}, form,
    h("p", { class: "muted", id: "log-count" }, `${data.length} revisions${more ? " (the newest; narrow the filters for more)" : ""}`),
    table(["rev", "time", "op", "path", "agent", "session", "actor", "sha256", "message"], rows, { id: "log" }));
}

async function conflictsTab(store) {
  const { data } = await get(`/v1/memfs/stores/${store.id}/conflicts`);
  if (!data.length) return h("p", { class: "muted", id: "conflicts" }, "No refused writes.");
  return h("div", { id: "conflicts" }, data.map((c) => h("details", { class: "conflict" },
    h("summary", {}, `${when(c.created_at)} ${c.path} — ${c.agent || "?"} (${c.session || "no session"}): ${c.reason}`),
    h("p", { class: "muted mono" }, `based on ${short(c.base_sha256)}, stored was ${short(c.current_sha256)} (revision ${c.current_rev ?? "—"})`),
    c.content !== null ? h("pre", {}, c.content) : h("p", { class: "muted" }, "content not kept (redacted or binary)"))));
}

async function searchTab(store, q) {
  const query = q.get("q") || "";
  const input = h("input", { name: "q", id: "search-q", value: query, size: 40, placeholder: "regular expression" });
  const box = (name, label) => h("label", {}, h("input", { type: "checkbox", name, checked: q.get(name) === "true" }), " ", label);
  const form = h("form", { id: "search-form", class: "filters", onsubmit: (ev) => {
    ev.preventDefault();
    const params = { q: input.value };
    for (const k of ["history", "ignore_case", "fixed"]) if (form.elements[k].checked) params[k] = "true";
    location.hash = storeHref(store.id, "search", params);
  } }, input, " ", box("history", "all versions"), " ", box("ignore_case", "ignore case"), " ",
  box("fixed", "plain string"), " ", h("button", { type: "submit" }, "Search"));
  if (!query) return h("div", {}, form);
  const { data, more } = await get(`/v1/memfs/stores/${store.id}/search`,
    { q: query, history: q.get("history"), ignore_case: q.get("ignore_case"), fixed: q.get("fixed") });
  const rows = data.map((m) => h("tr", {},
    h("td", { class: "mono" }, h("a", { href: storeHref(store.id, "files", { path: m.path }) }, m.path)),
    h("td", { class: "num" }, m.line), h("td", { class: "code" }, m.text), h("td", { class: "num" }, m.rev),
    h("td", {}, m.agent || "—"), h("td", {}, when(m.created_at))));
  return h("div", {}, form, h("p", { class: "muted" }, `${data.length} lines${more ? " (more not shown)" : ""}`),
    table(["path", "line", "text", "rev", "agent", "time"], rows, { id: "search-results" }));
}

// ------------------------------------------------------------------ branches

async function branchesTab(store, q) {
  const base = `/v1/memfs/stores/${store.id}/branches`;
  const name = q.get("branch");
  if (name) return branchView(store, base, name);
  const { data } = await get(base);
  if (!data.length) return h("p", { class: "muted", id: "branches" }, "No branch of this store (memfs branch create).");
  return table(["branch", "status", "from revision", "files", "created", "closed"], data.map((b) => h("tr", { "data-branch": b.name },
    h("td", { class: "mono" }, h("a", { href: storeHref(store.id, "branches", { branch: b.name }), class: "branch-link" }, b.ref)),
    h("td", {}, h("span", { class: `state ${b.status}` }, b.status)), h("td", { class: "num" }, b.base_rev),
    h("td", { class: "num" }, b.files), h("td", {}, when(b.created_at)), h("td", {}, when(b.ended_at)))), { id: "branches" });
}

async function branchView(store, base, name) {
  const path = `${base}/${encodeURIComponent(name)}`;
  const b = await get(path);
  const { diff } = await get(`${path}/diff`);
  const merge = (label, id, body) => action(label, { class: "write", id }, async () => {
    const r = await post(`${path}/merge`, body);
    const left = r.files.filter((f) => f.status === "conflict").length;
    return `merged ${b.ref}: ${r.revisions.length} revision(s)` + (left ? `, ${left} conflict(s) left on the branch` : "");
  });
  const open = b.status === "open";
  const conflicts = open ? b.merge.filter((f) => f.status === "conflict").length : 0;
  const controls = canWrite(store.id) && open ? h("div", { class: "controls", id: "branch-controls" },
    merge("Merge", "btn-merge", {}),
    conflicts ? merge("Merge, keeping the store's version of conflicts", "btn-merge-ours", { ours: "*" }) : null,
    conflicts ? merge("Merge, taking the branch's version of conflicts", "btn-merge-theirs", { theirs: "*" }) : null,
    action("Discard", { class: "write danger", id: "btn-discard" }, async () => {
      await post(`${path}/discard`);
      return `discarded ${b.ref}`;
    })) : null;
  const plan = open ? table(["path", "merge", "action", "why"], b.merge.map((f) => h("tr", { "data-path": f.path, class: f.status },
    h("td", { class: "mono" }, f.path), h("td", {}, h("span", { class: `state ${f.status}` }, f.status)),
    h("td", {}, f.action || "—"), h("td", { class: "muted" }, f.reason))), { id: "branch-merge" }) : null;
  return h("section", { id: "branch", "data-branch": b.name, "data-status": b.status },
    h("h2", { class: "mono" }, b.ref),
    h("p", { id: "branch-status" }, `${b.status} · from revision ${b.base_rev} · ${b.files} files · created ${when(b.created_at)}`),
    controls, open ? h("h3", {}, "What merging does now") : null, plan,
    h("h3", {}, "Changes on the branch"), diff ? diffLines(diff) : h("p", { id: "diff", class: "muted" }, "No change."));
}

// ------------------------------------------------------------------ health

// the figures of `memfs stats`, with revisions per day over the window as an SVG bar chart
async function healthTab(store) {
  const s = await get(`/v1/memfs/stores/${store.id}/stats`, { days: 30 });
  const per = s.revisions_per_day, W = 600, H = 120, pad = 16, bw = W / per.length;
  const max = Math.max(1, ...per.map((d) => d.revisions));
  const bars = per.map((d, i) => {
    const bh = ((H - 2 * pad) * d.revisions) / max;
    return h("rect", { x: (i * bw + 1).toFixed(1), y: (H - pad - bh).toFixed(1), width: Math.max(bw - 2, 1).toFixed(1),
      height: bh.toFixed(1), class: "bar day", fill: "#2f6fdd", "data-day": d.day, "data-n": d.revisions },
    h("title", {}, `${d.day}: ${d.revisions} revisions`));
  });
  const chart = h("figure", { class: "chart" }, h("svg", { id: "trend", width: W, height: H, viewBox: `0 0 ${W} ${H}`,
    role: "img", "aria-label": `revisions per day, last ${s.days} days` },
  h("line", { x1: 0, y1: H - pad, x2: W, y2: H - pad, class: "axis" }), bars,
  h("text", { x: 0, y: H - 2, class: "tick" }, per[0].day), h("text", { x: W, y: H - 2, class: "tick", "text-anchor": "end" },
    per[per.length - 1].day), h("text", { x: 0, y: 10, class: "tick" }, `max ${max}/day`)),
  h("figcaption", {}, `revisions per day, last ${s.days} days: ${s.revisions_in_window}`));
  const dup = s.duplicated;
  const row = (k, v, id) => h("tr", { "data-figure": id }, h("th", {}, k), h("td", { class: "num" }, v));
  const figures = h("table", { id: "health-figures" }, h("tbody", {},
    row("files", s.files, "files"), row("size", size(s.bytes), "bytes"), row("revisions", s.revisions, "revisions"),
    row(`active agents, ${s.days} days`, `${s.active_agents.length} (${s.active_agents.join(", ") || "—"})`, "agents"),
    row(`active sessions, ${s.days} days`, s.active_sessions, "sessions"),
    row("duplicated paragraphs", dup ? `${dup.duplicated} of ${dup.paragraphs} (${(dup.share * 100).toFixed(1)}%)` : "—", "duplicated"),
    row(`not read or written in ${s.days} days`, s.idle_files, "idle"),
    row("files ever read through a mount", s.files_read, "read"),
    row(`stale writes refused, ${s.days} days (all)`, `${s.conflicts.in_window} (${s.conflicts.total})`, "conflicts"),
    row(`refused by write hooks, ${s.days} days (all)`, `${s.refusals.in_window} (${s.refusals.total})`, "refusals")));
  const nearest = table(["nearest the size limit", "size", `of ${size(s.size_limit)}`], s.nearest_size_limit.map((f) =>
    h("tr", {}, h("td", { class: "mono" }, h("a", { href: storeHref(store.id, "files", { path: f.path }) }, f.path)),
      h("td", { class: "num" }, size(f.bytes)), h("td", { class: "num" }, `${(f.share * 100).toFixed(1)}%`))), { id: "nearest" });
  const idle = s.idle_paths.length ? h("p", { class: "muted", id: "idle" }, "idle: ", s.idle_paths.join(", ")) : null;
  const dreams = s.dreams.length ? table(["dream", "created", "status", "review", "changes"], s.dreams.map((d) => h("tr", {},
    h("td", { class: "mono" }, h("a", { href: `#/d/${d.id}` }, d.id)), h("td", {}, when(d.created_at)), h("td", {}, d.status),
    h("td", {}, d.review), h("td", { class: "num" }, d.changes))), { id: "health-dreams" })
    : h("p", { class: "muted" }, "No dream yet.");
  return h("div", { id: "health" }, chart, figures, nearest, idle, h("h2", {}, "Dreams"), dreams);
}

// ------------------------------------------------------------------ dreams

async function dreamsTab(store) {
  const { data } = await get("/v1/dreams", { limit: 100, include_archived: "true" });
  const mine = data.filter((d) => d.inputs.some((i) => i.memory_store_id === store.id));
  if (!mine.length) return h("p", { class: "muted", id: "dreams" }, "No dream of this store yet (memfs dream run).");
  return table(["dream", "status", "review", "engine", "changes", "created", "report"], mine.map((d) => h("tr", { "data-dream": d.id },
    h("td", { class: "mono" }, h("a", { href: `#/d/${d.id}`, class: "dream-link" }, d.id)), h("td", {}, d.status),
    h("td", {}, h("span", { class: `review ${d.memfs.review}` }, d.memfs.review)), h("td", {}, d.memfs.engine),
    h("td", { class: "num" }, d.memfs.changes), h("td", {}, when(d.created_at)),
    h("td", { class: "muted" }, (d.memfs.report || "").split("\n")[0]))), { id: "dreams" });
}

// one hunk of a unified diff as two columns: old lines left, new lines right, changed runs paired
function sideBySide(diffText) {
  const rows = [];
  let dels = [], adds = [], oldN = 0, newN = 0;
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) {
      const d = dels[i], a = adds[i];
      rows.push(h("tr", {},
        h("td", { class: "num muted" }, d ? d[0] : ""), h("td", { class: d ? "code del" : "code empty" }, d ? d[1] : ""),
        h("td", { class: "num muted" }, a ? a[0] : ""), h("td", { class: a ? "code add" : "code empty" }, a ? a[1] : "")));
    }
    dels = [];
    adds = [];
  };
  for (const line of diffText.split("\n")) {
    const m = /^@@ -(\d+)(?:,\d+)? \+(\d+)/.exec(line);
    if (m) { flush(); oldN = +m[1]; newN = +m[2]; continue; }
    if (line.startsWith("-")) dels.push([oldN++, line.slice(1)]);
    else if (line.startsWith("+")) adds.push([newN++, line.slice(1)]);
    else if (line.startsWith(" ")) {
      flush();
      rows.push(h("tr", {}, h("td", { class: "num muted" }, oldN++), h("td", { class: "code" }, line.slice(1)),
        h("td", { class: "num muted" }, newN++), h("td", { class: "code" }, line.slice(1))));
    }
  }
  flush();
  return h("table", { class: "sbs" }, h("tbody", {}, rows));
}

function annotation(a) {
  return h("div", { class: "why" },
    h("p", {}, h("strong", {}, "why: "), a.reason, " ", h("span", { class: "kind" }, `[${a.kind}]`)),
    (a.evidence || []).length ? h("ul", { class: "evidence" }, a.evidence.map((e) => h("li", {},
      [e.session && `session ${e.session}`, e.agent && `agent ${e.agent}`, e.ref,
        e.revision !== undefined && e.revision !== null && `revision ${e.revision}`, e.note]
        .filter(Boolean).join(", ")))) : null);
}

async function dreamView(id) {
  const d = await get(`/v1/dreams/${encodeURIComponent(id)}`);
  const sid = d.inputs.find((i) => i.type === "memory_store").memory_store_id;
  const store = await get(`/v1/memory_stores/${sid}`);
  crumbs(h("a", { href: storeHref(sid, "files") }, store.name), h("a", { href: storeHref(sid, "dreams") }, "dreams"),
    h("span", { class: "mono" }, d.id));
  const head = h("div", { class: "dream-head" }, h("h1", {}, "Dream ", h("span", { class: "mono" }, d.id)),
    h("p", {}, `${d.status} · review: `, h("span", { id: "dream-review", class: `review ${d.memfs.review}` }, d.memfs.review),
      ` · engine ${d.memfs.engine} · base revision ${d.memfs.base_revision ?? "—"} · ${when(d.created_at)}`),
    d.memfs.report ? h("pre", { class: "report" }, d.memfs.report) : null);
  if (d.status !== "completed") return h("section", { id: "dream", "data-dream": d.id }, head);
  const diff = await get(`/v1/dreams/${encodeURIComponent(id)}/diff`);
  const rw = canWrite(sid);
  const open = d.memfs.review !== "rejected";
  const pending = diff.files.filter((f) => !f.state || f.state === "conflict");
  const applied = diff.files.some((f) => f.state && f.state !== "conflict" && f.state !== "reverted");
  const files = diff.files.map((f) => h("article", { class: "dream-file", "data-path": f.path },
    h("h3", {}, rw && open && (!f.state || f.state === "conflict")
      ? h("input", { type: "checkbox", class: "write pick", value: f.path, "aria-label": `select ${f.path}` }) : null,
    " ", h("span", { class: `action ${f.action}` }, f.action), " ", h("span", { class: "mono" }, f.path),
    f.state ? h("span", { class: `state ${f.state}` }, f.state) : null),
    f.conflict ? h("p", { class: "error" }, f.conflict) : null,
    f.hunks.map((hk) => h("div", { class: "hunk" }, h("p", { class: "mono muted" }, hk.header),
      hk.annotations.map(annotation), sideBySide(hk.diff))),
    !f.hunks.length ? f.annotations.map(annotation) : null));
  const picked = () => [...document.querySelectorAll("input.pick:checked")].map((x) => x.value);
  const apply = (paths) => async () => {
    const r = await post(`/v1/dreams/${d.id}/apply`, paths ? { paths } : {});
    const bad = r.conflicts.map((c) => `${c.path}: ${c.reason}`);
    return `applied ${r.applied.length} file(s)${r.already.length ? `, ${r.already.length} already there` : ""}` +
      (bad.length ? `; conflicts: ${bad.join("; ")}` : "");
  };
  const controls = rw ? h("div", { class: "controls", id: "dream-controls" },
    open && pending.length ? action("Apply all", { class: "write", id: "btn-apply-all" }, apply(null)) : null,
    open && pending.length ? action("Apply selected", { class: "write", id: "btn-apply-selected" }, async () => {
      const p = picked();
      if (!p.length) throw new Error("select at least one file");
      return apply(p)();
    }) : null,
    open && !applied ? action("Reject", { class: "write danger", id: "btn-reject" }, async () => {
      await post(`/v1/dreams/${d.id}/reject`);
      return "proposal rejected";
    }) : null,
    applied ? action("Revert", { class: "write danger", id: "btn-revert" }, async () => {
      const r = await post(`/v1/dreams/${d.id}/revert`, {});
      return `reverted ${r.reverted.length} file(s)` + (r.conflicts.length ? `; left alone: ${r.conflicts.map((c) => c.path).join(", ")}` : "");
    }) : null) : null;
  return h("section", { id: "dream", "data-dream": d.id }, head, controls,
    diff.files.length ? files : h("p", { class: "muted" }, "The dream proposes no change."));
}

// ------------------------------------------------------------------ start

window.addEventListener("hashchange", () => route());
document.addEventListener("DOMContentLoaded", () => route());
