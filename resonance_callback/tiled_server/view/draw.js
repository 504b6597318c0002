// Building the page: elements with text only (never HTML from data), an SVG line plot
// and a frame stepper.

import { getBlob } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";

// Replace a node's children with the given ones, leaving out null and undefined.
export function fill(node, ...children) {
  node.replaceChildren(...children.filter((c) => c !== null && c !== undefined));
}

// An element with attributes and children; a string child is text (escaped by the DOM).
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (name === "onclick") node.addEventListener("click", value);
    else if (value !== null && value !== undefined) node.setAttribute(name, String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function svg(tag, attrs = {}, text = null) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== null) node.textContent = String(text);
  return node;
}

function ticks(low, high, n) {
  if (low === high) return [low];
  return Array.from({ length: n }, (_, i) => low + ((high - low) * i) / (n - 1));
}

function label(value) {
  return Math.abs(value) >= 1e5 || (value !== 0 && Math.abs(value) < 1e-3)
    ? value.toExponential(2) : String(Number(value.toPrecision(4)));
}

const MAX_POINTS = 20000;

// An SVG line of y against x (numbers; pairs with a non-finite value are left out), with
// axes, ticks and the fields' names. More than MAX_POINTS pairs are thinned evenly.
export function linePlot(xs, ys, xName, yName) {
  let pairs = [];
  for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
    const x = Number(xs[i]), y = Number(ys[i]);
    if (Number.isFinite(x) && Number.isFinite(y) && xs[i] !== null && ys[i] !== null) {
      pairs.push([x, y]);
    }
  }
  const drawn = pairs.length;
  if (pairs.length > MAX_POINTS) {
    const step = pairs.length / MAX_POINTS;
    pairs = Array.from({ length: MAX_POINTS }, (_, i) => pairs[Math.floor(i * step)]);
  }
  const W = 640, H = 360, L = 70, R = 20, T = 20, B = 50;
  const plot = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "plot", role: "img" });
  plot.append(svg("title", {}, `${yName} against ${xName}`));
  if (pairs.length === 0) {
    plot.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "no numbers to draw"));
    return plot;
  }
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const [x, y] of pairs) {
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  const px = (x) => L + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - L - R);
  const py = (y) => H - B - (y1 === y0 ? 0.5 : (y - y0) / (y1 - y0)) * (H - T - B);
  plot.append(svg("rect", { x: L, y: T, width: W - L - R, height: H - T - B, class: "frame" }));
  for (const t of ticks(x0, x1, 5)) {
    plot.append(svg("text", { x: px(t), y: H - B + 16, "text-anchor": "middle" }, label(t)));
  }
  for (const t of ticks(y0, y1, 5)) {
    plot.append(svg("text", { x: L - 6, y: py(t) + 4, "text-anchor": "end" }, label(t)));
  }
  plot.append(svg("text", { x: (L + W - R) / 2, y: H - 10, "text-anchor": "middle",
                            class: "axis-name" }, xName));
  plot.append(svg("text", { x: 14, y: (T + H - B) / 2, "text-anchor": "middle", class: "axis-name",
                            transform: `rotate(-90 14 ${(T + H - B) / 2})` }, yName));
  const points = pairs.map(([x, y]) => `${px(x).toFixed(2)},${py(y).toFixed(2)}`).join(" ");
  plot.append(svg("polyline", { points, class: "line", "data-points": pairs.length }));
  if (pairs.length <= 200) {
    for (const [x, y] of pairs) {
      plot.append(svg("circle", { cx: px(x).toFixed(2), cy: py(y).toFixed(2), r: 2.5,
                                  class: "point" }));
    }
  }
  const note = drawn > pairs.length ? ` (${pairs.length} of ${drawn} drawn)` : "";
  const figure = el("figure", { class: "line-plot" }, plot,
                    el("figcaption", {}, `${yName} against ${xName}: ${drawn} points${note}`));
  return figure;
}

// A field's frames, one at a time, as PNGs Tiled renders (its image/png serialization of
// an array slice), fetched with the key and shown through a blob: URL.
export function frameStepper(parts, field, shape) {
  const count = shape[0];
  const extra = shape.slice(1, -2).map(() => ",0").join(""); // a frame is the last two axes
  let index = 0, asked = 0, shownUrl = null;
  const image = el("img", { class: "frame-image", alt: `${field}, frame 1` });
  const counter = el("span", { class: "frame-counter" });
  const problem = el("p", { class: "error", role: "alert", hidden: "" });
  const slider = el("input", { type: "range", min: 0, max: Math.max(0, count - 1), value: 0,
                               "aria-label": `${field} frame` });
  const prev = el("button", { type: "button", class: "prev" }, "\u25c0 Previous");
  const next = el("button", { type: "button", class: "next" }, "Next \u25b6");

  async function show(i) {
    index = Math.max(0, Math.min(count - 1, i));
    slider.value = String(index);
    counter.textContent = `frame ${index + 1} / ${count}`;
    prev.disabled = index === 0;
    next.disabled = index >= count - 1;
    const mine = ++asked;
    try {
      const blob = await getBlob("array/full", [...parts, field],
                                 [["slice", `${index}${extra}`], ["format", "image/png"]]);
      if (mine !== asked) return;
      if (shownUrl) URL.revokeObjectURL(shownUrl);
      shownUrl = URL.createObjectURL(blob);
      image.src = shownUrl;
      image.alt = `${field}, frame ${index + 1}`;
      problem.hidden = true;
    } catch (error) {
      if (mine !== asked) return;
      problem.textContent = `Frame ${index + 1} of ${field}: ${error.message}`;
      problem.hidden = false;
    }
  }
  prev.addEventListener("click", () => show(index - 1));
  next.addEventListener("click", () => show(index + 1));
  slider.addEventListener("input", () => show(Number(slider.value)));
  show(0);
  return el("section", { class: "frames", "data-field": field },
            el("h3", {}, `${field} (${shape.join(" \u00d7 ")})`),
            el("div", { class: "controls" }, prev, slider, next, counter),
            problem, image);
}
