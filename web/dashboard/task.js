// Task: one task (GET /tasks/{id}), why it is not running (…/diagnosis), its history as a
// timeline (…/events), and Cancel and Retry (POST …/cancel, …/retry) showing the API's answer.

import * as api from "./api.js";
import { FINAL, answerLine, badge, duration, h, json, progress, when } from "./ui.js";

export const title = "Task";
const CANCELABLE = new Set(["scheduled", "queued", "retrying", "running"]);
const KINDS = {
  created: "Created",
  scheduled: "Scheduled",
  claimed: "Claimed",
  started: "Started",
  progress: "Progress",
  completed: "Completed",
  failed: "Failed",
  timed_out: "Timed out",
  released: "Released",
  rescued: "Rescued",
  cancel_requested: "Cancel requested",
  canceled: "Canceled",
  retried_by_hand: "Retried by hand",
  paused_while_due: "Its queue was paused while it was due",
};
const clockTime = (seconds) => new Date(seconds * 1000).toLocaleString();
// How each detail of an event reads; a detail not named here shows as "name value".
const DETAILS = {
  attempt: (v) => `attempt ${v}`,
  node: (v) => `on ${v}`,
  queue: (v) => `queue ${v}`,
  run_at: (v) => `due ${clockTime(v)}`,
  waited_seconds: (v) => `waited ${duration(v)}`,
  duration_seconds: (v) => `took ${duration(v)}`,
  timeout_seconds: (v) => `limit ${duration(v)}`,
  fraction: (v) => `${Math.round(v * 100)} %`,
  message: (v) => v,
  error: (v) => v,
  reason: (v) => v,
  then: (v) => `then ${v}`,
  by: (v) => `by ${v}`,
  from: (v) => `from ${v}`,
  until: (v) => `until ${clockTime(v)}`,
};

export function mount(section, route, ctx) {
  const base = `/tasks/${encodeURIComponent(route.arg)}`;
  const heading = h("h1", { tabindex: -1 }, "Task");
  const cancel = h("button", { type: "button", "data-key": "cancel", disabled: true }, "Cancel");
  const retry = h("button", { type: "button", "data-key": "retry", disabled: true }, "Retry");
  const answer = answerLine();
  const body = h("div", { class: "task" });
  section.append(
    h("p", { class: "crumbs" }, h("a", { href: "#/tasks" }, "← Tasks")),
    heading,
    h("p", { class: "id" }, "Id ", h("code", {}, route.arg)),
    h(
      "div",
      { class: "actions" },
      cancel,
      retry,
      h("a", { href: base, class: "api" }, h("code", {}, `GET ${base}`)),
    ),
    answer,
    body,
  );
  cancel.addEventListener("click", () =>
    ctx.act(answer, () => api.post(`${base}/cancel`, undefined, "cancel tasks"), ({ status, data }) =>
      status === 202
        ? "Cancel asked (202): the running attempt was told to stop; the task becomes canceled when it ends."
        : `Canceled (${status}): the task is now ${data.status}.`,
    ),
  );
  retry.addEventListener("click", () =>
    ctx.act(answer, () => api.post(`${base}/retry`, undefined, "retry tasks"), ({ status, data }) =>
      `Retried (${status}): the task is ${data.status} again, with ${data.max_attempts - data.attempts} attempts left.`,
    ),
  );
  let shown = null;

  return async function refresh() {
    const task = await api.get(base); // first: a missing task is reported as such
    const [history, diagnosis] = await Promise.all([
      api.get(`${base}/events`),
      api.get(`${base}/diagnosis`),
    ]);
    const seen = JSON.stringify([task, history, diagnosis]);
    if (seen === shown) return;
    shown = seen;
    cancel.disabled = !CANCELABLE.has(task.status) || task.cancel_requested;
    retry.disabled = !FINAL.has(task.status);
    heading.replaceChildren(`${task.action} `, badge(task.status));
    body.replaceChildren(
      h("section", { class: "diagnosis" }, h("h2", {}, "Why isn't it running?"), reasons(diagnosis)),
      h("section", {}, h("h2", {}, "Details"), details(task)),
      task.error ? failure(task) : null,
      h("section", {}, h("h2", {}, "Result"), json(task.result)),
      h("section", {}, h("h2", {}, "Payload"), json(task.payload)),
      h("section", {}, h("h2", {}, "History"), timeline(history.events)),
    );
  };
}

function reasons(diagnosis) {
  const lead = diagnosis.runnable
    ? "Nothing but other tasks stands in its way."
    : FINAL.has(diagnosis.status)
      ? "It has finished."
      : "It cannot run yet:";
  return h(
    "div",
    {},
    h("p", {}, lead),
    h(
      "ul",
      { class: "reasons" },
      diagnosis.reasons.map((reason) =>
        h("li", {}, reason.message, " ", h("code", { class: "code" }, reason.code)),
      ),
    ),
  );
}

function details(task) {
  const rows = [
    ["Queue", task.queue],
    ["Priority", String(task.priority)],
    ["Attempts", `${task.attempts} of ${task.max_attempts}`],
    ["Created", when(task.created_at)],
    ["Due", when(task.run_at)],
    ["Processed", when(task.processed_at)],
    ["Node", task.node ?? "—"],
    ["Timeout", task.timeout ? duration(task.timeout) : "no limit"],
    ["Progress", progress(task.progress)],
  ];
  if (task.cancel_requested) rows.push(["Cancel", "requested; the running attempt was told to stop"]);
  return h("dl", { class: "details" }, rows.map(([term, value]) => [h("dt", {}, term), h("dd", {}, value)]));
}

function failure(task) {
  return h(
    "section",
    { class: "failure" },
    h("h2", {}, "Error"),
    h("pre", { class: "error-text" }, task.error),
    task.traceback ? [h("h3", {}, "Traceback"), h("pre", { class: "traceback" }, task.traceback)] : null,
  );
}

function timeline(events) {
  if (!events.length) return h("p", { class: "empty" }, "No events recorded.");
  return h(
    "ol",
    { class: "timeline" },
    events.map((event) => {
      const parts = Object.entries(event)
        .filter(([key, value]) => key !== "at" && key !== "kind" && value !== null)
        .map(([key, value]) =>
          DETAILS[key] ? DETAILS[key](value) : `${key.replaceAll("_", " ")} ${JSON.stringify(value)}`,
        );
      return h(
        "li",
        { class: `event kind-${event.kind}` },
        when(event.at),
        " ",
        h("strong", {}, KINDS[event.kind] ?? event.kind),
        parts.length ? h("span", { class: "detail" }, parts.join(" · ")) : null,
      );
    }),
  );
}
