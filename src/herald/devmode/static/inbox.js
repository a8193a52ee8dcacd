// Herald dev inbox: new messages appear as they arrive; tabs; clearing.
"use strict";

function row(m) {
  const tr = document.createElement("tr");
  const channel = document.createElement("td");
  const badge = document.createElement("span");
  badge.className = "badge";
  badge.textContent = m.channel;
  channel.append(badge);
  const to = document.createElement("td");
  to.textContent = m.to;
  const subject = document.createElement("td");
  const link = document.createElement("a");
  link.href = "/dev/inbox/" + m.id;
  link.textContent = m.subject || "(no subject)";
  subject.append(link);
  const when = document.createElement("td");
  when.textContent = m.at.slice(0, 19).replace("T", " ");
  tr.append(channel, to, subject, when);
  return tr;
}

function live(table) {
  const url = table.getAttribute("data-live");
  let newest = Number(table.getAttribute("data-newest"));
  const count = document.getElementById("count");
  const tick = async () => {
    try {
      const answer = await (await fetch(url)).json();
      const first = answer.data.length ? answer.data[0].id : 0;
      if (first !== newest) {
        newest = first;
        const rows = answer.data.map(row);
        if (!rows.length) {
          const empty = document.createElement("tr");
          empty.innerHTML = '<td colspan="4" class="muted">Nothing captured.</td>';
          rows.push(empty);
        }
        table.tBodies[0].replaceChildren(...rows);
      }
      count.textContent = answer.meta.total + " captured";
    } catch (_) {
      // herald dev restarting: look again at the next tick
    }
    setTimeout(tick, 1500);
  };
  setTimeout(tick, 1500);
}

function tabs(list) {
  const buttons = [...list.querySelectorAll("[role=tab]")];
  const choose = (chosen) => {
    for (const b of buttons) {
      const on = b === chosen;
      b.setAttribute("aria-selected", String(on));
      b.tabIndex = on ? 0 : -1;
      document.getElementById(b.getAttribute("aria-controls")).hidden = !on;
    }
    chosen.focus();
  };
  list.addEventListener("click", (e) => {
    const b = e.target.closest("[role=tab]");
    if (b) choose(b);
  });
  list.addEventListener("keydown", (e) => {
    const at = buttons.indexOf(document.activeElement);
    if (e.key === "ArrowRight") choose(buttons[(at + 1) % buttons.length]);
    if (e.key === "ArrowLeft") choose(buttons[(at - 1 + buttons.length) % buttons.length]);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  const table = document.getElementById("messages");
  if (table) live(table);
  const list = document.querySelector("[role=tablist]");
  if (list) tabs(list);
  const clear = document.getElementById("clear");
  if (clear) {
    clear.addEventListener("click", async () => {
      if (!window.confirm(clear.getAttribute("data-confirm"))) return;
      await fetch("/dev/inbox/api/messages", { method: "DELETE" });
    });
  }
});
