// Tasks: GET /tasks with every filter it takes, page by page with its cursor.
// The page's own address (#/tasks?status=dead&limit=50) holds the same query as the API
// request, which the page shows as a link: what you see is one curl away.

import * as api from "./api.js";
import { STATUSES, badge, h, keepingFocus, progress, table, taskLink, when } from "./ui.js";

export const title = "Tasks";
const QUERY = ["status", "queue", "action", "created_after", "created_before", "limit", "cursor"];
const LIMITS = ["10", "25", "50", "100", "250", "1000"];
const DEFAULT_LIMIT = "100"; // the API's own default
// What the pager knows of the pages seen in this tab: the page before each cursor ("" for
// the first page) and its number. A page opened from a link knows only "Newest".
const before = new Map();
const numbers = new Map([["", 1]]);

function tasksHash(params) {
  const query = new URLSearchParams([...params].filter(([, value]) => value !== ""));
  const text = query.toString();
  return text ? `#/tasks?${text}` : "#/tasks";
}

/** "2026-11-30T10:00:05" in local time, for a datetime-local input. */
function localInput(seconds) {
  if (!seconds || Number.isNaN(Number(seconds))) return "";
  const d = new Date(Number(seconds) * 1000);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function unixSeconds(local) {
  return local ? String(Math.floor(new Date(local).getTime() / 1000)) : "";
}

function filterForm(params) {
  const chosen = new Set((params.get("status") ?? "").split(",").filter(Boolean));
  const limit = params.get("limit") ?? DEFAULT_LIMIT;
  // The label beside its control, not around it: a <select> inside would join the name.
  const field = (label, input) =>
    h("div", { class: "field" }, h("label", { for: input.id }, label), input);
  const form = h(
    "form",
    { class: "filters", "aria-label": "Filter tasks" },
    h(
      "fieldset",
      { class: "statuses" },
      h("legend", {}, "Status"),
      STATUSES.map((status) =>
        h(
          "label",
          { class: "check" },
          h("input", { type: "checkbox", name: "status", value: status, checked: chosen.has(status) }),
          badge(status),
        ),
      ),
    ),
    field("Queue", h("input", { id: "filter-queue", name: "queue", list: "queue-names", value: params.get("queue") ?? "" })),
    h("datalist", { id: "queue-names" }),
    field("Action", h("input", { id: "filter-action", name: "action", value: params.get("action") ?? "" })),
    field(
      "Created after",
      h("input", { type: "datetime-local", step: 1, id: "filter-created_after", name: "created_after", value: localInput(params.get("created_after")) }),
    ),
    field(
      "Created before",
      h("input", { type: "datetime-local", step: 1, id: "filter-created_before", name: "created_before", value: localInput(params.get("created_before")) }),
    ),
    field(
      "Per page",
      h(
        "select",
        { id: "filter-limit", name: "limit" },
        [...new Set([...LIMITS, limit])]
          .sort((a, b) => a - b)
          .map((n) => h("option", { value: n, selected: n === limit }, n)),
      ),
    ),
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "submit" }, "Apply"),
      h("a", { href: "#/tasks", class: "button secondary" }, "Clear"),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const limit = data.get("limit");
    location.hash = tasksHash([
      ["status", data.getAll("status").join(",")],
      ["queue", data.get("queue").trim()],
      ["action", data.get("action").trim()],
      ["created_after", unixSeconds(data.get("created_after"))],
      ["created_before", unixSeconds(data.get("created_before"))],
      ["limit", limit === DEFAULT_LIMIT ? "" : limit],
    ]);
  });
  return form;
}

export function mount(section, route) {
  const params = new URLSearchParams([...route.params].filter(([name]) => QUERY.includes(name)));
  const cursor = params.get("cursor") ?? "";
  const path = params.size ? `/tasks?${params}` : "/tasks";
  const form = filterForm(params);
  const summary = h("p", { class: "summary", role: "status" });
  const results = h("div", { class: "results" });
  const pager = h("nav", { class: "pager", "aria-label": "Pages" });
  section.append(
    h("h1", { tabindex: -1 }, "Tasks"),
    form,
    h("p", { class: "api" }, "API: ", h("a", { href: path }, h("code", {}, `GET ${path}`))),
    summary,
    results,
    pager,
  );
  let shown = null;

  return async function refresh() {
    const [page, queues] = await Promise.all([api.get(path), api.get("/queues")]);
    form.querySelector("datalist").replaceChildren(...queues.queues.map((q) => h("option", { value: q.name })));
    const seen = JSON.stringify(page);
    if (seen === shown) return;
    shown = seen;
    const number = numbers.get(cursor);
    const where = number ? `page ${number}` : "this page";
    summary.textContent = `${page.count} task${page.count === 1 ? "" : "s"} on ${where}, newest first.`;
    if (page.next_cursor) {
      before.set(page.next_cursor, cursor);
      if (number) numbers.set(page.next_cursor, number + 1);
    }
    keepingFocus(() => {
      results.replaceChildren(taskTable(page.tasks));
      pager.replaceChildren(...pagerLinks(params, cursor, page.next_cursor));
    });
  };
}

function taskTable(tasks) {
  return table(
    ["Status", "Action", "Queue", "Created", "Due", "Attempts", "Progress", "Node", "Id"],
    tasks.map((task) => [
      badge(task.status),
      taskLink(task.id, task.action, { "data-key": `task-${task.id}` }),
      task.queue,
      when(task.created_at),
      when(task.run_at),
      `${task.attempts} of ${task.max_attempts}`,
      progress(task.progress),
      task.node ?? "—",
      h("code", { class: "id", title: task.id }, task.id.slice(0, 8)),
    ]),
    "No task matches these filters.",
  );
}

function pagerLinks(params, cursor, next) {
  const at = (target) => {
    const copy = new URLSearchParams(params);
    if (target) copy.set("cursor", target);
    else copy.delete("cursor");
    return tasksHash(copy);
  };
  const links = [];
  if (cursor) {
    links.push(h("a", { href: at(""), "data-key": "page-newest" }, "⇤ Newest"));
    if (before.has(cursor) && before.get(cursor)) {
      links.push(h("a", { href: at(before.get(cursor)), "data-key": "page-newer" }, "← Newer"));
    }
  }
  if (next) links.push(h("a", { href: at(next), rel: "next", "data-key": "page-older" }, "Older →"));
  return links;
}
