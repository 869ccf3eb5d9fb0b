// The chat page's socket: send messages, stream answers, stop, reconnect and resume; when a
// person takes over (the handoff), the queue, the agent typing, an email form, the survey.
(() => {
  "use strict";
  const chat = document.getElementById("chat");
  if (!chat) return;

  const list = document.getElementById("messages");
  const form = document.getElementById("composer");
  const input = document.getElementById("text");
  const sendButton = document.getElementById("send");
  const stopButton = document.getElementById("stop");
  const banner = document.getElementById("banner");
  const TEXT = JSON.parse(document.getElementById("chat-texts").textContent);  // the page's language
  const lastSeq = new Map();   // generation id -> last seq shown
  const outbox = new Map();    // client id -> text not yet confirmed by the server
  let socket = null;
  let retryDelay = 500;
  let active = null;           // generation id being written, if any
  let handoff = { state: chat.dataset.handoff || "bot" };  // who answers (handoff.state)
  let score = 0;               // the survey's score picked, not sent yet
  let csatSent = !!chat.dataset.csat;
  let contactSent = "";        // the email the visitor left
  let typedAt = 0;
  let typingTimer = null;
  const handoffBox = document.getElementById("handoff");
  const typingLine = document.getElementById("typing");
  const contactForm = document.getElementById("contact");
  const surveyForm = document.getElementById("survey");

  const wsUrl = () => `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${chat.dataset.wsUrl}`;

  function showBanner(text, kind) {
    banner.textContent = text;
    banner.className = `banner ${kind || ""}`;
    banner.hidden = !text;
  }

  function setActive(generationId) {
    active = generationId;
    stopButton.hidden = !generationId;
    sendButton.disabled = !!generationId;
  }

  function bubble(message) {
    const hint = document.getElementById("hint");
    if (hint) hint.remove();
    let li = document.getElementById(`message-${message.id}`);
    if (!li && message.client_id) li = list.querySelector(`[data-client-id="${message.client_id}"]`);
    if (!li) {
      li = document.createElement("li");
      li.innerHTML = '<div class="who"></div><div class="body"></div>';
      list.appendChild(li);
    }
    li.id = `message-${message.id}`;
    li.className = `msg msg-${message.role}`;
    li.dataset.messageId = message.id;
    li.dataset.status = message.status;
    li.querySelector(".who").textContent = { user: TEXT.you, agent: message.author ? `${message.author} (${TEXT.agent})` : TEXT.agent }[message.role] || TEXT.assistant;
    if (message.generation_id) li.dataset.generationId = message.generation_id;
    if (message.role === "user" || message.role === "agent") li.querySelector(".body").textContent = message.text;
    return li;
  }

  function generationBubble(generationId) {
    return list.querySelector(`[data-generation-id="${generationId}"]`);
  }

  function streamingBody(li) {
    let body = li.querySelector(".body");
    if (!body.classList.contains("streaming")) {
      body.classList.add("streaming");
      body.textContent = "";
    }
    return body;
  }

  function note(li, text, kind) {
    let p = li.querySelector(".note");
    if (!p) { p = document.createElement("p"); li.appendChild(p); }
    p.className = `note ${kind || ""}`;
    p.textContent = text;
  }

  function rerender(li) {
    // Swap in the server's safely rendered Markdown of the finished message.
    const url = chat.dataset.messageUrl.replace(/\/0\/$/, `/${li.dataset.messageId}/`);
    if (window.htmx) window.htmx.ajax("GET", url, { target: li, swap: "outerHTML" });
  }

  // The handoff ----------------------------------------------------------------------------

  function frame(event) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(event));
  }

  function offerPerson(li) {
    // Under an answer the assistant could not give; hidden once a person was asked for.
    if (li.querySelector(".talk")) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "talk";
    button.textContent = TEXT.talk;
    li.appendChild(button);
  }

  function handoffSet(next) {
    if (!next || !next.state) return;
    if (next.state !== "resolved") { score = 0; csatSent = false; }  // a new round
    handoff = next;
    handoffShow();
  }

  function handoffShow() {
    const h = handoff;
    const name = (h.agent && h.agent.name) || TEXT.agent;
    const offline = h.state === "waiting" && h.agents_online === false;
    const survey = h.state === "resolved" && !csatSent;
    let text = "";
    if (offline) text = contactSent ? TEXT.email_thanks.replace("{email}", () => contactSent) : TEXT.nobody_online;
    else if (h.state === "waiting") text = h.position ? TEXT.queue.replace("{n}", h.position) : TEXT.connecting;
    else if (h.state === "assigned") text = TEXT.joined.replace("{name}", () => name);
    else if (h.state === "resolved" && csatSent) text = TEXT.thanks;
    chat.dataset.handoff = h.state;
    // The status line stays in the page: its aria-live region announces what it gets.
    handoffBox.className = `handoff ${offline ? "offline" : h.state}${text || survey ? "" : " none"}`;
    document.getElementById("handoff-status").textContent = text;
    contactForm.hidden = !offline || !!contactSent;
    surveyForm.hidden = !survey;
    surveyForm.querySelectorAll(".stars button").forEach((b) => {
      b.classList.toggle("on", Number(b.dataset.score) <= score);
      b.setAttribute("aria-pressed", String(Number(b.dataset.score) === score));
    });
    surveyForm.querySelector('button[type="submit"]').disabled = !score;
  }

  function systemLine(text) {
    const li = document.createElement("li");
    li.className = "msg msg-system";
    li.textContent = text;
    list.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }

  const handlers = {
    "handoff.state"(event) { handoffSet(event); },
    "agent.joined"(event) {
      systemLine(TEXT.joined.replace("{name}", () => (event.agent && event.agent.name) || TEXT.agent));
    },
    "agent.typing"(event) {
      typingLine.textContent = TEXT.typing.replace("{name}", () => (event.agent && event.agent.name) || TEXT.agent);
      typingLine.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => { typingLine.hidden = true; }, 4000);
    },
    "csat.recorded"() { csatSent = true; handoffShow(); },
    "contact.recorded"(event) { contactSent = event.email || ""; handoffShow(); },
    "agent.message"(event) {
      // A person of the staff writes; in this visitor's language (live translation).
      typingLine.hidden = true;
      bubble({ ...event.message, status: "done" });
      list.scrollTop = list.scrollHeight;
    },
    "message.created"(event) {
      const message = event.message;
      if (message.client_id) outbox.delete(message.client_id);
      const li = bubble(message);
      if (message.role === "assistant" && ["queued", "streaming"].includes(message.status)) {
        if (!lastSeq.has(message.generation_id)) lastSeq.set(message.generation_id, 0);
        li.classList.add("pending");
        setActive(message.generation_id);
      }
      li.scrollIntoView({ block: "end" });
    },
    "generation.queued"(event) {
      const li = generationBubble(event.generation_id);
      if (li) note(li, event.position > 0 ? TEXT.waiting.replace("{n}", event.position) : TEXT.starting, "waiting");
    },
    "generation.delta"(event) {
      if (event.seq <= (lastSeq.get(event.generation_id) || 0)) return;  // already shown
      lastSeq.set(event.generation_id, event.seq);
      const li = generationBubble(event.generation_id);
      if (!li) return;
      li.classList.remove("pending");
      li.dataset.status = "streaming";
      const waiting = li.querySelector(".note.waiting");
      if (waiting) waiting.remove();
      streamingBody(li).append(event.text);
      li.scrollIntoView({ block: "end" });
    },
    "generation.done"(event) {
      lastSeq.delete(event.generation_id);
      const li = generationBubble(event.generation_id);
      if (active === event.generation_id) setActive(null);
      if (!li) return;
      if (typeof event.text === "string") streamingBody(li).textContent = event.text;
      li.dataset.status = event.status;
      if (event.route === "no_answer") offerPerson(li);  // the server's rendering has it too
      rerender(li);
    },
    "generation.error"(event) {
      lastSeq.delete(event.generation_id);
      if (active === event.generation_id) setActive(null);
      const li = generationBubble(event.generation_id);
      if (li) {
        if (typeof event.text === "string") streamingBody(li).textContent = event.text;
        li.dataset.status = "failed";
        li.classList.remove("pending");
        note(li, event.detail, "error");
        rerender(li);  // the stored partial text and the error, as a reload shows them
      }
      showBanner(event.detail, "error");
    },
    "error"(event) {
      if (event.code === "frame_too_large") outbox.clear();  // refused: never re-send it
      list.querySelectorAll(".talk").forEach((b) => { b.disabled = false; });  // may ask again
      showBanner(event.detail, "error");
    },
    pong() {},
  };

  function connect() {
    socket = new WebSocket(wsUrl());
    socket.addEventListener("open", () => {
      retryDelay = 500;
      showBanner("");
      // Resume every answer still being written, from the last piece shown.
      list.querySelectorAll('[data-status="queued"], [data-status="streaming"]').forEach((li) => {
        const id = li.dataset.generationId;
        if (!id) return;
        if (!lastSeq.has(id)) lastSeq.set(id, 0);
        setActive(id);
        socket.send(JSON.stringify({ type: "resume", generation_id: id, after_seq: lastSeq.get(id) }));
      });
      for (const [clientId, text] of outbox) {
        socket.send(JSON.stringify({ type: "user.message", text, client_id: clientId }));
      }
    });
    socket.addEventListener("message", (frame) => {
      let event;
      try { event = JSON.parse(frame.data); } catch { return; }
      (handlers[event.type] || (() => {}))(event);
    });
    socket.addEventListener("close", (closed) => {
      if (closed.code === 4401 || closed.code === 4403) {
        showBanner(TEXT.refused, "error");
        return;
      }
      // 4503: the server lost Redis for a moment; 4009: a frame was too large. Reconnect and
      // resume either way (the README lists the close codes).
      if (closed.code !== 4009) showBanner(TEXT.reconnecting, "warning");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 8000);
    });
  }

  function send() {
    const text = input.value.trim();
    if (!text || active) return;
    const maxChars = Number(chat.dataset.maxChars || 8000);
    if (text.length > maxChars) {
      showBanner(TEXT.too_long.replace("{n}", maxChars), "error");
      return;
    }
    const clientId = (crypto.randomUUID && crypto.randomUUID()) || `${Date.now()}-${Math.random()}`;
    outbox.set(clientId, text);
    showBanner("");  // an earlier answer's error is history now
    bubble({ id: `pending-${clientId}`, role: "user", text, status: "done", client_id: clientId })
      .dataset.clientId = clientId;
    input.value = "";
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "user.message", text, client_id: clientId }));
    } else {
      showBanner(TEXT.offline, "warning");
    }
  }

  form.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  input.addEventListener("input", () => {
    // Only a person waiting or answering reads it: at most one frame in 2 s.
    if (!["waiting", "assigned"].includes(handoff.state) || Date.now() - typedAt < 2000) return;
    typedAt = Date.now();
    frame({ type: "typing" });
  });
  list.addEventListener("click", (e) => {
    const talk = e.target.closest(".talk");
    if (!talk || !socket || socket.readyState !== WebSocket.OPEN) return;
    talk.disabled = true;
    frame({ type: "handoff.request" });
  });
  contactForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const email = contactForm.elements.email.value.trim();
    if (email) frame({ type: "contact", email });
  });
  surveyForm.querySelectorAll(".stars button").forEach((b) => b.addEventListener("click", () => {
    score = Number(b.dataset.score);
    handoffShow();
  }));
  surveyForm.addEventListener("submit", (e) => {
    e.preventDefault();
    const comment = surveyForm.elements.comment.value.trim();
    if (score) frame({ type: "csat", score, ...(comment ? { comment } : {}) });
  });
  stopButton.addEventListener("click", () => {
    if (active && socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "cancel", generation_id: active }));
    }
  });
  document.body.addEventListener("htmx:afterSwap", () => list.lastElementChild?.scrollIntoView({ block: "end" }));

  handoffShow();
  connect();
})();

// Staff: summarize the conversation (a job of the summaries API), shown on its own page.
(function () {
  "use strict";
  const button = document.getElementById("summarize-conversation");
  if (!button) return;
  button.addEventListener("click", async function () {
    const csrf = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRFToken": "([^"]+)"/);
    button.disabled = true;
    const response = await fetch(button.dataset.url, { method: "POST", headers: { "X-CSRFToken": csrf ? csrf[1] : "" }, credentials: "same-origin" });
    const body = await response.json().catch(function () { return {}; });
    button.disabled = false;
    if (response.ok) location.href = "/summarize/" + body.id + "/";
    else alert((body.error && body.error.detail) || "The summary could not be started.");
  });
})();
