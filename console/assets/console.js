// Stagebus console: progressive enhancement only; every page works without it.
// - <time datetime> shows in the viewer's time zone, formatted for the page's language;
// - forms with data-confirm="<dialog id>" ask in that <dialog> before they submit;
// - an element with data-live="<channels>" opens one server-sent event stream (/live) and
//   applies its updates: server-rendered HTML put into a target, announced politely.
"use strict";
(function () {
  const lang = document.documentElement.lang || "en";
  // One Trusted Types policy (the page's CSP requires it): HTML comes from this server only.
  const policy = window.trustedTypes
    ? window.trustedTypes.createPolicy("console", { createHTML: (s) => s })
    : { createHTML: (s) => s };

  const dateFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "medium" });
  function localTimes(root) {
    for (const el of root.querySelectorAll("time[datetime]")) {
      if (el.dataset.local) continue;
      const d = new Date(el.getAttribute("datetime"));
      if (isNaN(d)) continue;
      el.title = el.textContent;
      el.textContent = dateFormat.format(d);
      el.dataset.local = "1";
    }
  }

  function confirmations() {
    for (const form of document.querySelectorAll("form[data-confirm]")) {
      const dialog = document.getElementById(form.dataset.confirm);
      if (!dialog || typeof dialog.showModal !== "function") continue;
      let confirmed = false;
      form.addEventListener("submit", (e) => {
        if (confirmed) return;
        e.preventDefault();
        dialog.returnValue = "";
        dialog.showModal();
      });
      dialog.addEventListener("close", () => {
        if (dialog.returnValue === "ok") {
          confirmed = true;
          form.requestSubmit();
        }
      });
    }
  }

  function live() {
    const el = document.querySelector("[data-live]");
    if (!el || !window.EventSource) return;
    const status = document.querySelector("[data-live-status]");
    const url = "/live?ch=" + encodeURIComponent(el.dataset.live);
    let source = null;
    function open() {
      if (source) return;
      source = new EventSource(url);
      source.addEventListener("html", (e) => {
        const u = JSON.parse(e.data);
        const target = document.querySelector(u.target);
        if (!target) return;
        if (u.position === "replace") {
          target.innerHTML = policy.createHTML(u.html);
        } else {
          target.insertAdjacentHTML(u.position || "afterbegin", policy.createHTML(u.html));
          const max = Number(target.dataset.max || 0);
          while (max > 0 && target.children.length > max) target.lastElementChild.remove();
        }
        if (u.show) {
          const shown = document.querySelector(u.show);
          if (shown) shown.hidden = false;
        }
        localTimes(target);
        if (status && u.announce) status.textContent = u.announce;
      });
      source.addEventListener("error", () => {
        // The browser reconnects by itself unless the server refused the stream: then a
        // signed-out session reloads into sign-in, anything else (too many streams) tries
        // again in a while.
        if (!source || source.readyState !== EventSource.CLOSED) return;
        close();
        const ask = new AbortController();
        fetch(url, { signal: ask.signal, headers: { "X-Console-Fragment": "1" } })
          .then((r) => {
            ask.abort();
            if (r.status === 401) location.reload();
            else setTimeout(open, 30000);
          })
          .catch(() => setTimeout(open, 30000));
      });
    }
    function close() {
      if (source) source.close();
      source = null;
    }
    // One stream per visible tab: browsers allow few connections per site.
    document.addEventListener("visibilitychange", () => (document.hidden ? close() : open()));
    if (!document.hidden) open();
  }

  function start() {
    localTimes(document);
    confirmations();
    live();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
