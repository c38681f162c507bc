// The Tessera admin console: a small single-page app over the kernel's
// admin API. No framework, no build step, no network beyond this kernel.
// Every value from the server is inserted as text, never as HTML.
"use strict";

const state = { me: null, plugins: [], roles: [] };

// ---------- DOM helpers ----------

/** An element with attributes and children (strings become text nodes). */
function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (value === true) node.setAttribute(name, "");
    else node.setAttribute(name, String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function say(message, kind = "ok") {
  const status = document.getElementById("status");
  status.textContent = message;
  status.className = `status ${kind}`;
}

function table(headers, rows) {
  return el("div", { class: "table-wrap" },
    el("table", {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.length
        ? rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", {}, cell))))
        : el("tr", {}, el("td", { colspan: headers.length }, "Nothing here yet.")))));
}

function pill(on, yes, no) {
  return el("span", { class: `pill ${on ? "on" : "off"}` }, on ? yes : no);
}

function when(ms) {
  if (!ms) return "";
  const date = new Date(typeof ms === "number" && ms < 1e12 ? ms * 1000 : ms);
  return isNaN(date) ? String(ms) : date.toLocaleString();
}

// ---------- API ----------

function csrf() {
  const match = document.cookie.match(/(?:^|;\s*)tessera_csrf=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

/** Calls the kernel; resolves to the JSON answer, rejects with its error. */
async function api(method, path, body, contentType = "application/json") {
  const headers = {};
  if (method !== "GET" && method !== "HEAD") headers["x-csrf-token"] = csrf();
  let payload;
  if (body !== undefined) {
    headers["content-type"] = contentType;
    payload = contentType === "application/json" ? JSON.stringify(body) : body;
  }
  const response = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    const error = (data && data.error) || { code: String(response.status), message: text };
    const failure = new Error(`${error.message} (${error.code})`);
    failure.code = error.code;
    failure.status = response.status;
    throw failure;
  }
  return data;
}

async function attempt(action, done) {
  try {
    const result = await action();
    if (done) say(done, "ok");
    return result;
  } catch (error) {
    say(error.message, "error");
    return undefined;
  }
}

// ---------- navigation ----------

const sections = [
  ["plugins", "Plugins"], ["install", "Install"], ["users", "Users"], ["roles", "Roles"],
  ["audit", "Audit log"], ["events", "Event bus"], ["jobs", "Jobs"],
];

/** Whether the signed-in user's grants (`*`, `cms.*`, `cms.entry.read`) cover `permission`. */
function holds(permission) {
  if (!permission) return true;
  const grants = (state.me && state.me.grants) || [];
  return grants.some((grant) => grant === "*" || grant === permission
    || (grant.endsWith(".*") && permission.startsWith(grant.slice(0, -1))));
}

function renderNav() {
  const nav = document.getElementById("nav");
  const current = location.hash.slice(2) || "plugins";
  const links = sections.map(([key, label]) =>
    el("a", { href: `#/${key}`, "aria-current": current === key ? "page" : false }, label));
  state.plugins.forEach((plugin) => (plugin.console || []).forEach((page, index) => {
    if (!plugin.enabled || !holds(page.permission)) return;
    const key = `page/${plugin.id}/${index}`;
    links.push(el("a", { href: `#/${key}`, "aria-current": current === key ? "page" : false },
      `${plugin.name}: ${page.title}`));
  }));
  links.push(el("a", { href: "#/signout" }, "Sign out"));
  nav.replaceChildren(...links);
  nav.hidden = false;
}

async function route() {
  if (!state.me) return;
  const key = location.hash.slice(2) || "plugins";
  renderNav();
  const view = document.getElementById("view");
  view.hidden = false;
  const [name, ...rest] = key.split("/");
  const views = { plugins, install, users, roles, audit, events, jobs, page, signout };
  const render = views[name] || plugins;
  view.replaceChildren(el("p", {}, "Loading…"));
  try {
    view.replaceChildren(...[await render(...rest)].flat());
  } catch (error) {
    view.replaceChildren(el("div", { class: "card" }, el("h1", {}, "Cannot show this"), el("p", {}, error.message)));
  }
  document.getElementById("main").focus();
}

// ---------- views ----------

/** Traps and latency per plugin, read from the Prometheus metrics. */
async function health() {
  const text = await fetch("/metrics").then((r) => (r.ok ? r.text() : ""), () => "");
  const failures = {}, sums = {}, counts = {};
  for (const line of text.split("\n")) {
    let m = line.match(/^tessera_plugin_failures_total\{plugin="([^"]+)",kind="([^"]+)"\} (\S+)/);
    if (m) { failures[m[1]] = (failures[m[1]] || 0) + Number(m[3]); continue; }
    m = line.match(/^tessera_http_request_duration_seconds_(sum|count)\{route="([^"]+)"\} (\S+)/);
    if (m) (m[1] === "sum" ? sums : counts)[m[2].replace(/^\/api\//, "")] = Number(m[3]);
  }
  return { failures, sums, counts };
}

async function plugins() {
  const [{ plugins: list }, metrics] = await Promise.all([api("GET", "/admin/plugins"), health()]);
  state.plugins = list;
  renderNav();
  const rows = list.map((p) => {
    const requests = metrics.counts[p.mount] || 0;
    const latency = requests ? `${((metrics.sums[p.mount] / requests) * 1000).toFixed(1)} ms avg` : "no requests";
    const traps = metrics.failures[p.id] || 0;
    const act = (label, path, confirmText, css = "quiet") => el("button", {
      class: css, type: "button",
      onclick: async () => {
        if (confirmText && !confirm(confirmText)) return;
        await attempt(() => api(label === "Uninstall" ? "DELETE" : "POST", path), `${label}: ${p.id} done`);
        route();
      },
    }, label);
    return [
      el("div", {}, el("strong", {}, p.name), el("br"), el("code", {}, p.id)),
      [p.version, p.previous ? el("div", {}, el("small", {}, `previous ${p.previous}`)) : null],
      pill(p.enabled, "enabled", "disabled"),
      p.verified,
      el("ul", { class: "caps" }, (p.capabilities || []).map((c) => el("li", {}, c))),
      el("div", {}, `${traps} failures`, el("br"), `${requests} requests, ${latency}`),
      el("div", {},
        p.enabled ? act("Disable", `/admin/plugins/${p.id}/disable`) : act("Enable", `/admin/plugins/${p.id}/enable`),
        p.previous ? act("Roll back", `/admin/plugins/${p.id}/rollback`, `Roll ${p.id} back to ${p.previous}?`) : null,
        act("Uninstall", `/admin/plugins/${p.id}`, `Uninstall ${p.id}? Its data is kept.`, "danger")),
    ];
  });
  return el("section", { class: "card" },
    el("h1", {}, "Installed plugins"),
    table(["Plugin", "Version", "State", "Verified", "Capabilities", "Health", "Actions"], rows));
}

function install() {
  const review = el("div", { id: "review" });
  const input = el("input", { id: "package", type: "file", accept: ".tpkg" });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const file = input.files[0];
      if (!file) return say("Choose a package file (.tpkg) first.", "error");
      const bytes = await file.arrayBuffer();
      const info = await attempt(() => api("POST", "/admin/plugins/inspect", bytes, "application/octet-stream"));
      if (info) review.replaceChildren(reviewCard(info, bytes));
    },
  }, el("label", { for: "package" }, "Package (.tpkg)"), input, el("button", { type: "submit" }, "Review"));
  return [el("section", { class: "card" }, el("h1", {}, "Install or upgrade a plugin"),
    el("p", {}, "Upload a package: you will see what it may do and who signed it before anything is installed."), form), review];
}

function reviewCard(info, bytes) {
  const caps = info.capabilities;
  const listed = [];
  if (caps.storage) listed.push("its own storage");
  caps.events.publish.forEach((t) => listed.push(`publish events ${t}`));
  caps.events.subscribe.forEach((t) => listed.push(`receive events ${t}`));
  caps.outbound.forEach((o) => listed.push(`call ${o}`));
  caps.invoke.forEach((i) => listed.push(`call plugin ${i}`));
  caps.permissions.forEach((p) => listed.push(`define permission ${p}`));
  const signer = info.signature
    ? `${info.verification === "trusted" ? "trusted" : "NOT trusted"}: ${info.signature.trusted_as || info.signature.fingerprint}`
    : "unsigned";
  const untrusted = info.verification !== "trusted";
  const allow = el("input", { id: "allow-untrusted", type: "checkbox" });
  const upgrade = Boolean(info.installed_version);
  const go = async () => {
    const query = `?consent=true${untrusted && allow.checked ? "&allow-untrusted=true" : ""}`;
    const path = upgrade ? `/admin/plugins/${info.plugin.id}/upgrade${query}` : `/admin/plugins${query}`;
    const done = await attempt(() => api("POST", path, bytes, "application/octet-stream"),
      `${upgrade ? "Upgraded" : "Installed"} ${info.plugin.id} ${info.plugin.version}`);
    if (done) location.hash = "#/plugins";
  };
  return el("section", { class: "card", "aria-labelledby": "review-title" },
    el("h2", { id: "review-title" }, `${info.plugin.name} ${info.plugin.version}`),
    el("p", {}, el("code", {}, info.plugin.id), ` mounted at /api/${info.plugin.mount}/ — ${info.plugin.description}`),
    el("p", {}, el("strong", {}, "Signer: "), signer),
    upgrade ? el("p", {}, `Installed now: ${info.installed_version}; this upgrades it.`) : null,
    el("h2", {}, "It may"),
    el("ul", { class: "caps", id: "capabilities" }, listed.length ? listed.map((c) => el("li", {}, c)) : el("li", {}, "nothing beyond answering requests")),
    untrusted ? el("p", {}, allow, el("label", { for: "allow-untrusted", style: "display:inline" }, " Install although the signer is not trusted (development only)")) : null,
    el("button", { type: "button", onclick: go }, upgrade ? "Upgrade" : "Install"),
    el("button", { type: "button", class: "quiet", onclick: () => location.reload() }, "Cancel"));
}

async function users() {
  const [{ users: list }, { roles: roleList }] = await Promise.all([api("GET", "/admin/users"), api("GET", "/admin/roles")]);
  const roleNames = roleList.map((r) => r.name || r);
  const rows = list.map((u) => {
    const select = el("select", { "aria-label": `Role to grant ${u.username}` }, roleNames.map((r) => el("option", {}, r)));
    return [
      el("div", {}, el("strong", {}, u.username), el("br"), el("small", {}, u.display_name || "")),
      (u.roles || []).map((r) => el("span", {}, el("span", { class: "pill" }, r),
        el("button", { type: "button", class: "quiet", "aria-label": `Revoke ${r} from ${u.username}`,
          onclick: async () => { await attempt(() => api("DELETE", `/admin/users/${u.id}/roles/${r}`), `Revoked ${r}`); route(); } }, "×"))),
      pill(!u.locked, "active", "locked"),
      el("div", {}, select,
        el("button", { type: "button", onclick: async () => { await attempt(() => api("PUT", `/admin/users/${u.id}/roles/${select.value}`), `Granted ${select.value} to ${u.username}`); route(); } }, "Grant"),
        el("button", { type: "button", class: "quiet", onclick: async () => { await attempt(() => api("POST", `/admin/users/${u.id}/${u.locked ? "unlock" : "lock"}`), "Done"); route(); } }, u.locked ? "Unlock" : "Lock")),
    ];
  });
  const name = el("input", { id: "new-username", required: true });
  const password = el("input", { id: "new-password", type: "password", required: true, minlength: 8 });
  const create = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const made = await attempt(() => api("POST", "/admin/users", { username: name.value, password: password.value }), `Created ${name.value}`);
      if (made) route();
    },
  }, el("label", { for: "new-username" }, "Username"), name, el("label", { for: "new-password" }, "Password"), password,
    el("button", { type: "submit" }, "Create user"));
  return [el("section", { class: "card" }, el("h1", {}, "Users"), table(["User", "Roles", "State", "Actions"], rows)),
    el("section", { class: "card" }, el("h2", {}, "New user"), create)];
}

