// The customer-portal starter page. It signs the buyer in, asks the
// personalisation plugin which blocks this buyer's segment sees (the
// experience `portal`), and fills each block from the headless APIs of
// the CMS, commerce, the ERP connector and IoT, as the signed-in buyer.
// Values from the server are inserted as text, never as HTML.
"use strict";

const DEFAULT_BLOCKS = [{ cms: "portal-welcome" }, { block: "orders" }, { block: "invoices" }];
const DASHBOARDS = { "technical-buyer": "Technical dashboard", "business-buyer": "Business dashboard" };

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === false || value === null || value === undefined) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
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
  status.className = kind;
}

function cookie(name) {
  const match = document.cookie.match(new RegExp(`(?:^|;\\s*)${name}=([^;]+)`));
  return match ? decodeURIComponent(match[1]) : "";
}

async function api(method, path, body, headers = {}) {
  const all = { ...headers };
  if (method !== "GET") all["x-csrf-token"] = cookie("tessera_csrf");
  if (body !== undefined) all["content-type"] = "application/json";
  const response = await fetch(path, { method, headers: all, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (!response.ok) {
    const error = (data && data.error) || { code: String(response.status), message: response.statusText };
    const failure = new Error(error.message);
    failure.code = error.code;
    failure.status = response.status;
    throw failure;
  }
  return data;
}

function money(amount, currency) {
  if (typeof amount !== "number") return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: currency || "EUR" }).format(amount / 100);
}

function day(value) {
  if (!value) return "";
  const date = new Date(typeof value === "number" ? value : Date.parse(value));
  return isNaN(date) ? String(value) : date.toLocaleDateString();
}

