// Herald console: the few things a page does without a reload.
"use strict";

// Forms that undo something ask first.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const question = form.getAttribute("data-confirm");
  if (question && !window.confirm(question)) event.preventDefault();
});

function csrf() {
  const field = document.querySelector("input[name=csrf]");
  return field ? field.value : "";
}

// A notification's page, opened after a send: its status and history as they change.
function follow(badge) {
  const url = badge.getAttribute("data-follow");
  if (!url) return;
  const timeline = document.getElementById("timeline");
  const tick = async () => {
    let state;
    try {
      const answer = await fetch(url, { headers: { Accept: "application/json" } });
      if (!answer.ok) throw new Error(String(answer.status));
      state = await answer.json();
    } catch (_) {
      setTimeout(tick, 2000);
      return;
    }
    badge.textContent = state.status;
    badge.className = "badge " + state.status;
    timeline.replaceChildren(...state.history.map((h) => {
      const item = document.createElement("li");
      const mark = document.createElement("span");
      mark.className = "badge " + h.status;
      mark.textContent = h.status;
      const when = document.createElement("time");
      when.textContent = h.timestamp.slice(0, 19).replace("T", " ");
      item.append(mark, " ", when);
      if (h.error) {
        const error = document.createElement("div");
        error.className = "error-text";
        error.textContent = h.error;
        item.append(error);
      }
      if (h.provider_response) {
        const answer = document.createElement("div");
        answer.className = "muted";
        answer.textContent = h.provider_response;
        item.append(answer);
      }
      return item;
    }));
    if (!state.final) setTimeout(tick, 1000);
  };
  setTimeout(tick, 500);
}

// The template editor: the preview follows the typing, a moment after it stops.
function preview(form) {
  const url = form.getAttribute("data-preview");
  const error = document.getElementById("p-error");
  const subject = document.getElementById("p-subject");
  const frame = document.getElementById("p-html");
  const text = document.getElementById("p-text");
  const parts = document.getElementById("p-parts");
  let timer = null;
  let asked = 0;
  const render = async () => {
    const mine = ++asked;
    const body = new URLSearchParams(new FormData(form));
    let answer;
    try {
      const response = await fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded", "X-CSRF-Token": csrf() },
        body,
      });
      answer = await response.json();
    } catch (_) {
      answer = { error: "the preview could not be fetched" };
    }
    if (mine !== asked) return; // a later keystroke's answer wins
    error.hidden = !answer.error;
    error.textContent = answer.error || "";
    if (answer.error) return;
    const r = answer.rendered;
    subject.textContent = r.subject ? "Subject: " + r.subject : r.title ? "Title: " + r.title : "";
    frame.hidden = !r.html_body;
    if (r.html_body) frame.srcdoc = r.html_body;
    text.textContent = r.text_body || r.body || "";
    parts.hidden = !r.sms;
    if (r.sms) {
      parts.textContent = `${r.sms.encoding}: ${r.sms.units} units, ${r.sms.parts} part${r.sms.parts === 1 ? "" : "s"}`;
    }
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(render, 300);
  });
  render();
}

document.addEventListener("DOMContentLoaded", () => {
  const badge = document.getElementById("status");
  if (badge) follow(badge);
  const editor = document.getElementById("editor");
  if (editor) preview(editor);
});
