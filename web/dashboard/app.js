// The dashboard's shell: which page the address names (#/tasks?status=dead), the message
// area, the token form, and the refresh every few seconds without reloading the page.
//
// A page module exports `title` and `mount(section, route, ctx)`, which builds the page's
// skeleton and returns its `refresh()`: an async function that reads the API and fills the
// page in. Every failure of a refresh (the API's error, or no answer) lands here and
// shows as a message; the page keeps what it showed last.

import * as api from "./api.js";
import * as deadLetters from "./dead-letters.js";
import * as overview from "./overview.js";
import * as queues from "./queues.js";
import * as task from "./task.js";
import * as tasks from "./tasks.js";
import { h } from "./ui.js";

const PAGES = { "": overview, tasks, task, queues, "dead-letters": deadLetters };
const REFRESH_SECONDS = 5;

const view = document.getElementById("view");
const message = document.getElementById("message");
const updated = document.getElementById("updated");
const tokenForm = document.getElementById("token-form");
const tokenInput = document.getElementById("token-input");
const tokenReason = document.getElementById("token-reason");
const forget = document.getElementById("forget-token");

let current = null; // {section, refresh, busy, failed} of the page shown

/** "#/task/abc?x=1" → {name: "task", arg: "abc", params}. */
function route() {
  const hash = location.hash.startsWith("#/") ? location.hash.slice(2) : "";
  const cut = hash.indexOf("?");
  const path = cut < 0 ? hash : hash.slice(0, cut);
  const [name, ...rest] = path.split("/");
  return {
    name,
    arg: decodeURIComponent(rest.join("/")),
    params: new URLSearchParams(cut < 0 ? "" : hash.slice(cut + 1)),
  };
}

function say(text, kind, source) {
  message.replaceChildren(
    h("span", {}, text),
    h("button", { type: "button", class: "dismiss", "aria-label": "Dismiss", onclick: clearMessage }, "×"),
  );
  message.className = `message ${kind}`;
  message.dataset.source = source;
  message.hidden = false;
}

function clearMessage() {
  message.hidden = true;
  message.replaceChildren();
  delete message.dataset.source;
}

/** An error from the API: the token form for a 401, else a message (and on the page, if the
 * page has nothing else to show yet). */
function report(error, page) {
  if (error.needsToken) {
    askForToken(error.message);
    return;
  }
  const text = error instanceof api.ApiError ? error.message : `The dashboard failed: ${error}`;
  say(text, "error", "refresh");
  if (page && !page.loaded) {
    const shown = page.section.querySelector(".load-error") ?? h("p", { class: "load-error" });
    shown.textContent = `Could not load this page. ${text}`;
    page.section.append(shown);
  }
}

async function refresh(page) {
  if (page !== current) return;
  if (page.busy) {
    page.again = true; // a button's change landed during this read: read once more after it
    return;
  }
  page.busy = true;
  page.again = false;
  try {
    await page.refresh();
    page.loaded = true;
    page.section.querySelector(".load-error")?.remove();
    if (message.dataset.source === "refresh") clearMessage();
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
  } catch (error) {
    if (page === current) report(error, page);
  } finally {
    page.busy = false;
  }
  if (page.again) await refresh(page);
}

/** What a page may ask of the shell. */
const ctx = {
  /** Run a button's API call: its answer (or error) goes to `output`, then the page refreshes. */
  async act(output, call, describe) {
    output.className = "answer";
    output.textContent = "Sending…";
    try {
      output.textContent = describe(await call());
    } catch (error) {
      output.className = "answer error";
      output.textContent = error.message;
      if (error.needsToken) askForToken(error.message);
    }
    if (current) await refresh(current);
  },
};

function show(focus) {
  const where = route();
  const page = PAGES[where.name];
  const section = h("section", { class: "page" });
  view.replaceChildren(section);
  clearMessage();
  updated.textContent = ""; // says when the page shown was read, and this one is not yet
  for (const link of document.querySelectorAll("nav.main a")) {
    if (link.dataset.page === where.name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (!page) {
    current = null;
    document.title = "Not found · taskqueue";
    section.append(h("h1", { tabindex: -1 }, "Not found"), h("p", {}, `The dashboard has no page ${location.hash}.`));
  } else {
    document.title = `${page.title} · taskqueue`;
    current = { section, busy: false, again: false, loaded: false, refresh: null };
    current.refresh = page.mount(section, where, ctx);
    refresh(current);
  }
  if (focus) section.querySelector("h1")?.focus({ preventScroll: true });
}

function askForToken(reason) {
  api.setToken(null); // it was refused, or there was none
  showTokenState();
  tokenReason.textContent = reason;
  if (!tokenForm.hidden) return; // already asking: leave the typing alone
  tokenForm.hidden = false;
  view.hidden = true;
  tokenInput.focus();
}

function showTokenState() {
  forget.hidden = !api.token();
}

tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  api.setToken(tokenInput.value.trim());
  tokenInput.value = "";
  tokenForm.hidden = true;
  view.hidden = false;
  showTokenState();
  show(true);
});

forget.addEventListener("click", () => {
  api.setToken(null);
  showTokenState();
  show(true);
});

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault(); // the address's # is the page: move the focus instead
  view.querySelector("h1")?.focus();
});

window.addEventListener("hashchange", () => show(true));
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && current) refresh(current);
});
setInterval(() => {
  if (current && !document.hidden && tokenForm.hidden) refresh(current);
}, REFRESH_SECONDS * 1000);

showTokenState();
show(false);
