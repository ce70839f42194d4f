// Confab's page works without this file. With it: confirmation before
// destructive buttons, and the dashboard follows conferences live over
// Server-Sent Events (/events), replacing a conference's card as it changes.
"use strict";

document.addEventListener("submit", (e) => {
  const msg = e.target.dataset && e.target.dataset.confirm;
  if (msg && !window.confirm(msg)) {
    e.preventDefault();
  }
});

(function live() {
  const box = document.getElementById("live");
  if (!box || !window.EventSource) {
    return;
  }
  const status = document.getElementById("live-status");
  const empty = document.getElementById("no-conferences");
  const count = (id, n) => { const el = document.getElementById(id); if (el) el.textContent = n; };
  const showEmpty = () => {
    if (empty) empty.hidden = box.children.length > 0;
    count("n-active", box.querySelectorAll(".card").length);
    count("n-callers", box.querySelectorAll("tr[data-member]").length);
  };
  const es = new EventSource(box.dataset.events);
  es.addEventListener("open", () => { status.hidden = false; status.textContent = "Live"; status.className = "live-status on"; });
  es.addEventListener("error", () => { status.hidden = false; status.textContent = "Reconnecting…"; status.className = "live-status off"; });
  es.addEventListener("card", (e) => {
    const t = document.createElement("template");
    t.innerHTML = e.data;
    const card = t.content.firstElementChild;
    if (!card) return;
    const old = document.getElementById(card.id);
    if (old) {
      old.replaceWith(card);
    } else {
      box.appendChild(card);
    }
    showEmpty();
  });
  es.addEventListener("ended", (e) => {
    const old = document.getElementById("conf-" + e.data);
    if (old) old.remove();
    showEmpty();
  });
})();
