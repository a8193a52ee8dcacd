// <herald-feed>: a bell with a user's unread count, and their in-app feed, live.
//
//   <script type="module" src="https://herald.example.com/feed.js"></script>
//   <herald-feed user="USER_ID" token="FEED_TOKEN"></herald-feed>
//
// Attributes: user (the user's id), token (a feed token, POST /api/v1/users/{id}/feed/token,
// or the user's own login token), api (Herald's address; by default where this script
// came from), limit (items shown, 20). No framework and nothing fetched from elsewhere;
// every text is set as text, and a link is followed only when it is a web address.
// Events on the element: "herald-feed-item" (a new item arrived, in event.detail) and
// "herald-feed-unread" (the count changed, in event.detail.unread).

const ORIGIN = new URL(import.meta.url).origin;
const SAFE_LINK = /^(https?:\/\/|\/(?!\/))/i;

const CSS = `
:host { position: relative; display: inline-block; font: 14px/1.4 system-ui, sans-serif;
  color: var(--herald-text, #1d2330); }
button { font: inherit; cursor: pointer; }
.bell { position: relative; background: none; border: 0; padding: 6px; border-radius: 6px;
  color: inherit; }
.bell:focus-visible, .item:focus-visible, .act:focus-visible { outline: 2px solid #2f62d8;
  outline-offset: 2px; }
.bell svg { width: 24px; height: 24px; display: block; }
.badge { position: absolute; top: 0; right: 0; min-width: 18px; height: 18px; padding: 0 5px;
  box-sizing: border-box; border-radius: 9px; background: #c62828; color: #fff; font-size: 11px;
  font-weight: 600; line-height: 18px; text-align: center; }
.badge[hidden] { display: none; }
.panel { position: absolute; right: 0; z-index: 1000; width: min(360px, 92vw); max-height: 70vh;
  overflow: auto; margin-top: 6px; background: var(--herald-background, #fff);
  border: 1px solid #d4d8e0; border-radius: 8px; box-shadow: 0 8px 24px rgb(0 0 0 / 15%); }
.panel[hidden] { display: none; }
.head { display: flex; justify-content: space-between; align-items: center; padding: 8px 12px;
  border-bottom: 1px solid #e5e8ee; }
.head h2 { margin: 0; font-size: 15px; }
.act { background: none; border: 0; color: #2549a8; padding: 4px; }
ul { list-style: none; margin: 0; padding: 0; }
li { display: flex; gap: 10px; padding: 10px 12px; border-bottom: 1px solid #eef0f4; }
li.unread { background: #eef3ff; }
.item { flex: 1; text-align: left; background: none; border: 0; padding: 0; color: inherit; }
.item strong { display: block; }
.item time { display: block; color: #586174; font-size: 12px; }
img { width: 36px; height: 36px; border-radius: 50%; object-fit: cover; }
.empty { padding: 16px 12px; color: #586174; }
@media (prefers-color-scheme: dark) {
  :host { color: var(--herald-text, #e6e9ef); }
  .panel { background: var(--herald-background, #1b1f27); border-color: #3a4150; }
  .head, li { border-color: #2c323d; }
  li.unread { background: #22304d; }
  .act { color: #8fb0ff; }
  .item time, .empty { color: #a8b0bf; }
}
`;

const BELL =
  '<svg viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" ' +
  'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M18 8a6 6 0 0 0-12 ' +
  '0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.7 21a2 2 0 0 1-3.4 0"/></svg>';

class HeraldFeed extends HTMLElement {
  connectedCallback() {
    if (this.shadowRoot) return;
    const root = this.attachShadow({ mode: "open" });
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    root.adoptedStyleSheets = [sheet];
    this.bell = this.el("button", { class: "bell", type: "button", "aria-expanded": "false" });
    this.bell.innerHTML = BELL; // a constant, never data
    this.badge = this.el("span", { class: "badge", hidden: "" });
    this.bell.append(this.badge);
    this.panel = this.el("section", { class: "panel", hidden: "", "aria-label": "Notifications" });
    const head = this.el("div", { class: "head" });
    const title = this.el("h2");
    title.textContent = "Notifications";
    this.readAll = this.el("button", { class: "act", type: "button" });
    this.readAll.textContent = "Mark all as read";
    head.append(title, this.readAll);
    this.list = this.el("ul");
    this.panel.append(head, this.list);
    root.append(this.bell, this.panel);
    this.bell.addEventListener("click", () => this.toggle());
    this.readAll.addEventListener("click", () => this.markAll());
    this.items = new Map();
    this.unread = 0;
    this.lastId = null;
    this.stopped = false;
    this.load().then(() => this.follow());
  }

  disconnectedCallback() {
    this.stopped = true;
    if (this.reading) this.reading.abort();
  }

