// Helpline's chat widget: one tag on any page,
//   <script src="https://HOST/widget.js" data-site="PUBLIC_KEY" async></script>
// A launcher button and a chat panel in an open shadow root (the page's CSS cannot reach
// in, and nothing here reaches out). Answers stream over the conversation's socket; the
// conversation survives reloads and navigation (its token in localStorage, per site).
// The page may call Helpline.open(), close(), identify({user_id, user_hash, name, email}),
// reset(), setLocale("en" | "zh") and on("message" | "open" | "close" | "ready", fn).
// When a person takes over (the handoff), the panel shows the queue, the agent's name and
// typing, an email form when nobody is online, and a survey once it is resolved.
(function () {
  "use strict";
  const script = document.currentScript || document.querySelector("script[data-site][src*='widget.js']");
  if (!script || window.Helpline) return;
  const publicKey = script.dataset.site || "";
  const base = new URL(script.src, location.href).origin;
  const store = "helpline:" + publicKey;
  const listeners = { message: [], open: [], close: [], ready: [] };

  const TEXTS = {
    en: {
      open: "Open chat", close: "Close chat", message: "Message", send: "Send", stop: "Stop",
      title: "Chat with us", greeting: "Hi! Ask us anything.", placeholder: "Write a message…",
      sources: "Sources", reconnecting: "Connection lost. Reconnecting…", stopped: "Stopped.",
      refused: "The chat is not available on this page.", failed: "Something went wrong. Please try again.",
      agent: "Agent", assistant: "Assistant", you: "You", unread: "unread",
      talk: "Talk to a person", connecting: "Connecting you to a person…",
      queue: "Connecting you to a person… You are number {n} in the queue.",
      offline: "No one from our team is available right now. Leave your email and we'll reply as soon as we can.",
      email: "Your email", sendEmail: "Send email", emailThanks: "Thanks. We'll reply to {email} as soon as we can.",
      joined: "{name} joined the conversation.", typing: "{name} is typing…",
      survey: "How did we do?", score: "{n} of 5", comment: "Add a comment (optional)",
      sendFeedback: "Send feedback", thanks: "Thanks for your feedback.",
    },
    zh: {
      open: "打开聊天", close: "关闭聊天", message: "消息", send: "发送", stop: "停止",
      title: "在线咨询", greeting: "您好！有什么可以帮您？", placeholder: "输入消息…",
      sources: "来源", reconnecting: "连接已断开，正在重新连接…", stopped: "已停止。",
      refused: "此页面无法使用聊天。", failed: "出了点问题，请重试。",
      agent: "客服", assistant: "助手", you: "我", unread: "条未读",
      talk: "转人工", connecting: "正在为您转接人工客服…",
      queue: "正在为您转接人工客服…您在队列中排第 {n} 位。",
      offline: "目前没有客服在线。请留下您的邮箱，我们会尽快回复您。",
      email: "您的邮箱", sendEmail: "发送邮箱", emailThanks: "谢谢！我们会尽快回复到 {email}。",
      joined: "{name} 已加入对话。", typing: "{name} 正在输入…",
      survey: "您对本次服务满意吗？", score: "{n} 分（满分 5 分）", comment: "补充意见（可选）",
      sendFeedback: "发送反馈", thanks: "感谢您的反馈！",
    },
  };

  function browserLocale() {
    return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  }

  function saved() {
    try { return JSON.parse(localStorage.getItem(store) || "null"); } catch (e) { return null; }
  }
  function save(value) {
    try {
      if (value) localStorage.setItem(store, JSON.stringify(value));
      else localStorage.removeItem(store);
    } catch (e) { /* private mode: the conversation lasts as long as the page */ }
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }
  // A small, safe Markdown: the text is escaped first, then bold, code, links (http and
  // https only), list items and line breaks are drawn.
  function markdown(text) {
    let html = escapeHtml(text);
    html = html.replace(/`([^`\n]+)`/g, "<code>$1</code>");
    html = html.replace(/\*\*([^*\n]+)\*\*/g, "<strong>$1</strong>");
    html = html.replace(/\[([^\]\n]+)\]\((https?:\/\/[^)\s]+)\)/g, '<a href="$2" target="_blank" rel="noopener noreferrer">$1</a>');
    html = html.replace(/^\s*[-*] (.+)$/gm, "<li>$1</li>").replace(/(<li>.*<\/li>\n?)+/g, (m) => "<ul>" + m.replace(/\n/g, "") + "</ul>");
    return html.replace(/\n/g, "<br>");
  }

  const STAR = '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 2.5l2.9 6.1 6.6.8-4.9 4.6 1.3 6.6L12 17.3l-5.9 3.3 1.3-6.6-4.9-4.6 6.6-.8z"/></svg>';

  const STYLE = `
    :host { all: initial !important; position: fixed !important; z-index: 2147483000 !important; bottom: 20px !important; }
    :host([data-position="right"]) { right: 20px !important; }
    :host([data-position="left"]) { left: 20px !important; }
    .root { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", "PingFang SC", "Noto Sans CJK SC", sans-serif; color: #111827; }
    .root * { box-sizing: border-box; }
    button { font: inherit; cursor: pointer; display: inline-block; }
    .launcher { width: 56px; height: 56px; border-radius: 50%; border: 0; background: var(--accent); color: #fff;
      box-shadow: 0 4px 14px rgba(0,0,0,.25); position: relative; display: grid; place-items: center; }
    .launcher svg { width: 26px; height: 26px; }
    .badge { position: absolute; top: -4px; right: -4px; min-width: 20px; height: 20px; border-radius: 10px; padding: 0 5px;
      background: #dc2626; color: #fff; font-size: 12px; line-height: 20px; text-align: center; }
    .panel { position: absolute; bottom: 70px; width: 370px; height: min(560px, calc(100vh - 110px)); background: #fff;
      border-radius: 14px; box-shadow: 0 10px 40px rgba(0,0,0,.25); display: flex; flex-direction: column; overflow: hidden; }
    :host([data-position="right"]) .panel { right: 0; }
    :host([data-position="left"]) .panel { left: 0; }
    .panel[hidden], .badge[hidden], [hidden] { display: none !important; }
    header { background: var(--accent); color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 10px; }
    header img { width: 28px; height: 28px; border-radius: 6px; background: #fff; object-fit: contain; }
    header h2 { font-size: 16px; margin: 0; flex: 1; font-weight: 600; }
    header button { background: transparent; border: 0; color: #fff; font-size: 22px; line-height: 1; padding: 2px 6px; }
    ol { list-style: none; margin: 0; padding: 12px; flex: 1; overflow-y: auto; display: flex; flex-direction: column; gap: 8px; }
    li.msg { max-width: 85%; padding: 8px 11px; border-radius: 12px; background: #f3f4f6; word-wrap: break-word; }
    li.msg.user { align-self: flex-end; background: var(--accent); color: #fff; }
    li.msg.user a { color: #fff; }
    li.msg .who { font-size: 12px; color: #6b7280; margin-bottom: 2px; }
    li.msg.user .who { display: none; }
    li.msg .note { font-size: 12px; color: #6b7280; margin-top: 4px; }
    li.msg .sources { font-size: 12px; margin-top: 6px; color: #374151; }
    li.msg .sources a { color: inherit; }
    li.msg ul { margin: 4px 0; padding-left: 18px; }
    li.msg p { margin: 0 0 .5em; }
    li.msg .body > :last-child { margin-bottom: 0; } /* the server's rendering is in paragraphs */
    li.msg.agent { background: #f5f3ff; box-shadow: inset 0 0 0 1px #ddd6fe; }
    li.msg code { background: rgba(0,0,0,.06); padding: 0 3px; border-radius: 3px; }
    li.greeting { align-self: flex-start; }
    .status { font-size: 12px; color: #b45309; padding: 0 12px; min-height: 0; }
    form.composer { display: flex; gap: 8px; padding: 10px; border-top: 1px solid #e5e7eb; align-items: flex-end; }
    textarea, input { flex: 1; resize: none; font: inherit; font-size: 16px; padding: 8px 10px; border: 1px solid #d1d5db;
      border-radius: 10px; max-height: 120px; min-height: 40px; color: #111827; background: #fff; min-width: 0; }
    form button, .talk { border: 0; border-radius: 10px; padding: 9px 14px; background: var(--accent); color: #fff; }
    form button.stop { background: #6b7280; }
    form button:disabled { opacity: .5; cursor: default; }
    li.msg .talk { margin-top: 8px; padding: 6px 12px; font-size: 14px; }
    .root:not([data-handoff="bot"]) .talk { display: none; } /* a person was asked for already */
    li.system { align-self: center; font-size: 13px; color: #4b5563; text-align: center; padding: 2px 8px; }
    .typing { font-size: 13px; color: #6b7280; font-style: italic; padding: 0 14px 6px; }
    .handoff { border-top: 1px solid #e5e7eb; background: #eff6ff; padding: 10px 12px; font-size: 14px; color: #1e3a8a; }
    .handoff.none { padding: 0; border: 0; }
    .handoff.waiting .handoff-status::before { content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
      background: currentColor; margin-right: 7px; vertical-align: 1px; animation: pulse 1.4s ease-in-out infinite; }
    @keyframes pulse { 50% { opacity: .25; } }
    @media (prefers-reduced-motion: reduce) { .handoff.waiting .handoff-status::before { animation: none; } }
    .handoff.offline { background: #fffbeb; color: #78350f; }
    .handoff.resolved { background: #f9fafb; color: #111827; }
    .handoff p { margin: 0; }
    .handoff form { display: flex; gap: 8px; margin-top: 8px; flex-wrap: wrap; }
    .handoff form.survey { flex-direction: column; gap: 6px; margin-top: 4px; }
    .survey .title { font-weight: 600; }
    .stars { display: flex; gap: 2px; }
    .stars button { border: 0; background: transparent; padding: 4px; color: #d1d5db; line-height: 0; border-radius: 6px; }
    .stars button svg { width: 32px; height: 32px; fill: currentColor; }
    .stars button.on { color: #f59e0b; }
    .survey textarea { min-height: 52px; }
    .survey button[type="submit"] { align-self: flex-end; }
    :focus-visible { outline: 2px solid #1d4ed8; outline-offset: 2px; }
    @media (max-width: 600px) {
      :host { bottom: 14px !important; }
      .panel { position: fixed; inset: 0; width: 100vw; height: 100%; border-radius: 0; bottom: 0; }
      .root.open .launcher { display: none; } /* full screen: the header's × closes it */
    }`;

  class HelplineChat extends HTMLElement {
    constructor() {
      super();
      this.locale = browserLocale();
      this.config = {};
      this.identity = null;
      this.conversation = saved();
      this.socket = null;
      this.retry = 500;
      this.lastSeq = new Map();
      this.active = null;
      this.unread = 0;
      this.outbox = new Map();
      this.handoff = { state: "bot" }; // who answers: bot, waiting, assigned, resolved
      this.score = 0; // the survey's score picked, not sent yet
      this.typedAt = 0;
      this.typingTimer = null;
      this.root = this.attachShadow({ mode: "open" });
    }

    t(key) { return (TEXTS[this.locale] || TEXTS.en)[key]; }

    connectedCallback() {
      this.setAttribute("data-position", "right");
      this.draw();
      fetch(base + "/api/v1/widget/" + encodeURIComponent(publicKey))
        .then((r) => (r.ok ? r.json() : {}))
        .catch(() => ({}))
        .then((config) => {
          this.config = config || {};
          if (this.config.language && TEXTS[this.config.language] && !this.localeSet) this.locale = this.config.language;
          this.setAttribute("data-position", this.config.position === "left" ? "left" : "right");
          this.draw();
          if (this.conversation) this.load();
          emit("ready", {});
        });
    }

    draw() {
      const accent = /^#[0-9a-fA-F]{3,8}$/.test(this.config.color || "") ? this.config.color : "#2563eb";
      const open = this.panel && !this.panel.hidden;
      const kept = this.list ? Array.from(this.list.children).filter((li) => !li.classList.contains("greeting")) : [];
      this.root.innerHTML = `<style>${STYLE}</style>
        <div class="root" style="--accent:${accent}">
          <section class="panel" role="dialog" aria-label="${this.t("title")}" hidden>
            <header>${this.config.logo_url && /^https?:/.test(this.config.logo_url) ? `<img alt="" src="${escapeHtml(this.config.logo_url)}">` : ""}
              <h2>${escapeHtml(this.config.name || this.t("title"))}</h2>
              <button type="button" class="close" aria-label="${this.t("close")}">×</button></header>
            <ol role="log" aria-live="polite" aria-label="${this.t("title")}"></ol>
            <div class="typing" hidden></div>
            <div class="handoff none">
              <p class="handoff-status" aria-live="polite"></p>
              <form class="contact" hidden><input type="email" required autocomplete="email" maxlength="254"
                  aria-label="${this.t("email")}" placeholder="${this.t("email")}">
                <button type="submit" aria-label="${this.t("sendEmail")}">${this.t("send")}</button></form>
              <form class="survey" hidden aria-labelledby="survey-title">
                <p class="title" id="survey-title">${this.t("survey")}</p>
                <div class="stars" role="group" aria-labelledby="survey-title">${[1, 2, 3, 4, 5].map((n) =>
                  `<button type="button" data-score="${n}" aria-pressed="false" aria-label="${this.t("score").replace("{n}", n)}">${STAR}</button>`).join("")}</div>
                <textarea rows="2" maxlength="2000" aria-label="${this.t("comment")}" placeholder="${this.t("comment")}"></textarea>
                <button type="submit" aria-label="${this.t("sendFeedback")}" disabled>${this.t("send")}</button></form>
            </div>
            <div class="status" role="status"></div>
            <form class="composer"><textarea rows="1" aria-label="${this.t("message")}" placeholder="${this.t("placeholder")}" maxlength="8000"></textarea>
              <button type="submit" class="send">${this.t("send")}</button>
              <button type="button" class="stop" hidden>${this.t("stop")}</button></form>
          </section>
          <button type="button" class="launcher" aria-label="${this.t("open")}" aria-expanded="false">
            <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="2" aria-hidden="true"><path d="M21 12a8 8 0 0 1-11.6 7.1L4 20l1-4.6A8 8 0 1 1 21 12z"/></svg>
            <span class="badge" hidden></span>
          </button>
        </div>`;
      const $ = (s) => this.root.querySelector(s);
      this.panel = $(".panel"); this.list = $("ol"); this.input = $("form.composer textarea");
      this.statusLine = $(".status"); this.launcher = $(".launcher"); this.badge = $(".badge");
      this.stopButton = $(".stop"); this.sendButton = $(".send");
      const greeting = document.createElement("li");
      greeting.className = "msg greeting";
      greeting.textContent = this.config.greeting || this.t("greeting");
      this.list.append(greeting, ...kept);
      this.launcher.addEventListener("click", () => (this.panel.hidden ? this.open() : this.close()));
      $(".close").addEventListener("click", () => this.close());
      $("form.composer").addEventListener("submit", (e) => { e.preventDefault(); this.send(); });
      this.input.addEventListener("keydown", (e) => {
        if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); this.send(); }
      });
      this.panel.addEventListener("keydown", (e) => { if (e.key === "Escape") { this.close(); this.launcher.focus(); } });
      this.stopButton.addEventListener("click", () => this.frame({ type: "cancel", generation_id: this.active }));
      this.input.addEventListener("input", () => this.typed());
      this.handoffWire();
      this.handoffShow();
      this.setActive(this.active);
      this.showUnread();
      if (open) this.open();
    }

    open() {
      this.panel.hidden = false;
      this.root.querySelector(".root").classList.add("open");
      this.launcher.setAttribute("aria-expanded", "true");
      this.launcher.setAttribute("aria-label", this.t("close"));
      this.unread = 0;
      this.showUnread();
      this.input.focus();
      this.list.scrollTop = this.list.scrollHeight;
      if (!this.socket) this.start();
      emit("open", {});
    }

    close() {
      if (this.panel.hidden) return;
      this.panel.hidden = true;
      this.root.querySelector(".root").classList.remove("open");
      this.launcher.setAttribute("aria-expanded", "false");
      this.launcher.setAttribute("aria-label", this.t("open"));
      emit("close", {});
    }

    showUnread() {
      this.badge.hidden = !this.unread;
      this.badge.textContent = String(this.unread);
      this.badge.setAttribute("aria-label", this.unread + " " + this.t("unread"));
    }

    status(text) { this.statusLine.textContent = text || ""; }

    start() {
      // Once at a time: opening the panel and a first message sent at once would make two.
      if (!this.starting) this.starting = this.conversationStart().finally(() => { this.starting = null; });
      return this.starting;
    }

    async conversationStart() {
      // A conversation: the saved one, or a new one (with the verified identity, if given).
      if (!this.conversation) {
        const body = { public_key: publicKey, page: String(location.href).slice(0, 500) };
        if (this.identity) Object.assign(body, { user_id: this.identity.user_id, user_hash: this.identity.user_hash, resume: true });
        let response;
        try {
          response = await fetch(base + "/api/v1/conversations", {
            method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
          });
        } catch (e) { this.status(this.t("failed")); return; }
        const data = await response.json().catch(() => ({}));
        if (!response.ok) { this.status((data.error && data.error.detail) || this.t("refused")); return; }
        this.conversation = { id: data.id, token: data.token, ws_url: data.ws_url, user_id: this.identity ? this.identity.user_id : "" };
        save(this.conversation);
        if (response.status === 200) await this.load();
      }
      this.connect();
    }

    async load() {
      // The history, after a reload or on another device; then the live socket.
      const c = this.conversation;
      const response = await fetch(base + "/api/v1/conversations/" + c.id + "/messages", {
        headers: { Authorization: "Bearer " + c.token },
      }).catch(() => null);
      if (!response) return;
      if (response.status === 401 || response.status === 404) { save(null); this.conversation = null; return; }
      const data = await response.json();
      for (const message of data.messages || []) this.bubble(message);
      if (data.handoff) this.handoffSet(data.handoff);
      if (!this.socket) this.connect();
    }

    connect() {
      if (!this.conversation) return;
      const socket = new WebSocket(base.replace(/^http/, "ws") + this.conversation.ws_url);
      this.socket = socket;
      socket.addEventListener("open", () => {
        this.retry = 500;
        this.status("");
        this.list.querySelectorAll('[data-status="queued"], [data-status="streaming"]').forEach((li) => {
          const id = li.dataset.generationId;
          if (id) socket.send(JSON.stringify({ type: "resume", generation_id: id, after_seq: this.lastSeq.get(id) || 0 }));
        });
        for (const [clientId, text] of this.outbox) socket.send(JSON.stringify({ type: "user.message", text, client_id: clientId }));
      });
      socket.addEventListener("message", (frame) => {
        let event;
        try { event = JSON.parse(frame.data); } catch (e) { return; }
        const handler = this.handlers[event.type];
        if (handler) handler.call(this, event);
      });
      socket.addEventListener("close", (closed) => {
        if (this.socket !== socket) return;
        if (closed.code === 4401 || closed.code === 4403) {
          this.socket = null;
          if (closed.code === 4401) { save(null); this.conversation = null; }
          this.status(this.t("refused"));
          return;
        }
        this.status(this.t("reconnecting"));
        setTimeout(() => { if (this.socket === socket) this.connect(); }, this.retry);
        this.retry = Math.min(this.retry * 2, 8000);
      });
    }

    frame(event) {
      if (this.socket && this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(event));
    }

    send() {
      const text = this.input.value.trim();
      if (!text || this.active) return;
      const clientId = (crypto.randomUUID && crypto.randomUUID()) || Date.now() + "-" + Math.random();
      this.outbox.set(clientId, text);
      this.bubble({ id: "pending-" + clientId, role: "user", text, status: "done", client_id: clientId });
      this.input.value = "";
      if (!this.socket) this.start();
      else this.frame({ type: "user.message", text, client_id: clientId });
    }

    setActive(id) {
      this.active = id;
      this.stopButton.hidden = !id;
      this.sendButton.hidden = !!id;
    }

    item(message) {
      let li = this.list.querySelector('[data-id="' + message.id + '"]');
      if (!li && message.client_id) li = this.list.querySelector('[data-client-id="' + message.client_id + '"]');
      if (!li) {
        li = document.createElement("li");
        li.innerHTML = '<div class="who"></div><div class="body"></div>';
        this.list.appendChild(li);
      }
      return li;
    }

    bubble(message) {
      const li = this.item(message);
      li.className = "msg " + message.role;
      li.dataset.id = message.id;
      if (message.client_id) li.dataset.clientId = message.client_id;
      if (message.generation_id) li.dataset.generationId = message.generation_id;
      li.dataset.status = message.status;
      li.querySelector(".who").textContent = message.role === "user" ? this.t("you") : message.role === "agent" ? (message.author || this.t("agent")) : this.t("assistant");
      // The server's sanitized rendering of a finished answer (FAQ answers are often HTML);
      // else this script's own escaped Markdown.
      li.querySelector(".body").innerHTML = message.html || markdown(message.text || "");
      if (message.html) li.dataset.rendered = "server";
      this.sources(li, message.sources);
      if (message.role === "assistant" && message.route === "no_answer") this.offerPerson(li);
      if (message.role === "assistant" && ["queued", "streaming"].includes(message.status)) this.setActive(message.generation_id);
      this.list.scrollTop = this.list.scrollHeight;
      return li;
    }

    sources(li, sources) {
      li.querySelector(".sources")?.remove();
      if (!sources || !sources.length) return;
      const box = document.createElement("div");
      box.className = "sources";
      box.textContent = this.t("sources") + ": ";
      sources.forEach((s, i) => {
        const span = document.createElement(s.url && /^https?:/.test(s.url) ? "a" : "span");
        if (span.tagName === "A") { span.href = s.url; span.target = "_blank"; span.rel = "noopener noreferrer"; }
        span.textContent = "[" + (s.n || i + 1) + "] " + (s.title || "");
        span.title = s.excerpt || "";
        box.append(span, " ");
      });
      li.appendChild(box);
    }

    // The handoff -------------------------------------------------------------------------

    offerPerson(li) {
      // Under an answer the assistant could not give (hidden once a person was asked for).
      if (li.querySelector(".talk")) return;
      const button = document.createElement("button");
      button.type = "button";
      button.className = "talk";
      button.textContent = this.t("talk");
      li.appendChild(button);
    }

    handoffWire() {
      const $ = (s) => this.root.querySelector(s);
      this.handoffBox = $(".handoff");
      this.typingLine = $(".typing");
      const contact = $("form.contact");
      const survey = $("form.survey");
      contact.addEventListener("submit", (e) => {
        e.preventDefault();
        const email = contact.querySelector("input").value.trim();
        if (email) this.frame({ type: "contact", email });
      });
      survey.querySelectorAll(".stars button").forEach((b) =>
        b.addEventListener("click", () => { this.score = Number(b.dataset.score); this.handoffShow(); }));
      survey.addEventListener("submit", (e) => {
        e.preventDefault();
        const comment = survey.querySelector("textarea").value.trim();
        if (this.score) this.frame({ type: "csat", score: this.score, ...(comment ? { comment } : {}) });
      });
      this.list.addEventListener("click", (e) => {
        const talk = e.target.closest(".talk");
        if (!talk || !this.socket || this.socket.readyState !== WebSocket.OPEN) return;
        talk.disabled = true;
        this.frame({ type: "handoff.request" });
      });
      this.list.querySelectorAll(".talk").forEach((b) => { b.textContent = this.t("talk"); });
    }

    handoffSet(handoff) {
      if (!handoff || !handoff.state) return;
      const c = this.conversation;
      if (c && c.csat && handoff.state !== "resolved") { delete c.csat; save(c); } // a new round
      if (handoff.state !== "resolved") this.score = 0;
      this.handoff = handoff;
      this.handoffShow();
    }

    handoffShow() {
      const h = this.handoff;
      const c = this.conversation || {};
      const name = () => (h.agent && h.agent.name) || this.t("agent");
      const offline = h.state === "waiting" && h.agents_online === false;
      const survey = h.state === "resolved" && !c.csat;
      let text = "";
      if (offline) text = c.contact ? this.t("emailThanks").replace("{email}", () => c.contact) : this.t("offline");
      else if (h.state === "waiting") text = h.position ? this.t("queue").replace("{n}", h.position) : this.t("connecting");
      else if (h.state === "assigned") text = this.t("joined").replace("{name}", name);
      else if (h.state === "resolved" && c.csat) text = this.t("thanks");
      this.root.querySelector(".root").dataset.handoff = h.state;
      // The status line stays in the page (an aria-live region announces what it gets).
      this.handoffBox.className = "handoff " + (offline ? "offline" : h.state) + (text || survey ? "" : " none");
      this.handoffBox.querySelector(".handoff-status").textContent = text;
      this.handoffBox.querySelector("form.contact").hidden = !offline || !!c.contact;
      const form = this.handoffBox.querySelector("form.survey");
      form.hidden = !survey;
      form.querySelectorAll(".stars button").forEach((b) => {
        const on = Number(b.dataset.score) <= this.score;
        b.classList.toggle("on", on);
        b.setAttribute("aria-pressed", String(Number(b.dataset.score) === this.score));
      });
      form.querySelector('button[type="submit"]').disabled = !this.score;
      this.list.scrollTop = this.list.scrollHeight; // the log got shorter: keep its end in view
    }

    typed() {
      // Only a person waiting or answering reads it: at most one frame in 2 s.
      if (!["waiting", "assigned"].includes(this.handoff.state) || Date.now() - this.typedAt < 2000) return;
      this.typedAt = Date.now();
      this.frame({ type: "typing" });
    }

    systemLine(text) {
      const li = document.createElement("li");
      li.className = "system";
      li.textContent = text;
      this.list.appendChild(li);
      this.list.scrollTop = this.list.scrollHeight;
    }

    arrived(li, message) {
      // A finished answer or an agent's message: counted while the panel is closed.
      if (this.panel.hidden) { this.unread += 1; this.showUnread(); }
      emit("message", { message });
    }
  }

  HelplineChat.prototype.handlers = {
    "message.created"(event) {
      const message = event.message;
      if (message.client_id) this.outbox.delete(message.client_id);
      this.bubble(message);
    },
    "generation.delta"(event) {
      if (event.seq <= (this.lastSeq.get(event.generation_id) || 0)) return; // shown already
      this.lastSeq.set(event.generation_id, event.seq);
      const li = this.list.querySelector('[data-generation-id="' + event.generation_id + '"]');
      if (!li || li.dataset.rendered === "server") return; // finished and rendered already
      li.dataset.status = "streaming";
      li.dataset.raw = (li.dataset.raw || "") + event.text;
      li.querySelector(".body").innerHTML = markdown(li.dataset.raw);
      this.list.scrollTop = this.list.scrollHeight;
    },
    "generation.done"(event) {
      this.lastSeq.delete(event.generation_id);
      if (this.active === event.generation_id) this.setActive(null);
      const li = this.list.querySelector('[data-generation-id="' + event.generation_id + '"]');
      if (!li) return;
      if (event.route === "no_answer") this.offerPerson(li);
      const text = typeof event.text === "string" ? event.text : li.dataset.raw || "";
      li.dataset.status = event.status || "done";
      if (li.dataset.rendered !== "server") li.querySelector(".body").innerHTML = markdown(text);
      if (event.sources) this.sources(li, event.sources);
      if (event.status === "cancelled") {
        const note = document.createElement("div");
        note.className = "note";
        note.textContent = this.t("stopped");
        li.appendChild(note);
      }
      this.arrived(li, { id: li.dataset.id, role: "assistant", text, status: li.dataset.status });
    },
    "generation.error"(event) {
      this.lastSeq.delete(event.generation_id);
      if (this.active === event.generation_id) this.setActive(null);
      this.status(event.detail || this.t("failed"));
    },
    "agent.message"(event) {
      this.typingLine.hidden = true;
      const li = this.bubble({ ...event.message, status: "done" });
      this.arrived(li, event.message);
    },
    "handoff.state"(event) { this.handoffSet(event); },
    "agent.joined"(event) {
      this.systemLine(this.t("joined").replace("{name}", () => (event.agent && event.agent.name) || this.t("agent")));
    },
    "agent.typing"(event) {
      this.typingLine.textContent = this.t("typing").replace("{name}", () => (event.agent && event.agent.name) || this.t("agent"));
      this.typingLine.hidden = false;
      clearTimeout(this.typingTimer);
      this.typingTimer = setTimeout(() => { this.typingLine.hidden = true; }, 4000);
    },
    "csat.recorded"() {
      if (this.conversation) { this.conversation.csat = true; save(this.conversation); }
      this.handoffShow();
    },
    "contact.recorded"(event) {
      if (this.conversation) { this.conversation.contact = event.email; save(this.conversation); }
      this.handoffShow();
    },
    error(event) {
      this.list.querySelectorAll(".talk").forEach((b) => { b.disabled = false; }); // may ask again
      this.status(event.detail);
    },
  };

  function emit(name, detail) {
    for (const fn of listeners[name] || []) {
      try { fn(detail); } catch (e) { console.error(e); }
    }
  }

  customElements.define("helpline-chat", HelplineChat);
  const widget = document.createElement("helpline-chat");
  (document.body || document.documentElement).appendChild(widget);

  window.Helpline = {
    open() { widget.open(); },
    close() { widget.close(); },
    identify(identity) {
      // A verified visitor (user_hash from the site's backend) finds their conversations on
      // any device; another visitor's saved conversation is not theirs.
      widget.identity = identity && identity.user_id ? identity : null;
      const current = widget.conversation;
      if (current && current.user_id !== (widget.identity ? widget.identity.user_id : "")) Helpline.reset();
    },
    reset() {
      save(null);
      widget.conversation = null;
      if (widget.socket) { const s = widget.socket; widget.socket = null; s.close(); }
      widget.list.querySelectorAll("li:not(.greeting)").forEach((li) => li.remove());
      widget.setActive(null);
      widget.handoffSet({ state: "bot" });
    },
    setLocale(locale) {
      if (!TEXTS[locale]) return;
      widget.locale = locale;
      widget.localeSet = true;
      widget.draw();
    },
    on(name, fn) { if (listeners[name] && typeof fn === "function") listeners[name].push(fn); },
  };
})();
