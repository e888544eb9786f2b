// The incident page's live timeline: entries arrive as Server-Sent Events (HTML rendered and
// escaped by the server) and are appended once each; EventSource reconnects on its own and
// resumes after the last entry it received (Last-Event-ID).
"use strict";
(function () {
  const list = document.getElementById("timeline-entries");
  const state = document.getElementById("live-state");
  if (!list || !window.EventSource) return;
  const source = new EventSource(list.dataset.live);
  const seen = new Set(Array.from(list.children, (li) => li.dataset.id));
  source.addEventListener("open", () => { state.textContent = "live"; });
  source.addEventListener("error", () => { state.textContent = "reconnecting…"; });
  source.addEventListener("entry", (event) => {
    const template = document.createElement("template");
    template.innerHTML = JSON.parse(event.data).trim();
    const item = template.content.firstElementChild;
    if (!item || seen.has(item.dataset.id)) return;
    seen.add(item.dataset.id);
    item.classList.add("fresh");
    list.appendChild(item);
  });
})();