  el(tag, attributes = {}) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
    return node;
  }

  get base() {
    const api = (this.getAttribute("api") || ORIGIN).replace(/\/+$/, "");
    return `${api}/api/v1/users/${encodeURIComponent(this.getAttribute("user") || "")}/feed`;
  }

  headers(extra = {}) {
    return { Authorization: `Bearer ${this.getAttribute("token") || ""}`, ...extra };
  }

  async load() {
    const limit = Number(this.getAttribute("limit")) || 20;
    try {
      const answer = await fetch(`${this.base}?limit=${limit}`, { headers: this.headers() });
      if (!answer.ok) throw new Error(`feed: ${answer.status}`);
      const page = await answer.json();
      this.items.clear();
      this.list.replaceChildren();
      for (const item of page.data.slice().reverse()) this.show(item);
      this.lastId = page.meta.last_event_id;
      this.count(page.meta.unread);
    } catch (error) {
      this.problem(error);
    }
  }

  // The stream, read with fetch so that the token travels in a header, not in a URL
  // where logs would keep it; resumed after a break from the last item seen.
  async follow() {
    let wait = 3000;
    while (!this.stopped) {
      this.reading = new AbortController();
      try {
        const headers = this.headers(this.lastId !== null ? { "Last-Event-ID": String(this.lastId) } : {});
        const answer = await fetch(`${this.base}/stream`, { headers, signal: this.reading.signal });
        if (answer.status === 401 || answer.status === 403) {
          this.problem(new Error(`feed stream: ${answer.status}`));
          return;
        }
        if (!answer.ok || !answer.body) throw new Error(`feed stream: ${answer.status}`);
        wait = await this.read(answer.body.getReader(), wait);
      } catch (error) {
        if (this.stopped) return;
      }
      await new Promise((done) => setTimeout(done, wait));
    }
  }

  async read(reader, wait) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return wait;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { name: "message", data: [], id: null };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          if (colon === 0) continue; // a comment: the keep-alive
          const field = colon < 0 ? line : line.slice(0, colon);
          const text = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.name = text;
          else if (field === "data") event.data.push(text);
          else if (field === "id") event.id = text;
          else if (field === "retry" && /^\d+$/.test(text)) wait = Number(text);
        }
        if (event.data.length) this.handle(event.name, JSON.parse(event.data.join("\n")), event.id);
      }
    }
  }

  handle(name, data, id) {
    if (name === "item") {
      if (id !== null) this.lastId = Number(id);
      this.show(data);
      this.dispatchEvent(new CustomEvent("herald-feed-item", { detail: data }));
    } else if (name === "unread") {
      this.count(data.unread);
    }
  }

  count(unread) {
    this.unread = unread;
    this.badge.textContent = unread > 99 ? "99+" : String(unread);
    this.badge.hidden = unread === 0;
    this.bell.setAttribute("aria-label", `Notifications, ${unread} unread`);
    this.dispatchEvent(new CustomEvent("herald-feed-unread", { detail: { unread } }));
  }

  show(item) {
    const old = this.items.get(item.id);
    const row = this.el("li", { "data-id": item.id });
    row.className = item.status === "unread" ? "unread" : "";
    if (item.avatar && SAFE_LINK.test(item.avatar)) row.append(this.el("img", { src: item.avatar, alt: "" }));
    const open = this.el("button", { class: "item", type: "button" });
    const title = this.el("strong");
    title.textContent = item.title;
    const body = this.el("span");
    body.textContent = item.body;
    const when = this.el("time", { datetime: item.created_at });
    when.textContent = new Date(item.created_at).toLocaleString();
    open.append(title, body, when);
    open.addEventListener("click", () => this.open(item));
    const archive = this.el("button", { class: "act", type: "button", "aria-label": `Archive ${item.title}` });
    archive.textContent = "×";
    archive.addEventListener("click", () => this.mark(item, "archive"));
    row.append(open, archive);
    this.items.set(item.id, { item, row });
    if (old) old.row.replaceWith(row);
    else this.list.prepend(row);
    this.list.querySelector(".empty")?.remove();
  }

  toggle() {
    const opening = this.panel.hidden;
    this.panel.hidden = !opening;
    this.bell.setAttribute("aria-expanded", String(opening));
    if (opening && this.items.size === 0 && !this.list.querySelector(".empty")) {
      const empty = this.el("li", { class: "empty" });
      empty.textContent = "Nothing new.";
      this.list.append(empty);
    }
  }

  async mark(item, how) {
    const answer = await fetch(`${this.base}/${item.id}/${how}`, { method: "POST", headers: this.headers() });
    if (!answer.ok) return this.problem(new Error(`feed: ${answer.status}`));
    const changed = (await answer.json()).data;
    if (how === "archive") {
      this.items.get(item.id)?.row.remove();
      this.items.delete(item.id);
    } else {
      this.show(changed);
    }
  }

  async open(item) {
    if (item.status === "unread") await this.mark(item, "read");
    if (item.link && SAFE_LINK.test(item.link)) window.location.assign(item.link);
  }

  async markAll() {
    const answer = await fetch(`${this.base}/read_all`, { method: "POST", headers: this.headers() });
    if (!answer.ok) return this.problem(new Error(`feed: ${answer.status}`));
    this.count((await answer.json()).data.unread);
    for (const { item } of this.items.values()) if (item.status === "unread") this.show({ ...item, status: "read" });
  }

  problem(error) {
    this.setAttribute("data-error", error.message);
    this.dispatchEvent(new CustomEvent("herald-feed-error", { detail: { message: error.message } }));
  }
}

if (!customElements.get("herald-feed")) customElements.define("herald-feed", HeraldFeed);