async function roles() {
  const [{ roles: list }, { permissions }] = await Promise.all([api("GET", "/admin/roles"), api("GET", "/admin/permissions")]);
  const rows = list.map((r) => [el("strong", {}, r.name), el("ul", { class: "caps" }, (r.permissions || []).map((p) => el("li", {}, p)))]);
  const name = el("input", { id: "role-name", required: true });
  const boxes = permissions.map((p) => {
    const id = `perm-${(p.name || p).replace(/[^a-z0-9]/gi, "-")}`;
    return el("div", {}, el("input", { type: "checkbox", id, value: p.name || p, style: "width:auto" }),
      el("label", { for: id, style: "display:inline;font-weight:400" }, ` ${p.name || p}${p.description ? ` — ${p.description}` : ""}`));
  });
  const form = el("form", {
    onsubmit: async (event) => {
      event.preventDefault();
      const chosen = boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      const saved = await attempt(() => api("PUT", `/admin/roles/${encodeURIComponent(name.value)}`, { permissions: chosen }), `Saved role ${name.value}`);
      if (saved) route();
    },
  }, el("label", { for: "role-name" }, "Role name"), name, el("fieldset", {}, el("legend", {}, "Permissions"), boxes),
    el("button", { type: "submit" }, "Save role"));
  return [el("section", { class: "card" }, el("h1", {}, "Roles"), table(["Role", "Permissions"], rows)),
    el("section", { class: "card" }, el("h2", {}, "Create or replace a role"), form)];
}

