// Overview: counters by status (GET /queues, summed), the last hour per minute
// (GET /stats) and the nodes with their busy and idle workers (GET /nodes).

import * as api from "./api.js";
import { lineChart } from "./chart.js";
import { STATUSES, duration, h, keepingFocus, table, when } from "./ui.js";

export const title = "Overview";
const MINUTES = 60;

export function mount(section) {
  const counts = new Map();
  const counters = h(
    "ul",
    { class: "counters", "aria-label": "Tasks by status" },
    STATUSES.map((status) => {
      const count = h("span", { class: "count" }, "…");
      counts.set(status, count);
      return h(
        "li",
        {},
        h(
          "a",
          { href: `#/tasks?status=${status}`, class: `counter status-${status}`, "data-status": status },
          count,
          h("span", { class: "label" }, status),
        ),
      );
    }),
  );
  const charts = h("div", { class: "charts" });
  const nodes = h("div", { class: "nodes" });
  section.append(
    h("h1", { tabindex: -1 }, "Overview"),
    counters,
    h("h2", {}, "The last hour"),
    charts,
    h("h2", {}, "Nodes"),
    nodes,
  );

  return async function refresh() {
    const [queues, stats, cluster] = await Promise.all([
      api.get("/queues"),
      api.get("/stats"),
      api.get("/nodes"),
    ]);
    for (const status of STATUSES) {
      const total = queues.queues.reduce((sum, queue) => sum + (queue.counts[status] ?? 0), 0);
      counts.get(status).textContent = total.toLocaleString();
    }
    charts.replaceChildren(...hourCharts(stats.minutes));
    keepingFocus(() => nodes.replaceChildren(nodeTable(cluster.nodes)));
  };
}

/** The last hour, one point a minute, minutes with nothing counted as zero. */
function hourCharts(minutes) {
  const byMinute = new Map(minutes.map((m) => [m.minute, m]));
  const now = Math.floor(Date.now() / 60000) * 60;
  const times = Array.from({ length: MINUTES }, (_, i) => now - (MINUTES - 1 - i) * 60);
  const rows = times.map((t) => byMinute.get(t) ?? null);
  const sum = (key) => minutes.reduce((total, m) => total + m[key], 0);
  const hhmm = (i) => new Date(times[i] * 1000).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const done = lineChart({
    title: "Completed and failed per minute",
    summary: `In the last hour: ${sum("completed")} completed, ${sum("failed")} failed attempts (${sum("dead")} of them dead)`,
    times,
    series: [
      { name: "completed", cls: "completed", values: rows.map((r) => r?.completed ?? 0) },
      { name: "failed", cls: "failed", values: rows.map((r) => r?.failed ?? 0) },
    ],
    format: (v) => String(Math.round(v * 10) / 10),
    describe: (i) => {
      const r = rows[i];
      return `${hhmm(i)}: ${r?.completed ?? 0} completed, ${r?.failed ?? 0} failed, ${r?.dead ?? 0} dead`;
    },
  });
  const waits = minutes.filter((m) => m.wait_max_seconds !== null);
  const longest = waits.length ? Math.max(...waits.map((m) => m.wait_max_seconds)) : null;
  const wait = lineChart({
    title: "Queue wait, from due to start",
    summary: waits.length
      ? `In the last hour the longest wait from due to start was ${duration(longest)}`
      : "No task started in the last hour",
    times,
    series: [
      { name: "mean", cls: "wait-mean", values: rows.map((r) => r?.wait_mean_seconds ?? null) },
      { name: "longest", cls: "wait-max", values: rows.map((r) => r?.wait_max_seconds ?? null) },
    ],
    format: duration,
    floor: 0.1,
    describe: (i) => {
      const r = rows[i];
      if (!r || r.wait_mean_seconds === null) return `${hhmm(i)}: no task started`;
      return `${hhmm(i)}: mean ${duration(r.wait_mean_seconds)}, longest ${duration(r.wait_max_seconds)}`;
    },
  });
  return [done, wait];
}

function nodeTable(nodes) {
  return table(
    ["Node", "State", "Workers", "Queues", "Completed / min", "Started", "Last seen"],
    nodes.map((node) => [
      h("span", { title: node.owner }, node.name),
      h("span", { class: `badge node-${node.state}` }, node.state),
      h(
        "span",
        { class: "workers" },
        h("meter", { min: 0, max: Math.max(1, node.workers), value: node.busy, "aria-hidden": "true" }),
        ` ${node.busy} busy, ${node.idle} idle`,
      ),
      node.queues === null ? "all" : node.queues.join(", "),
      String(Math.round(node.completed_per_minute * 10) / 10),
      when(node.started_at),
      when(node.last_seen),
    ]),
    "No node has reported yet.",
  );
}
