// The console's live parts: the inbox socket refreshes the inbox (htmx) and the open
// conversation's side panel; a sound and a browser notification when someone new waits.
(() => {
  "use strict";
  const root = document.getElementById("console");
  if (!root) return;
  const state = document.getElementById("console-state");
  const notify = document.getElementById("notify");
  const current = root.dataset.conversationId || "";
  let socket = null;
  let beat = null;
  let waiting = Number(document.getElementById("inbox")?.dataset.waiting || 0);

  function chime() {
    if (notify && !notify.checked) return;
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch { /* no audio: the notification is enough */ }
    if (window.Notification && Notification.permission === "granted") {
      new Notification("Helpline", { body: "A visitor is waiting for a person." });
    }
  }

  if (notify) {
    notify.addEventListener("change", () => {
      if (notify.checked && window.Notification && Notification.permission === "default") {
        Notification.requestPermission();
      }
    });
  }

  document.body.addEventListener("htmx:afterSettle", () => {
    const inbox = document.getElementById("inbox");
    if (!inbox) return;
    const now = Number(inbox.dataset.waiting || 0);
    if (now > waiting) chime(); // someone new is waiting
    waiting = now;
  });

  function refresh(conversationId) {
    if (window.htmx && document.getElementById("inbox")) htmx.trigger("#inbox", "refresh");
    if (window.htmx && current && conversationId === current && document.getElementById("side")) {
      htmx.trigger("#side", "refresh");
    }
  }

  function connect() {
    socket = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}${root.dataset.wsUrl}`);
    socket.addEventListener("open", () => {
      if (state) state.textContent = "Live.";
      clearInterval(beat);
      beat = setInterval(() => socket.readyState === WebSocket.OPEN && socket.send('{"type":"ping"}'), 20000);
    });
    socket.addEventListener("message", (frame) => {
      let event;
      try { event = JSON.parse(frame.data); } catch { return; }
      if (event.type === "inbox.changed") refresh(event.conversation_id);
    });
    socket.addEventListener("close", (closed) => {
      clearInterval(beat);
      if (state) state.textContent = "Disconnected; reconnecting…";
      if (closed.code !== 4401 && closed.code !== 4403) setTimeout(connect, 2000);
    });
  }
  connect();
})();
