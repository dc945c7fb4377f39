// Quote-replies. "Quote" on a message puts its preview above the composer (the server renders it:
// GET .../quote with HX-Target composer-quote, pages/quotes.py), whose hidden reply_to the next
// send carries (outbox.js keeps it with the line); × drops it. A quote's preview in a message
// (chats/_quote.html) jumps to the message it quotes: marked and centred as a permalink's message
// is (search.js), after loading older history page by page until it is there, or, far beyond,
// by opening its permalink page. A quote of a reply kept in its thread opens the thread instead
// (data-thread-link: the pane's own behaviour, or its page). Every link works without this file.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  // Pages of older history loaded to find a quoted message before opening its own page instead.
  var MAX_PAGES = 20;
  var finding = null; // {id, href, messages, older, requested}: a jump that is loading history

  // ----- the composer's quote ----------------------------------------------------------------
  function slot() {
    return document.getElementById("composer-quote");
  }

  function focusComposer() {
    var box = document.getElementById("composer-text");
    if (box) box.focus();
  }

  function quote(link) {
    htmx.ajax("GET", link.getAttribute("href"), { source: link, target: "#composer-quote", swap: "innerHTML" })
      .then(focusComposer, function () {});
  }

  // Quote the message again (outbox.js: "Edit" on a line that was not sent), when it is shown.
  webchat.quoteMessage = function (id) {
    var link = document.querySelector("#m-" + CSS.escape(String(id)) + " > .msg-actions > .msg-action--quote");
    if (link && slot()) quote(link);
  };

  function drop() {
    var place = slot();
    if (place) place.replaceChildren();
  }

  // ----- jumping to the quoted message ---------------------------------------------------------
  function shown(id, messages) {
    var target = document.getElementById("m-" + id);
    return target && !target.hidden && messages.contains(target) ? target : null;
  }

  function mark(target) {
    var pane = document.getElementById("chat-pane");
    if (pane) pane.dataset.focus = target.id;
    document.querySelectorAll(".msg--highlight").forEach(function (el) { el.classList.remove("msg--highlight"); });
    target.classList.add("msg--highlight");
    target.scrollIntoView({ block: "center" });
  }

  function progress(on) {
    var status = document.getElementById("quote-finding");
    if (status) status.hidden = !on;
  }

  function stop() {
    finding = null;
    progress(false);
  }

  // One step of a jump: the message is there (mark it), or a page of older history loads (and
  // then the next step), or the message's own page opens.
  function step() {
    var messages = document.getElementById("messages");
    if (!finding || finding.requested) return;
    if (messages !== finding.messages) return stop(); // another chat opened meanwhile
    var target = shown(finding.id, messages);
    if (target) {
      stop();
      mark(target);
      return;
    }
    var older = messages.querySelector(":scope > #older a[hx-get]");
    if (!older || finding.pages >= MAX_PAGES || older === finding.older) {
      var href = finding.href; // not in this chat's history as loaded, or too far, or it failed
      stop();
      location.assign(href);
      return;
    }
    finding.pages += 1;
    finding.older = older;
    finding.requested = true;
    progress(true);
    // Settled with the swap (htmx-config: no settle delay), so reading.js has put the view back
    // by the time the promise resolves.
    htmx.ajax("GET", older.getAttribute("hx-get"), { source: older, target: "#older", swap: "outerHTML" })
      .then(function () {
        if (!finding) return;
        finding.requested = false;
        step();
      }, stop);
  }

  function jump(link) {
    var messages = document.getElementById("messages");
    finding = { id: link.dataset.quote, href: link.href, messages: messages, older: null, requested: false, pages: 0 };
    step();
  }

  document.addEventListener("click", function (evt) {
    if (evt.defaultPrevented || evt.button !== 0 || evt.ctrlKey || evt.metaKey || evt.shiftKey || evt.altKey) return;
    var target = evt.target.closest ? evt.target : evt.target.parentElement;
    var action = target.closest("#messages .msg-action--quote");
    if (action && slot()) {
      evt.preventDefault();
      quote(action);
      return;
    }
    if (target.closest("[data-quote-cancel]") && slot()) {
      evt.preventDefault();
      drop();
      focusComposer();
      return;
    }
    var preview = target.closest("#messages a.quote[data-quote]");
    if (preview && !preview.hasAttribute("data-thread-link")) {
      evt.preventDefault();
      jump(preview);
    }
  });

  // The outbox (or attachments.js) took the composer's message, quote and all: the next one
  // quotes nothing. A thread's composer taking its reply leaves the chat's quote alone.
  document.addEventListener("webchat:taken", function (evt) {
    var place = slot();
    if (place && evt.target.contains(place)) drop();
  });
})();
