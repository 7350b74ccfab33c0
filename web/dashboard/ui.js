// Pieces every page uses: building elements, times, status badges, progress bars, tables.
// Text always goes in as text nodes, never parsed as HTML, so a payload cannot inject markup.

export const STATUSES = [
  "scheduled",
  "queued",
  "running",
  "retrying",
  "completed",
  "dead",
  "canceled",
];
export const FINAL = new Set(["completed", "dead", "canceled"]);

function build(element, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/** h("a", {href: "#/", class: "x", onclick: f}, "text", childElement, …) */
export function h(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

const SVG_NS = "http://www.w3.org/2000/svg";

export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

/** "12 s ago", "in 3 min", "now". */
export function ago(seconds, now = Date.now() / 1000) {
  const delta = seconds - now;
  const size = Math.abs(delta);
  if (size < 1) return "now";
  let text;
  if (size < 60) text = `${Math.floor(size)} s`;
  else if (size < 3600) text = `${Math.floor(size / 60)} min`;
  else if (size < 86400) text = `${Math.floor(size / 3600)} h`;
  else text = `${Math.floor(size / 86400)} d`;
  return delta < 0 ? `${text} ago` : `in ${text}`;
}

/** A <time>: relative in the text, the absolute date and time on hover. */
export function when(seconds) {
  if (seconds === null || seconds === undefined) return h("span", { class: "none" }, "—");
  const date = new Date(seconds * 1000);
  return h("time", { datetime: date.toISOString(), title: date.toLocaleString() }, ago(seconds));
}

/** 0.25 → "250 ms", 75 → "1 min 15 s". */
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${Number(seconds.toFixed(1))} s`;
  const two = (big, bigUnit, small, smallUnit) => (small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`);
  if (seconds < 3600) return two(Math.floor(seconds / 60), "min", Math.floor(seconds % 60), "s");
  if (seconds < 86400) return two(Math.floor(seconds / 3600), "h", Math.floor((seconds % 3600) / 60), "min");
  return two(Math.floor(seconds / 86400), "d", Math.floor((seconds % 86400) / 3600), "h");
}

export function badge(status) {
  return h("span", { class: `badge status-${status}` }, status);
}

/** A task's progress {fraction, message, at} as a bar, or a dash. */
export function progress(value) {
  if (!value) return h("span", { class: "none" }, "—");
  const percent = Math.round((value.fraction ?? 0) * 100);
  const label = value.message ? `${percent} %: ${value.message}` : `${percent} %`;
  return h(
    "span",
    { class: "progress" },
    h("progress", { max: 1, value: value.fraction ?? 0, "aria-label": label }),
    h("span", { class: "progress-text" }, label),
  );
}

export function taskLink(id, text, attrs = {}) {
  return h("a", { href: `#/task/${encodeURIComponent(id)}`, ...attrs }, text ?? id);
}

/** Pretty-printed JSON in a <pre>, or a dash for null. */
export function json(value) {
  if (value === null || value === undefined) return h("p", { class: "none" }, "—");
  return h("pre", { class: "json" }, JSON.stringify(value, null, 2));
}

/**
 * A table; `columns` are the header labels, `rows` arrays of cells (text or elements).
 * Each cell carries its column's label, which a phone-sized screen shows beside it.
 */
export function table(columns, rows, empty = "Nothing to show.") {
  if (!rows.length) return h("p", { class: "empty" }, empty);
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, columns.map((label) => h("th", { scope: "col" }, label)))),
      h(
        "tbody",
        {},
        rows.map((cells) =>
          h("tr", {}, cells.map((cell, i) => h("td", { "data-label": columns[i] }, cell))),
        ),
      ),
    ),
  );
}

/**
 * Rebuild part of a page without losing the keyboard's place: the element that had
 * focus is found again by its data-key and focused.
 */
export function keepingFocus(rebuild) {
  const key = document.activeElement?.dataset?.key;
  rebuild();
  if (key) document.querySelector(`[data-key="${CSS.escape(key)}"]`)?.focus({ preventScroll: true });
}

/** Where a page writes the answer to a button it sent: a live region the screen reader reads. */
export function answerLine() {
  return h("p", { class: "answer", role: "status", "aria-live": "polite" });
}
