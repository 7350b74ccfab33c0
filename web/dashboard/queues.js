// Queues: GET /queues (counts, oldest due age, paused) with Pause and Resume buttons
// (POST /queues/{name}/pause, /resume). A queue with no task yet can be paused by name.

import * as api from "./api.js";
import { STATUSES, answerLine, duration, h, keepingFocus, table, when } from "./ui.js";

export const title = "Queues";

export function mount(section, route, ctx) {
  const answer = answerLine();
  const list = h("div", { class: "queues" });
  const name = h("input", { id: "pause-name", name: "queue", required: true });
  const byName = h(
    "form",
    { class: "inline" },
    h("div", { class: "field" }, h("label", { for: "pause-name" }, "Pause a queue by name"), name),
    h("button", { type: "submit" }, "Pause"),
  );
  section.append(h("h1", { tabindex: -1 }, "Queues"), answer, list, byName);

  const change = (queue, verb) =>
    ctx.act(
      answer,
      () => api.post(`/queues/${encodeURIComponent(queue)}/${verb}`, undefined, "pause or resume queues"),
      ({ data }) =>
        data.paused
          ? `Paused queue ${data.name}: no node claims its tasks until it is resumed.`
          : `Resumed queue ${data.name}.`,
    );
  byName.addEventListener("submit", (event) => {
    event.preventDefault();
    change(name.value.trim(), "pause");
  });
  let shown = null;

  return async function refresh() {
    const { queues } = await api.get("/queues");
    const seen = JSON.stringify(queues);
    if (seen === shown) return;
    shown = seen;
    keepingFocus(() =>
      list.replaceChildren(
        table(
          ["Queue", "State", ...STATUSES, "Oldest due", ""],
          queues.map((queue) => [
            h("a", { href: `#/tasks?queue=${encodeURIComponent(queue.name)}` }, queue.name),
            queue.paused
              ? h(
                  "span",
                  {},
                  h("span", { class: "badge paused" }, "paused"),
                  " ",
                  when(queue.paused_at),
                  queue.paused_by ? ` by ${queue.paused_by}` : "",
                )
              : h("span", { class: "badge active" }, "active"),
            ...STATUSES.map((status) => String(queue.counts[status] ?? 0)),
            queue.oldest_due_age_seconds === null ? "—" : duration(queue.oldest_due_age_seconds),
            h(
              "button",
              {
                type: "button",
                "data-key": `queue-${queue.name}`,
                "aria-label": `${queue.paused ? "Resume" : "Pause"} queue ${queue.name}`,
                onclick: () => change(queue.name, queue.paused ? "resume" : "pause"),
              },
              queue.paused ? "Resume" : "Pause",
            ),
          ]),
          "No queue has tasks or is paused.",
        ),
      ),
    );
  };
}
