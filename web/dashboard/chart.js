// Line charts drawn as SVG by hand: no chart library, so nothing to vendor.
// The SVG scales to its box; each point's column shows its numbers on hover, and the
// chart's accessible name is a one-line summary.

import { h, svg } from "./ui.js";

const WIDTH = 600;
const HEIGHT = 180;
const PAD = { left: 52, right: 10, top: 10, bottom: 24 };

/** The smallest of 1, 2, 5 × 10^k at or above `value` (at least `floor`). */
function niceMax(value, floor) {
  if (value <= floor) return floor;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= value);
}

function clock(seconds) {
  return new Date(seconds * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/**
 * lineChart({title, summary, times, series, format, describe, floor}) → <figure>
 *   times:    Unix seconds of each point (evenly spaced)
 *   series:   [{name, cls, values}]; a null value is "no data" and breaks the line
 *   format:   a y value → its label
 *   describe: index → the hover text of that point
 */
export function lineChart({ title, summary, times, series, format, describe, floor = 1 }) {
  const values = series.flatMap((s) => s.values).filter((v) => v !== null);
  const top = niceMax(Math.max(0, ...values), floor);
  const inner = { w: WIDTH - PAD.left - PAD.right, h: HEIGHT - PAD.top - PAD.bottom };
  const step = inner.w / Math.max(1, times.length - 1);
  const x = (i) => PAD.left + i * step;
  const y = (v) => PAD.top + inner.h * (1 - v / top);

  const chart = svg("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    class: "chart",
    role: "img",
    "aria-label": summary,
  });
  for (const v of [0, top / 2, top]) {
    chart.append(
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(v), y2: y(v), class: "grid" }),
      svg("text", { x: PAD.left - 6, y: y(v) + 4, class: "axis", "text-anchor": "end" }, format(v)),
    );
  }
  const last = times.length - 1;
  for (const [i, anchor] of [
    [0, "start"],
    [Math.floor(last / 2), "middle"],
    [last, "end"],
  ]) {
    chart.append(
      svg("text", { x: x(i), y: HEIGHT - 6, class: "axis", "text-anchor": anchor }, clock(times[i])),
    );
  }
  for (const s of series) {
    let path = "";
    s.values.forEach((v, i) => {
      if (v === null) return;
      const pen = i > 0 && s.values[i - 1] !== null ? "L" : "M";
      path += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
    });
    chart.append(svg("path", { d: path, class: `line ${s.cls}` }));
    s.values.forEach((v, i) => {
      if (v !== null && v > 0) chart.append(svg("circle", { cx: x(i), cy: y(v), r: 2, class: `dot ${s.cls}` }));
    });
  }
  times.forEach((_, i) => {
    chart.append(
      svg(
        "rect",
        { x: x(i) - step / 2, y: PAD.top, width: step, height: inner.h, class: "hover" },
        svg("title", {}, describe(i)),
      ),
    );
  });
  const legend = h(
    "ul",
    { class: "legend" },
    series.map((s) => h("li", { class: s.cls }, s.name)),
  );
  return h("figure", { class: "chart-box" }, h("figcaption", {}, h("h3", {}, title), legend), chart);
}
