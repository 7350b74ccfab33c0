// Dead letters: GET /dead-letters groups the dead tasks by action and error; "Retry all"
// sends one group back with POST /tasks/retry {"filter": {"status": "dead", "action", "error"}}
// after the user confirms, and says how many tasks the API retried.

import * as api from "./api.js";
import { answerLine, h, keepingFocus, table, taskLink, when } from "./ui.js";

export const title = "Dead letters";

export function mount(section, route, ctx) {
  const answer = answerLine();
  const note = h("p", { class: "note" });
  const list = h("div", { class: "groups" });
  section.append(
    h("h1", { tabindex: -1 }, "Dead letters"),
    h("p", {}, "Tasks that used every attempt, or that their action refused for good, grouped by action and error."),
    answer,
    note,
    list,
  );

  const retryAll = (group) => {
    const question =
      `Retry all ${group.count} dead task${group.count === 1 ? "" : "s"} of action "${group.action}" ` +
      `that failed with "${group.error}"?`;
    if (!window.confirm(question)) {
      answer.className = "answer";
      answer.textContent = "Nothing retried.";
      return;
    }
    const filter = { status: "dead", action: group.action, error: group.error };
    ctx.act(
      answer,
      () => api.post("/tasks/retry", { filter }, "retry tasks"),
      ({ data }) =>
        `Retried ${data.changed} task${data.changed === 1 ? "" : "s"} ` +
        `(${data.matched} matched) of action "${group.action}".`,
    );
  };
  let shown = null;

  return async function refresh() {
    const letters = await api.get("/dead-letters");
    const seen = JSON.stringify(letters);
    if (seen === shown) return;
    shown = seen;
    note.textContent = letters.complete
      ? ""
      : `Grouped from the latest ${letters.scanned.toLocaleString()} dead tasks; older ones are not counted, but "Retry all" retries them too.`;
    keepingFocus(() =>
      list.replaceChildren(
        table(
          ["Action", "Error", "Tasks", "Latest", "Example", ""],
          letters.groups.map((group) => [
            group.action,
            h("code", { class: "error-text" }, group.error ?? "(no error)"),
            String(group.count),
            when(group.latest_at),
            taskLink(group.sample_id, "open one"),
            // A filter's null error means "any error": it would retry other groups too.
            group.error === null
              ? h("span", { class: "none" }, "retry these one by one")
              : h(
                  "button",
                  {
                    type: "button",
                    "data-key": `retry-${group.action}-${group.error}`,
                    "aria-label": `Retry all ${group.count} of ${group.action}: ${group.error}`,
                    onclick: () => retryAll(group),
                  },
                  `Retry all ${group.count}`,
                ),
          ]),
          "No dead task: nothing to retry.",
        ),
      ),
    );
  };
}
