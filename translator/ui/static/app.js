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

  // A live fragment (a run's grid, a history, the pipelines) holds no htmx attributes: the event stream's
  // new version is put in place without htmx's swap (which processes the new content for htmx attributes
  // and fires its events: ~15 ms a swap, where a hundred open pages update at once), and only where it
  // differs: the nodes already shown are kept and given the new version's text and attributes, so the
  // browser restyles, lays out and repaints the few that changed (a step's state), not the whole fragment.
  function morphChildren(old, fresh) {
    var o = old.firstChild, f = fresh.firstChild;
    while (f) {
      var nextFresh = f.nextSibling;
      if (!o) {
        old.appendChild(f);
      } else {
        var nextOld = o.nextSibling;
        if (o.nodeType === f.nodeType && o.nodeName === f.nodeName) { morphNode(o, f); } else { old.replaceChild(f, o); }
        o = nextOld;
      }
      f = nextFresh;
    }
    while (o) {
      var next = o.nextSibling;
      old.removeChild(o);
      o = next;
    }
  }
  function morphNode(o, f) {
    if (o.nodeType !== 1) {
      if (o.nodeValue !== f.nodeValue) { o.nodeValue = f.nodeValue; }
      return;
    }
    var i, a;
    for (i = o.attributes.length - 1; i >= 0; i--) {
      a = o.attributes[i];
      if (!f.hasAttribute(a.name)) { o.removeAttribute(a.name); }
    }
    for (i = 0; i < f.attributes.length; i++) {
      a = f.attributes[i];
      if (o.getAttribute(a.name) !== a.value) { o.setAttribute(a.name, a.value); }
    }
    morphChildren(o, f);
  }
  document.addEventListener("htmx:sseBeforeMessage", function (evt) {
    var elt = evt.target;
    if (elt && elt.getAttribute && elt.getAttribute("data-swap") === "plain") {
      evt.preventDefault();
      var fresh = document.createElement("template");
      fresh.innerHTML = evt.detail.data;
      morphChildren(elt, fresh.content);
    }
  });

  // The buttons of a live fragment (Stop, Rerun) post through one listener, so the fragment needs no
  // htmx processing when it is replaced; the CSRF header comes from the body's hx-headers as for htmx's own.
  document.addEventListener("click", function (evt) {
    var button = evt.target && evt.target.closest ? evt.target.closest("button[data-post]") : null;
    if (!button || button.disabled) { return; }
    evt.preventDefault();
    var vals = button.getAttribute("data-vals");
    htmx.ajax("POST", button.getAttribute("data-post"),
              {source: button, target: button.getAttribute("data-target"), values: vals ? JSON.parse(vals) : {}});
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
