// A stream: its scalar fields drawn as a line (y against x, chosen from the descriptor's
// hints and the start's hints.dimensions) and its frames stepped through.

import { getJson } from "./api.js";
import { el, fill, frameStepper, linePlot } from "./draw.js";

const NUMERIC = new Set(["number", "integer", "boolean"]);

function scalarColumns(columns, dataKeys) {
  return columns.filter((c) => {
    const key = dataKeys[c];
    if (c === "seq_num" || c === "time") return true;
    return key && NUMERIC.has(key.dtype) && (!key.shape || key.shape.length === 0);
  });
}

// The fields the descriptor hints (what BestEffortCallback plots), among the columns.
function hinted(hints, columns) {
  const out = [];
  for (const entry of Object.values(hints || {})) {
    for (const field of (entry && Array.isArray(entry.fields)) ? entry.fields : []) {
      if (columns.includes(field) && !out.includes(field)) out.push(field);
    }
  }
  return out;
}

// The start's first dimension of this stream whose field is a column, else seq_num.
function dimension(start, stream, columns) {
  const dims = start && start.hints && Array.isArray(start.hints.dimensions)
    ? start.hints.dimensions : [];
  for (const dim of dims) {
    if (!Array.isArray(dim) || dim[1] !== stream || !Array.isArray(dim[0])) continue;
    for (const field of dim[0]) if (columns.includes(field)) return field;
  }
  return "seq_num";
}

function choice(id, label, options, chosen) {
  const select = el("select", { id, name: id });
  for (const option of options) {
    const item = el("option", { value: option }, option);
    if (option === chosen) item.selected = true;
    select.append(item);
  }
  return [el("label", { for: id }, label), select];
}

async function plotSection(parts, table, dataKeys, hints, start) {
  const columns = scalarColumns(table.attributes.structure.columns, dataKeys);
  const ys = columns.filter((c) => c !== "seq_num" && c !== "time");
  if (ys.length === 0) return el("p", {}, "No scalar fields to draw.");
  const stream = parts[parts.length - 1];
  const [xLabel, xSelect] = choice("x-field", "x ", columns, dimension(start, stream, columns));
  const yFields = hinted(hints, ys).filter((f) => f !== xSelect.value);
  const [yLabel, ySelect] = choice("y-field", " y ", ys, yFields[0] || ys[0]);
  const holder = el("div", { class: "plot-holder" });
  const parted = table.attributes.structure.npartitions > 1;
  async function draw() {
    const x = xSelect.value, y = ySelect.value;
    const route = parted ? "table/partition" : "table/full";
    const params = [["format", "application/json"], ["column", x], ["column", y]];
    if (parted) params.push(["partition", "0"]);
    const data = await getJson(route, [...parts, "internal"], params);
    let xs = data[x] || [], xName = x;
    if (x === "time" && xs.length > 0) {  // seconds since the first event, not since 1970
      const first = Number(xs[0]);
      xs = xs.map((t) => Number(t) - first);
      xName = "time (s since the first event)";
    }
    fill(holder, linePlot(xs, data[y] || [], xName, y),
      parted ? el("p", { class: "note" }, "The first partition of the events is drawn.") : null);
  }
  const redraw = () => draw().catch((error) => fill(holder,
    el("p", { class: "error", role: "alert" }, error.message)));
  xSelect.addEventListener("change", redraw);
  ySelect.addEventListener("change", redraw);
  await draw();
  return el("section", { class: "scalars" }, el("h3", {}, "Line plot"),
            el("div", { class: "controls" }, xLabel, xSelect, yLabel, ySelect), holder);
}

// Draws the stream's page into main, unless current() says the user went elsewhere meanwhile.
export async function streamView(main, parts, node, current) {
  const md = node.attributes.metadata || {};
  const [children, run] = await Promise.all([
    getJson("search", parts, [["fields", "structure_family"], ["fields", "structure"],
                              ["page[limit]", "300"]]),
    getJson("metadata", parts.slice(0, -1))]);
  const runMd = run.data.attributes.metadata || {};
  const start = runMd.start || {};
  const summary = runMd.summary || {};
  const sections = [];
  const others = el("ul", { class: "other-fields" });
  for (const child of children.data) {
    const a = child.attributes;
    const shape = a.structure && Array.isArray(a.structure.shape) ? a.structure.shape : null;
    if (child.id === "internal" && a.structure_family === "table") {
      sections.push(await plotSection(parts, child, md.data_keys || {}, md.hints, start));
    } else if (a.structure_family === "array" && shape && shape.length >= 3 && shape[0] > 0) {
      sections.push(frameStepper(parts, child.id, shape));
    } else {
      others.append(el("li", {}, `${child.id}: ${a.structure_family}`
                       + (shape ? ` (${shape.join(" \u00d7 ")})` : "")));
    }
  }
  if (!current()) return;
  const about = summary.scan_id === undefined ? ""
    : `Scan ${summary.scan_id} (${summary.plan_name ?? ""}, ${summary.sample ?? "no sample"}): `;
  fill(main, el("h2", {}, `${about}stream ${parts[parts.length - 1]}`), ...sections,
    others.childElementCount ? el("h3", {}, "Other fields") : null,
    others.childElementCount ? others : null);
}