function table(headers, rows, empty) {
  if (!rows.length) return el("p", { class: "muted" }, empty);
  return el("div", { class: "table-wrap" }, el("table", {},
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", {}, cell)))))));
}

function card(title, id, ...content) {
  return el("section", { class: "card", id, "aria-labelledby": `${id}-title` }, el("h2", { id: `${id}-title` }, title), ...content);
}

function badge(text, kind) {
  return el("span", { class: `badge ${kind}` }, text);
}

// ---------- blocks ----------

async function cmsBlock(slug) {
  const entry = await api("GET", `/api/cms/delivery/page/${encodeURIComponent(slug)}`);
  const fields = entry.fields || {};
  const paragraphs = String(fields.body || "").split(/\n\s*\n/).filter(Boolean).map((text) => el("p", {}, text));
  const section = card(fields.title || slug, `cms-${slug}`, ...paragraphs);
  section.classList.add("wide");
  if (entry.variant) section.dataset.variant = entry.variant;
  return section;
}

async function devicesBlock() {
  const { items } = await api("GET", "/api/iot/me/devices");
  const rows = items.map((device) => {
    const readings = Object.entries(device.latest || {}).map(([metric, value]) =>
      `${metric}: ${typeof value === "object" && value !== null ? value.value : value}`).join(", ");
    return [device.name || device.id, device.type || "", device.online ? badge("online", "ok") : badge("offline", "bad"), readings];
  });
  return card("Your equipment", "devices", table(["Device", "Type", "Status", "Latest readings"], rows, "No devices registered for your company yet."));
}

async function companyOrders() {
  const { orders } = await api("GET", "/api/commerce/orders?limit=20");
  return orders || [];
}

async function consumablesBlock() {
  const orders = await companyOrders();
  const last = orders.find((order) => order.status !== "cancelled");
  if (!last) return card("Consumables", "consumables", el("p", { class: "muted" }, "No earlier order to re-order from."));
  const lines = last.lines.map((line) => [line.name, String(line.quantity), money(line.line_total, last.totals.currency)]);
  const reorder = el("button", { type: "button", onclick: async () => {
    try {
      const result = await api("POST", `/api/commerce/orders/${last.id}/reorder`);
      const skipped = (result && result.skipped) || [];
      const order = await api("POST", "/api/commerce/checkout", {
        shipping_address: last.shipping_address, billing_address: last.billing_address,
        shipping_method: last.shipping_method,
      }, { "idempotency-key": `reorder-${last.id}-${Date.now()}` });
      const placed = order.order || order;
      say(`Re-ordered: order ${placed.id} is ${placed.status}${skipped.length ? ` (${skipped.length} line(s) skipped)` : ""}.`);
      refresh();
    } catch (error) {
      say(`Re-order failed: ${error.message}`, "error");
    }
  } }, `Re-order ${last.id}`);
  return card("Consumables to re-order", "consumables", el("p", {}, `From your last order, ${last.id}:`),
    table(["Item", "Qty", "Total"], lines, ""), reorder);
}

async function ordersBlock() {
  const orders = await companyOrders();
  const rows = orders.map((order) => [order.id, day(order.history && order.history[0] && order.history[0].at),
    badge(order.status, order.status === "cancelled" ? "bad" : order.status === "placed" ? "warn" : "ok"),
    money(order.totals.total, order.totals.currency),
    order.status === "placed" ? el("button", { type: "button", onclick: () => pay(order) }, `Pay ${order.id}`) : ""]);
  const section = card("Orders", "orders", table(["Order", "Date", "Status", "Total", ""], rows, "No orders yet."));
  section.classList.add("wide");
  return section;
}

async function pay(order) {
  try {
    await api("POST", `/api/commerce/orders/${order.id}/pay`, { provider: "test", token: "tok_ok" });
    say(`Order ${order.id} is paid.`);
    refresh();
  } catch (error) {
    say(`Payment failed: ${error.message}`, "error");
  }
}

async function shipmentsBlock() {
  const orders = (await companyOrders()).filter((order) => ["fulfilled", "shipped", "delivered"].includes(order.status));
  const rows = orders.map((order) => [order.id, badge(order.status, "ok"), order.shipping_method,
    [order.shipping_address.city, order.shipping_address.country].filter(Boolean).join(", ")]);
  return card("Shipments", "shipments", table(["Order", "Status", "Method", "To"], rows, "Nothing on its way."));
}

async function invoicesBlock() {
  const [shop, erp] = await Promise.all([
    api("GET", "/api/commerce/invoices").then((answer) => answer.invoices || [], () => []),
    api("GET", "/api/erp/me/invoices").then((answer) => answer.items || [], () => []),
  ]);
  const rows = [
    ...shop.map((invoice) => [invoice.number, "web shop", day(invoice.issued_at), money(invoice.totals.total, invoice.totals.currency), badge("paid", "ok")]),
    ...erp.map((invoice) => [invoice.number, "ERP", day(invoice.date), money(invoice.total.amount, invoice.total.currency),
      badge(invoice.status, invoice.status === "paid" ? "ok" : "warn")]),
  ];
  return card("Invoices", "invoices", table(["Invoice", "From", "Issued", "Amount", "Status"], rows, "No invoices yet."));
}

const BLOCKS = { devices: devicesBlock, consumables: consumablesBlock, orders: ordersBlock, shipments: shipmentsBlock, invoices: invoicesBlock };

async function render(block) {
  try {
    if (block.cms) return await cmsBlock(block.cms);
    const make = BLOCKS[block.block];
    if (!make) return null;
    return await make();
  } catch (error) {
    return card("Unavailable", `broken-${block.block || block.cms}`, el("p", { class: "muted" }, error.message));
  }
}

// ---------- page ----------

async function refresh() {
  const dashboard = document.getElementById("dashboard");
  let experience = { segment: null, blocks: DEFAULT_BLOCKS };
  try {
    experience = await api("GET", "/api/cdp/experiences/portal");
  } catch { /* without personalisation: the default blocks */ }
  const title = DASHBOARDS[experience.segment] || "Your dashboard";
  const sections = await Promise.all((experience.blocks || DEFAULT_BLOCKS).map(render));
  dashboard.replaceChildren(el("h1", { "data-dashboard": experience.segment || "default" }, title), ...sections.filter(Boolean));
  dashboard.hidden = false;
}

async function start() {
  let me = null;
  try { me = await api("GET", "/auth/me"); } catch { me = null; }
  const signedIn = Boolean(me && me.user);
  document.getElementById("login").hidden = signedIn;
  document.getElementById("signout").hidden = !signedIn;
  document.getElementById("who").textContent = signedIn ? (me.user.display_name || me.user.username) : "";
  if (!signedIn) {
    document.getElementById("dashboard").hidden = true;
    document.getElementById("username").focus();
    return;
  }
  await refresh();
  document.getElementById("main").focus();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  try {
    await api("POST", "/auth/login", { username: document.getElementById("username").value, password: document.getElementById("password").value });
    // Tell the personalisation plugin who this browser is (merges the visit history).
    await api("POST", "/api/cdp/identify", {}).catch(() => null);
    say("Signed in.");
    start();
  } catch (error) {
    say(error.message, "error");
  }
});
document.getElementById("signout").addEventListener("click", async () => {
  await api("POST", "/auth/logout").catch(() => null);
  location.reload();
});
start();
