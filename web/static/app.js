// Confab's page works without this file. With it: confirmation before
// destructive buttons, the dashboard follows conferences live over
// Server-Sent Events (/events), replacing a conference's card as it changes,
// and the System page uploads an update with a progress bar.
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

// The System page's update upload: the bundle goes up with XMLHttpRequest
// so that a progress bar can follow it (fetch has no upload progress), and
// the outcome is shown in place. Without this the form posts as it is.
(function updateUpload() {
  const form = document.getElementById("update-form");
  if (!form || !window.XMLHttpRequest || !window.FormData) {
    return;
  }
  const input = document.getElementById("update-file");
  const bar = document.getElementById("update-progress");
  const pct = document.getElementById("update-percent");
  const result = document.getElementById("update-result");
  const button = document.getElementById("update-submit");
  const rebootText = document.getElementById("reboot-text");
  const show = (text, ok) => {
    result.hidden = false;
    result.textContent = text;
    result.className = ok ? "notice" : "field-error";
    input.setAttribute("aria-invalid", ok ? "false" : "true");
  };
  const setProgress = (p) => {
    bar.value = p;
    pct.textContent = p + " %";
  };
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const file = input.files && input.files[0];
    if (!file) {
      show("Choose the update file (confab-VERSION.update) to upload.", false);
      return;
    }
    const max = Number(form.dataset.max);
    if (max && file.size > max) {
      show("The file is larger than " + Math.round(max / 1048576) + " MiB; it is not a Confab update.", false);
      return;
    }
    const lastFailed = document.getElementById("update-last-failed");
    if (lastFailed) lastFailed.hidden = true;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    pct.hidden = false;
    result.hidden = true;
    button.disabled = true;
    setProgress(0);
    xhr.upload.addEventListener("progress", (ev) => {
      if (ev.lengthComputable) {
        setProgress(Math.floor(100 * ev.loaded / ev.total));
      }
    });
    xhr.upload.addEventListener("load", () => {
      setProgress(100);
      show("Uploaded; checking and writing the last of it…", true);
    });
    xhr.addEventListener("load", () => {
      button.disabled = false;
      let res = {};
      try {
        res = JSON.parse(xhr.responseText);
      } catch (err) {
        res = { error: "The box answered " + xhr.status + " " + xhr.statusText + "." };
      }
      if (xhr.status === 200 && res.message) {
        setProgress(100);
        show(res.message, true);
        if (rebootText) rebootText.textContent = "The update is written: reboot to try it.";
      } else {
        show(res.error || ("The box answered " + xhr.status + "."), false);
      }
    });
    xhr.addEventListener("error", () => {
      button.disabled = false;
      show("The upload was interrupted (the connection to the box failed). Nothing was activated; try again.", false);
    });
    xhr.send(new FormData(form));
  });
})();
