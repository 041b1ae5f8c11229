// translator UI: the little the server-rendered pages need beyond htmx.
(function () {
  "use strict";

  // The editor's line gutter scrolls with the text.
  document.addEventListener("scroll", function (evt) {
    var t = evt.target;
    if (t && t.id === "config-text") {
      var gutter = document.getElementById("gutter");
      if (gutter) { gutter.scrollTop = t.scrollTop; }
    }
  }, true);
  document.addEventListener("htmx:oobAfterSwap", function () {
    var t = document.getElementById("config-text"), gutter = document.getElementById("gutter");
    if (t && gutter) { gutter.scrollTop = t.scrollTop; }
  });

  // A step card opens its log in the run page's log panel: one listener for the grid, rather than
  // htmx attributes on each of a run's (up to hundreds of) cards, processed again on every live update.
  document.addEventListener("click", function (evt) {
    var card = evt.target && evt.target.closest ? evt.target.closest("[data-log-target] a.step") : null;
    if (!card || evt.button !== 0 || evt.ctrlKey || evt.metaKey || evt.shiftKey || evt.altKey) { return; }
    evt.preventDefault();
    htmx.ajax("GET", card.getAttribute("href"),
              {source: card, target: card.closest("[data-log-target]").getAttribute("data-log-target")});
  });

  // A browser holds at most six HTTP/1.1 connections per host, and every live view holds one:
  // a tab hidden for a while lets its streams go, and takes them again (and the current state)
  // when it is shown.
  var pauseTimer = null;
  function pause() {
    document.querySelectorAll("[sse-connect]:not([data-paused])").forEach(function (el) {
      htmx.trigger(el, "htmx:beforeCleanupElement");
      el.setAttribute("data-paused", "1");
    });
  }
  function resume() {
    document.querySelectorAll("[sse-connect][data-paused]").forEach(function (el) {
      var fresh = el.cloneNode(true);
      fresh.removeAttribute("data-paused");
      el.replaceWith(fresh);
      htmx.process(fresh);
    });
  }
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) {
      pauseTimer = window.setTimeout(pause, 30000);
    } else {
      window.clearTimeout(pauseTimer);
      resume();
    }
  });
})();
