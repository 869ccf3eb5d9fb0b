// The job pages (summarize, translate): POST the form to the API, then follow the job's
// socket (it replays from the start, then the live tail) until generation.done or
// generation.error. The page names its API (data-api), its page URL (data-page) and the
// file extension of downloads (data-download) and what it does ("Translating", data-working).
(function () {
  "use strict";
  const root = document.getElementById("job");
  if (!root) return;
  const form = document.getElementById("job-form");
  const out = document.getElementById("result");
  const misses = document.getElementById("misses");
  const detected = document.getElementById("detected");
  const state = document.getElementById("state");
  const progress = document.getElementById("progress");
  const methodNote = document.getElementById("method-note");
  const stop = document.getElementById("stop");
  const copy = document.getElementById("copy");
  const download = document.getElementById("download");
  const button = document.getElementById("start");
  const csrf = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRFToken": "([^"]+)"/);
  let socket = null;
  let job = null;
  let lastSeq = 0;
  let finished = false;
  let finalStatus = "";
  const working = root.dataset.working || "Summarizing";

  function setState(text) { state.textContent = text; }
  function busy(on) {
    button.disabled = on;
    stop.hidden = !on;
    out.classList.toggle("streaming", on);
    copy.disabled = download.disabled = on || !out.textContent;
  }

  function follow(current) {
    job = current;
    lastSeq = 0;
    finished = false;
    finalStatus = "";
    out.textContent = "";
    methodNote.textContent = "";
    if (detected && current.source_lang) detected.textContent = "Source language: " + current.source_lang + (current.detected_lang && current.detected_lang !== current.source_lang ? " (detected " + current.detected_lang + ")" : "");
    if (current.status === "done" || current.status === "failed" || current.status === "cancelled") {
      out.textContent = current.summary || current.translation || "";
      showMisses(current.glossary_misses);
      finish(current.status, current.method);
      return;
    }
    busy(true);
    setState(current.status === "queued" ? "Waiting for a worker…" : working + "…");
    connect();
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + location.host + job.ws_url);
    socket.onopen = function () { if (lastSeq) socket.send(JSON.stringify({ type: "resume", after_seq: lastSeq })); };
    socket.onmessage = function (e) { handle(JSON.parse(e.data)); };
    socket.onclose = function () {
      if (!finished) { setState("Connection lost; reconnecting…"); setTimeout(connect, 1500); }
    };
  }

  function handle(event) {
    if (event.seq && event.seq <= lastSeq) return; // replayed twice: shown once
    if (event.seq) lastSeq = event.seq;
    if (event.type === "generation.queued") {
      setState(event.position ? "Waiting: " + event.position + " ahead…" : "Waiting for a worker…");
    } else if (event.type === "generation.progress") {
      progress.hidden = false;
      progress.max = event.total;
      progress.value = event.done;
      setState(working + ": " + event.done + " of " + event.total + " parts done…");
    } else if (event.type === "generation.delta") {
      setState(working + "…");
      out.textContent += event.text;
    } else if (event.type === "generation.done") {
      if (typeof event.text === "string") out.textContent = event.text;
      showMisses(event.glossary_misses);
      finish(event.status, event.method);
    } else if (event.type === "generation.error") {
      if (typeof event.text === "string" && event.text) out.textContent = event.text;
      finish("failed", "", event.detail);
    }
  }

  function showMisses(list) {
    if (!misses) return;
    misses.replaceChildren();
    misses.hidden = !(list && list.length);
    (list || []).forEach(function (miss) {
      const item = document.createElement("li");
      item.textContent = "“" + miss.term + "” should be “" + miss.expected + "”";
      misses.appendChild(item);
    });
    highlight((list || []).map(function (miss) { return miss.term; }));
  }

  function highlight(terms) {
    // Marks the glossary terms left as they were in the source, so staff see where to fix.
    terms = terms.filter(Boolean);
    if (!terms.length) return;
    const text = out.textContent;
    const lower = text.toLowerCase();
    const parts = [];
    let at = 0;
    while (at < text.length) {
      let best = -1, term = "";
      terms.forEach(function (t) {
        const i = lower.indexOf(t.toLowerCase(), at);
        if (i !== -1 && (best === -1 || i < best)) { best = i; term = t; }
      });
      if (best === -1) { parts.push(document.createTextNode(text.slice(at))); break; }
      parts.push(document.createTextNode(text.slice(at, best)));
      const mark = document.createElement("mark");
      mark.textContent = text.slice(best, best + term.length);
      parts.push(mark);
      at = best + term.length;
    }
    out.replaceChildren.apply(out, parts);
  }

  function listed(job) {
    // The new job at the top of the past list (the server draws the rest).
    const past = document.getElementById("past");
    if (!past) return;
    past.querySelector(".empty")?.remove();
    const item = document.createElement("li");
    item.className = "current";
    item.dataset.started = "1";
    const link = document.createElement("a");
    link.href = root.dataset.page + job.id + "/";
    link.textContent = (job.title || String(new FormData(form).get("text") || "").slice(0, 40)) + " ";
    const status = document.createElement("span");
    status.className = "status";
    status.textContent = "Queued";
    link.appendChild(status);
    item.appendChild(link);
    past.querySelectorAll(".current").forEach((li) => li.classList.remove("current"));
    past.prepend(item);
  }

  function finish(status, method, detail) {
    finished = true;
    finalStatus = status;
    if (socket) socket.close();
    busy(false);
    const labels = { done: "Done.", cancelled: "Stopped.", failed: detail || "The job failed." };
    setState(labels[status] || status);
    const listedStatus = document.querySelector("#past [data-started] .status");
    if (listedStatus) listedStatus.textContent = { done: "Done", cancelled: "Cancelled", failed: "Failed" }[status] || status;
    if (method) methodNote.textContent = method === "extractive" ? "Made by the extractive summarizer (key sentences)." : "Written by the model.";
    else if (status === "done" && root.dataset.name === "translation") methodNote.textContent = "Translated by the model.";
  }

  form.addEventListener("submit", async function (e) {
    e.preventDefault();
    const data = new FormData(form);
    const file = document.getElementById("file").files[0];
    if (!file) data.delete("file");
    if (!file && !String(data.get("text") || "").trim()) { setState("Paste a text or choose a file."); return; }
    busy(true);
    setState("Sending…");
    let response;
    try {
      response = await fetch(root.dataset.api, { method: "POST", body: data, headers: { "X-CSRFToken": csrf ? csrf[1] : "" }, credentials: "same-origin" });
    } catch (err) { busy(false); setState("The server could not be reached."); return; }
    const body = await response.json().catch(function () { return {}; });
    if (!response.ok) { busy(false); setState((body.error && body.error.detail) || "The summary could not be started."); return; }
    history.replaceState(null, "", root.dataset.page + body.id + "/");
    listed(body);
    follow(body);
  });

  stop.addEventListener("click", function () {
    if (socket && socket.readyState === WebSocket.OPEN && job) socket.send(JSON.stringify({ type: "cancel", generation_id: job.generation_id }));
  });
  copy.addEventListener("click", function () { navigator.clipboard.writeText(out.textContent); setState("Copied."); });
  download.addEventListener("click", function () {
    if (job && job.file_url && finalStatus === "done") { location.href = job.file_url; return; } // the server writes the file (a Word file keeps its styles)
    const extension = (job && job.download) || root.dataset.download || "md";
    const blob = new Blob([out.textContent], { type: (extension === "html" ? "text/html" : "text/markdown") + ";charset=utf-8" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = (root.dataset.name || "result") + "-" + (job ? job.id.slice(0, 8) : "") + "." + extension;
    link.click();
    URL.revokeObjectURL(link.href);
  });

  const current = JSON.parse(document.getElementById("current-job").textContent || "null");
  if (current) follow(current);
})();
