// The browser view of a resonance-callback Tiled server: runs, a run's streams, a stream's
// line plot and frames. The location's hash is the node's path: #/uid/primary.

import { NeedKey, forgetKey, getJson, keepKey, storedKey } from "./api.js";
import { el, fill } from "./draw.js";
import { streamView } from "./stream.js";

const main = document.getElementById("main");
const crumbs = document.getElementById("crumbs");
const forget = document.getElementById("forget-key");
const PAGE_SIZE = 50;
let rendering = 0;

function href(parts) {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

function currentParts() {
  const hash = window.location.hash.replace(/^#\/?/, "");
  if (!hash) return [];
  try {
    return hash.split("/").filter((p) => p !== "").map(decodeURIComponent);
  } catch (_) {
    return [];
  }
}

function when(timestamp) {
  if (typeof timestamp !== "number") return "";
  const d = new Date(timestamp * 1000);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())} `
    + `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

const STATUS_CLASS = { success: "ok", abort: "bad", fail: "bad" };

function statusCell(status) {
  const text = status === null || status === undefined ? "running" : String(status);
  return el("td", { class: "exit-status " + (STATUS_CLASS[text] || "other") }, text);
}

function showCrumbs(parts) {
  crumbs.replaceChildren(el("a", { href: "#/" }, "runs"));
  parts.forEach((part, i) => {  // a uid shortened to its first 8 characters, as in the list
    const shown = /^[0-9a-f]{8}-[0-9a-f-]{27}$/i.test(part) ? part.slice(0, 8) : part;
    crumbs.append(" / ", el("a", { href: href(parts.slice(0, i + 1)), title: part }, shown));
  });
}

function specNames(attributes) {
  return (attributes.specs || []).map((s) => s.name);
}

function runRow(parts, item) {
  const md = item.attributes.metadata || {};
  const s = md.selected || md.summary || {};
  const to = href([...parts, item.id]);
  const row = el("tr", { class: "run", "data-uid": item.id },
    el("td", { class: "scan-id" }, el("a", { href: to }, s.scan_id ?? "")),
    el("td", { class: "plan" }, s.plan_name ?? ""),
    el("td", { class: "sample" }, s.sample ?? ""),
    el("td", { class: "start", title: s.datetime ?? "" }, when(s.timestamp)),
    statusCell(s.exit_status),
    el("td", { class: "uid" }, el("a", { href: to }, String(item.id).slice(0, 8))));
  row.addEventListener("click", (event) => {
    if (!(event.target instanceof HTMLAnchorElement)) window.location.hash = to;
  });
  return row;
}

function otherRow(parts, item) {
  return el("tr", { class: "node", "data-key": item.id },
    el("td", { colspan: 6 }, el("a", { href: href([...parts, item.id]) }, item.id + "/"),
       " ", item.attributes.structure_family));
}

async function listView(parts, mine) {
  const { meta } = await getJson("search", parts, [["page[limit]", "0"]]);
  const total = meta && Number.isInteger(meta.count) ? meta.count : 0;
  const body = el("tbody");
  const more = el("button", { type: "button", class: "older" }, "Older runs");
  const counted = el("p", { class: "count" }, `${total} entries, newest first`);
  const table = el("table", { class: "runs" },
    el("thead", {}, el("tr", {}, ...["scan_id", "plan", "sample", "start", "exit status",
                                      "uid"].map((h) => el("th", {}, h)))), body);
  fill(main, counted, table, more);
  let shown = 0;
  async function older() {
    const end = total - shown;
    const start = Math.max(0, end - PAGE_SIZE);
    more.hidden = true;
    if (end <= 0) return;
    const page = await getJson("search", parts, [
      ["page[offset]", String(start)], ["page[limit]", String(end - start)],
      ["fields", "metadata"], ["fields", "specs"], ["fields", "structure_family"],
      ["select_metadata", "summary"]]);
    if (mine !== rendering) return;
    for (const item of page.data.slice().reverse()) {
      const isRun = specNames(item.attributes).includes("BlueskyRun");
      body.append(isRun ? runRow(parts, item) : otherRow(parts, item));
    }
    shown += end - start;
    more.hidden = shown >= total;
  }
  more.addEventListener("click", () => older().catch(failed));
  await older();
}

async function runView(parts, node, mine) {
  const md = node.attributes.metadata || {};
  const s = md.summary || {};
  const start = md.start || {};
  const stop = md.stop || {};
  const streams = await getJson("search", parts, [["fields", "specs"], ["page[limit]", "100"]]);
  if (mine !== rendering) return;
  const facts = [["scan_id", s.scan_id], ["plan", s.plan_name], ["sample", s.sample],
                 ["start", `${when(s.timestamp)} (${s.datetime ?? ""})`],
                 ["duration", typeof s.duration === "number" ? `${s.duration.toFixed(1)} s` : ""],
                 ["exit status", s.exit_status ?? "running"], ["reason", stop.reason || null],
                 ["uid", s.uid ?? parts[parts.length - 1]]];
  const list = el("dl", { class: "run-facts" });
  for (const [name, value] of facts) {
    if (value === null || value === undefined) continue;
    list.append(el("dt", {}, name), el("dd", { "data-fact": name }, value));
  }
  const counts = stop.num_events || {};
  const names = el("ul", { class: "streams" });
  for (const item of streams.data) {
    const n = counts[item.id];
    names.append(el("li", { "data-stream": item.id },
                    el("a", { href: href([...parts, item.id]) }, item.id),
                    n === undefined ? null : ` (${n} events)`));
  }
  fill(main, 
    el("h2", {}, `Scan ${s.scan_id ?? "?"}: ${s.plan_name ?? ""}`), list,
    el("h3", {}, "Streams"), names,
    el("details", {}, el("summary", {}, "Start document"),
       el("pre", {}, JSON.stringify(start, null, 2))));
}

function keyPrompt(message) {
  const input = el("input", { type: "password", id: "api-key", name: "api-key",
                              autocomplete: "off", required: "" });
  const form = el("form", { class: "key-prompt" },
    el("h2", {}, "API key"),
    el("p", {}, "This server was started with --api-key. Enter the key to see its runs; "
              + "it is kept in this browser tab only."),
    message ? el("p", { class: "error", role: "alert" }, message) : null,
    el("label", { for: "api-key" }, "Key "), input,
    el("button", { type: "submit" }, "Open"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    keepKey(input.value.trim());
    render();
  });
  fill(main, form);
  input.focus();
}

function failed(error) {
  if (error instanceof NeedKey) {
    forgetKey();
    forget.hidden = true;
    keyPrompt(error.hadKey ? "The key was not accepted; check it and try again." : null);
  } else {
    fill(main, el("p", { class: "error", role: "alert" }, error.message));
  }
}

async function render() {
  const mine = ++rendering;
  const parts = currentParts();
  showCrumbs(parts);
  fill(main, el("p", { class: "loading" }, "Loading\u2026"));
  try {
    const node = (await getJson("metadata", parts)).data;
    forget.hidden = !storedKey();
    if (mine !== rendering) return;
    const specs = specNames(node.attributes);
    if (specs.includes("BlueskyRun")) await runView(parts, node, mine);
    else if (specs.includes("BlueskyEventStream")) {
      await streamView(main, parts, node, () => mine === rendering);
    }
    else if (node.attributes.structure_family === "container") await listView(parts, mine);
    else fill(main, el("p", {}, `${parts.join("/")} is a ${
      node.attributes.structure_family}; open its stream to see it.`));
  } catch (error) {
    if (mine === rendering) failed(error);
  }
}

forget.addEventListener("click", () => { forgetKey(); render(); });
window.addEventListener("hashchange", render);
render();
