// The admin's live conversation: follow it over a staff-session socket, read visitor
// messages in the staff's language (the original one click away), reply as an agent.
(() => {
  "use strict";
  const live = document.getElementById("live");
  if (!live) return;
  const list = document.getElementById("live-messages");
  const reply = document.getElementById("reply");
  const send = document.getElementById("reply-send");
  const state = document.getElementById("live-state");
  const answers = new Map(); // generation id -> list item of the assistant's answer
  let socket = null;

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
    error(event) { state.textContent = event.detail; },
  };

  function connect() {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${live.dataset.wsUrl}`);
    socket.addEventListener("open", () => { state.textContent = "Connected."; });
    socket.addEventListener("message", (frame) => {
      let event;
      try { event = JSON.parse(frame.data); } catch { return; }
      (handlers[event.type] || (() => {}))(event);
    });
    socket.addEventListener("close", (closed) => {
      state.textContent = "Disconnected; reconnecting…";
      if (closed.code !== 4401 && closed.code !== 4403) setTimeout(connect, 1500);
    });
  }

  send.addEventListener("click", () => {
    const text = reply.value.trim();
    if (!text || !socket || socket.readyState !== WebSocket.OPEN) return;
    socket.send(JSON.stringify({ type: "agent.message", text }));
    reply.value = "";
    state.textContent = "Sent; translating if needed…";
  });
  connect();
})();
