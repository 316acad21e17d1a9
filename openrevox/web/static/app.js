// openrevox dashboard: live parts and keyboard navigation, in plain JS.
"use strict";

// An element with data-poll="URL" is replaced by what URL answers every 2 s; the answer keeps
// data-poll while there is more to come (calls still running), and drops it when it is final.
const POLL_MS = 2000;

function schedulePoll(element) {
  setTimeout(async () => {
    if (!element.isConnected) return;
    let response;
    try {
      response = await fetch(element.dataset.poll, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
    } catch (error) {
      schedulePoll(element);  // the server restarted or the network blinked: try again
      return;
    }
    if (response.redirected || !response.ok) return;  // signed out, or gone: leave the page as it is
    const template = document.createElement("template");
    template.innerHTML = (await response.text()).trim();
    const fresh = template.content.firstElementChild;
    if (!fresh) return;
    const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.id : null;
    element.replaceWith(fresh);
    if (focused) {
      const again = fresh.querySelector(`[data-id="${CSS.escape(focused)}"]`);
      if (again) again.focus();
    }
    if (fresh.dataset.poll) schedulePoll(fresh);
  }, POLL_MS);
}

// Call list rows: focusable; Enter or a click opens the call, arrow keys move between rows.
function rowKeys(event) {
  const row = event.target.closest("tr[data-href]");
  if (!row || event.target !== row) return;
  if (event.key === "Enter") {
    window.location.href = row.dataset.href;
  } else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    const next = event.key === "ArrowDown" ? row.nextElementSibling : row.previousElementSibling;
    if (next && next.matches("tr[data-href]")) {
      next.focus();
      event.preventDefault();
    }
  }
}

function rowClicks(event) {
  const row = event.target.closest("tr[data-href]");
  if (row && !event.target.closest("a, button, input, select")) window.location.href = row.dataset.href;
}

document.addEventListener("keydown", rowKeys);
document.addEventListener("click", rowClicks);
document.querySelectorAll("[data-poll]").forEach(schedulePoll);
const formErrors = document.getElementById("form-errors");
if (formErrors) formErrors.focus();