async function audit() {
  const { events: list } = await api("GET", "/admin/audit?limit=200");
  const rows = list.map((e) => [when(e.at || e.time), e.actor, e.action, e.target || "", e.address || ""]);
  return el("section", { class: "card" }, el("h1", {}, "Audit log"), table(["When", "Who", "What", "Target", "From"], rows));
}

async function events() {
  const [{ subscriptions, last_seq: last }, { dead_letters: dead }, { topics }, retention] = await Promise.all([
    api("GET", "/admin/events/subscriptions"), api("GET", "/admin/events/dead-letters"), api("GET", "/admin/events/topics"),
    api("GET", "/admin/events/retention")]);
  const subRows = subscriptions.map((s) => [el("code", {}, s.plugin), (s.patterns || []).join(", "), String(s.lag ?? ""),
    s.active ? "delivering" : "stopped", s.retrying || "", String(s.dead_letters ?? 0)]);
  const days = (retention.retention_seconds / 86400).toFixed(retention.retention_seconds % 86400 ? 2 : 0);
  const compact = el("button", { type: "button", onclick: async () => {
    const result = await attempt(() => api("POST", "/admin/events/compact"));
    if (result) { say(`Removed ${result.compaction.removed} expired events`, "ok"); route(); }
  } }, "Compact now");
  const deadRows = dead.map((d) => [el("code", {}, d.plugin), String(d.seq), d.topic, String(d.attempts), d.error || d.last_error || "",
    el("button", { type: "button", onclick: async () => { await attempt(() => api("POST", `/admin/events/dead-letters/${d.plugin}/${d.seq}/replay`), `Replayed ${d.topic}`); route(); } }, "Replay")]);
  const topicRows = topics.map((t) => [t.topic, String(t.count), String(t.last_seq ?? t.newest ?? "")]);
  return [
    el("section", { class: "card" }, el("h1", {}, "Event bus"), el("p", {}, `Last sequence number: ${last}`),
      el("p", {}, `Events are kept ${days} days once every running subscriber has handled them; the oldest still logged is `,
        retention.oldest_seq == null ? "none" : `#${retention.oldest_seq}`, ". ", compact),
      el("h2", {}, "Subscriptions"), table(["Plugin", "Patterns", "Lag", "State", "Retrying error", "Dead letters"], subRows)),
    el("section", { class: "card" }, el("h2", {}, "Dead letters"), table(["Plugin", "Seq", "Topic", "Attempts", "Error", ""], deadRows)),
    el("section", { class: "card" }, el("h2", {}, "Topics"), table(["Topic", "Events", "Newest"], topicRows)),
  ];
}

