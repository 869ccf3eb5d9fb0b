// The staff's live conversation (the admin's conversation page and the console): follow it
// over a staff-session socket, read visitor messages in the staff's language (the original
// one click away), see the visitor typing, reply as an agent, with canned responses
// (/shortcut) and a suggested reply streamed into the box (the console only).
(() => {
  "use strict";
  const live = document.getElementById("live");
  if (!live) return;
  const list = document.getElementById("live-messages");
  const reply = document.getElementById("reply");
  const send = document.getElementById("reply-send");
  const state = document.getElementById("live-state");
  const answers = new Map(); // generation id -> list item of the assistant's answer
  const typing = document.getElementById("typing");
  let socket = null;
  let typingTimer = null;
  let typedAt = 0;

  function item(id, role) {
    let li = id ? list.querySelector(`[data-message-id="${id}"]`) : null;
    if (!li) {
      li = document.createElement("li");
      li.className = `live-${role}`;
      if (id) li.dataset.messageId = id;
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = { user: "Visitor", agent: "Agent" }[role] || "Assistant";
      const shown = document.createElement("span");
      shown.className = "shown";
      li.append(who, shown);
      list.appendChild(li);
      list.scrollTop = list.scrollHeight;
    }
    return li;
  }

  function original(li, label, text) {
    li.querySelector("details")?.remove();
    const details = document.createElement("details");
    const summary = document.createElement("summary");
    summary.textContent = label;
    const span = document.createElement("span");
    span.className = "original";
    span.textContent = text;
    details.append(summary, span);
    li.appendChild(details);
  }

  const handlers = {
    "message.created"(event) {
      const message = event.message;
      const li = item(message.id, message.role);
      li.querySelector(".shown").textContent = message.text;
      if (message.role === "assistant" && message.generation_id) answers.set(message.generation_id, li);
    },
    "generation.delta"(event) {
      const li = answers.get(event.generation_id);
      if (li) li.querySelector(".shown").textContent += event.text;
    },
    "generation.done"(event) {
      const li = answers.get(event.generation_id);
      if (li && typeof event.text === "string") li.querySelector(".shown").textContent = event.text;
    },
    "message.translated"(event) {
      const li = item(event.message_id, "user");
      const text = li.querySelector(".shown").textContent;
      li.querySelector(".shown").textContent = event.translation;
      original(li, `Original (${event.language})`, text);
    },
    "agent.message"(event) {
      const message = event.message;
      const li = item(message.id, "agent");
      li.querySelector(".who").textContent = message.author || "Agent";
      li.querySelector(".shown").textContent = message.original;
      if (message.original !== message.text) original(li, `Sent (${message.language})`, message.text);
    },
    "visitor.typing"() {
      if (!typing) return;
      typing.textContent = "The visitor is typing…";
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typing.textContent = ""; }, 4000);
    },
    "handoff.state"(event) {
      const name = document.getElementById("state-name");
      if (name) name.textContent = event.state;
    },
    "agent.joined"(event) { state.textContent = `${event.agent.name} joined.`; },
    error(event) { state.textContent = event.detail; },
  };

  function connect() {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${live.dataset.wsUrl}`);
    socket.addEventListener("open", () => {
      state.textContent = "Connected.";
      while (outbox.length) socket.send(JSON.stringify({ type: "agent.message", text: outbox.shift() }));
    });
    socket.addEventListener("message", (frame) => {
      let event;
      try { event = JSON.parse(frame.data); } catch { return; }
      if (event.type === "message.created" && event.message.role === "user" && typing) typing.textContent = "";
      (handlers[event.type] || (() => {}))(event);
    });
    socket.addEventListener("close", (closed) => {
      state.textContent = "Disconnected; reconnecting…";
      if (closed.code !== 4401 && closed.code !== 4403) setTimeout(connect, 1500);
    });
  }

  reply.addEventListener("input", () => {
    const now = Date.now();
    if (socket && socket.readyState === WebSocket.OPEN && now - typedAt > 2000) {
      typedAt = now;
      socket.send('{"type":"typing"}');
    }
    canned(reply.value);
  });

  // Canned responses: "/ship" lists those whose shortcut starts so; a click inserts one.
  const cannedBox = document.getElementById("canned");
  let cannedQuery = null;
  async function canned(value) {
    if (!cannedBox || !live.dataset.cannedUrl) return;
    const found = /^\/(\S*)$/.exec(value.trim());
    if (!found) { cannedBox.innerHTML = ""; cannedQuery = null; return; }
    if (found[1] === cannedQuery) return;
    cannedQuery = found[1];
    const response = await fetch(`${live.dataset.cannedUrl}?q=${encodeURIComponent(found[1])}`);
    if (response.ok && cannedQuery === found[1]) cannedBox.innerHTML = await response.text();
  }
  if (cannedBox) {
    const pick = (target) => {
      const option = target.closest("[data-text]");
      if (!option) return;
      reply.value = option.dataset.text;
      cannedBox.innerHTML = "";
      cannedQuery = null;
      reply.focus();
    };
    cannedBox.addEventListener("click", (event) => pick(event.target));
    cannedBox.addEventListener("keydown", (event) => { if (event.key === "Enter") pick(event.target); });
  }

  // A suggested reply: drafted by the model from the conversation and the knowledge base,
  // streamed into the box; nothing is sent until the agent sends it.
  const suggest = document.getElementById("reply-suggest");
  if (suggest && live.dataset.suggestUrl) {
    suggest.addEventListener("click", async () => {
      suggest.disabled = true;
      state.textContent = "Drafting a reply…";
      const csrf = (document.cookie.match(/csrftoken=([^;]+)/) || [])[1] || "";
      const response = await fetch(live.dataset.suggestUrl, { method: "POST", headers: { "X-CSRFToken": csrf } });
      if (!response.ok) { suggest.disabled = false; state.textContent = "The suggestion could not be started."; return; }
      const job = await response.json();
      reply.value = "";
      const draft = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${job.ws_url}`);
      draft.addEventListener("message", (frame) => {
        let event;
        try { event = JSON.parse(frame.data); } catch { return; }
        if (event.type === "generation.delta") reply.value += event.text;
        if (event.type === "generation.done") {
          if (typeof event.text === "string" && event.text) reply.value = event.text;
          state.textContent = "Suggestion ready: edit it, then send.";
          suggest.disabled = false;
          draft.close();
        }
        if (event.type === "generation.error") {
          state.textContent = event.detail || "The suggestion failed.";
          suggest.disabled = false;
          draft.close();
        }
      });
    });
  }

  // A reply written before the socket is open (or while it reconnects) waits in the outbox.
  const outbox = [];
  send.addEventListener("click", () => {
    const text = reply.value.trim();
    if (!text) return;
    reply.value = "";
    if (!socket || socket.readyState !== WebSocket.OPEN) {
      outbox.push(text);
      state.textContent = "Not connected: the reply will be sent when the connection is back.";
      return;
    }
    socket.send(JSON.stringify({ type: "agent.message", text }));
    state.textContent = "Sent; translating if needed…";
  });
  connect();
})();