async function jobs() {
  const { jobs: list } = await api("GET", "/admin/jobs");
  const rows = list.map((j) => [el("code", {}, j.plugin), j.name, JSON.stringify(j.schedule), when(j.next_run || j.next_run_at),
    String(j.runs ?? ""), String(j.failures ?? ""), j.running ? "running" : ""]);
  return el("section", { class: "card" }, el("h1", {}, "Jobs"), table(["Plugin", "Name", "Schedule", "Next run", "Runs", "Failures", ""], rows));
}

/** A page a plugin declared in its manifest: its JSON list as a table. */
async function page(pluginId, index) {
  if (!state.plugins.length) state.plugins = (await api("GET", "/admin/plugins")).plugins;
  const plugin = state.plugins.find((p) => p.id === pluginId);
  const declared = plugin && (plugin.console || [])[Number(index)];
  if (!declared) throw new Error("this page is not declared by an enabled plugin");
  const data = await api("GET", `/api/${plugin.mount}${declared.path}`);
  const items = Array.isArray(data) ? data : (data && data[declared.items]) || [];
  const columns = [...new Set(items.flatMap((item) => (item && typeof item === "object" ? Object.keys(item) : ["value"])))].slice(0, 8);
  const show = (value) => {
    if (value === null || value === undefined) return "";
    if (typeof value === "object") { const text = JSON.stringify(value); return text.length > 120 ? `${text.slice(0, 117)}…` : text; }
    return String(value);
  };
  const rows = items.map((item) => columns.map((c) => show(item && typeof item === "object" ? item[c] : item)));
  return el("section", { class: "card" }, el("h1", {}, `${plugin.name}: ${declared.title}`),
    el("p", {}, el("small", {}, `GET /api/${plugin.mount}${declared.path}`)), table(columns, rows));
}

async function signout() {
  await attempt(() => api("POST", "/auth/logout"));
  location.hash = "";
  location.reload();
  return el("p", {}, "Signed out.");
}

// ---------- start ----------

async function start() {
  try {
    state.me = await api("GET", "/auth/me");
  } catch {
    state.me = null;
  }
  if (!state.me) {
    document.getElementById("login").hidden = false;
    document.getElementById("nav").hidden = true;
    document.getElementById("username").focus();
    return;
  }
  const user = state.me.user || state.me;
  document.getElementById("who").textContent = `Signed in as ${user.username}`;
  document.getElementById("login").hidden = true;
  route();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = { username: document.getElementById("username").value, password: document.getElementById("password").value };
  const code = document.getElementById("totp").value.trim();
  if (code) body.totp = code;
  const done = await attempt(() => api("POST", "/auth/login", body), "Signed in");
  if (done) start();
});
window.addEventListener("hashchange", route);
start();
