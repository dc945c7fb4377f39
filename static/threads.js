// A thread's pane (templates/threads/_thread_pane.html): opening it from a message (its replies'
// summary, "Reply in thread") into its place in the chat pane, with the thread's own address;
// closing it (Close / Back, Esc); keeping the newest reply in view. The pane's replies are
// placed in order and never twice by webchat.js, caught up by connection.js ("view" names the
// open thread; the pane's poller while the socket is down). Without JavaScript the links and the
// Close link are plain navigations to the thread's and the chat's pages.
(function () {
  "use strict";

  var api;

  function pane() {
    return document.querySelector("#thread-pane[data-thread]");
  }

  function scroller(p) {
    return p && p.querySelector(".thread-body");
  }

  function plainClick(evt) {
    return evt.button === 0 && !evt.ctrlKey && !evt.metaKey && !evt.shiftKey && !evt.altKey;
  }

  // A summary's or "Reply in thread" link in the chat: the pane opens beside it (a phone shows
  // it alone), and the address becomes the thread's, so reload and Back work.
  document.addEventListener("click", function (evt) {
    var link = evt.target.closest && evt.target.closest("#messages a[data-thread-link], #messages a.msg-action--thread");
    if (!link || !plainClick(evt) || !document.getElementById("thread-pane")) return;
    evt.preventDefault();
    var href = link.getAttribute("href");
    htmx.ajax("GET", href, { source: link, target: "#thread-pane", swap: "outerHTML", push: href });
  });

  function close(p) {
    var back = p.querySelector(".thread-close");
    var place = document.createElement("div");
    place.id = "thread-pane";
    place.hidden = true;
    p.replaceWith(place);
    // htmx's own entries carry {htmx: true}: Back to the thread is then restored as any other.
    history.pushState({ htmx: true }, "", back.dataset.chatUrl);
    document.dispatchEvent(new CustomEvent("webchat:thread-closed")); // connection.js says what is in view
    var parent = document.getElementById("m-" + p.dataset.thread);
    var text = document.getElementById("composer-text");
    if (parent && parent.tabIndex >= 0) parent.focus();
    else if (text) text.focus();
  }

  // Esc closes it, unless something inside it took the key (an editor, the @ list, a menu).
  document.addEventListener("keydown", function (evt) {
    if (evt.key !== "Escape" || evt.defaultPrevented || evt.isComposing) return;
    var p = pane();
    if (!p) return;
    var t = evt.target;
    if (t !== document.body && !p.contains(t)) return;
    if (t.closest && t.closest(".msg-editor, details[open], .msg-actions--open")) return;
    evt.preventDefault();
    close(p);
  });

  function nearBottom(box) {
    return box.scrollHeight - box.scrollTop - box.clientHeight < 80;
  }

  // A reply shown in the pane: followed into view when the pane was at its end or it is one's own.
  var atEnd = true;
  document.addEventListener("webchat:reply-shown", function (evt) {
    var box = scroller(pane());
    if (!box) return;
    var mine = evt.detail.elt.dataset.author === document.body.dataset.user;
    if (atEnd || mine) box.scrollTop = box.scrollHeight;
  });

  function connect(p) {
    var box = scroller(p);
    if (box) {
      box.scrollTop = box.scrollHeight;
      box.addEventListener("scroll", function () { atEnd = nearBottom(box); }, { passive: true });
    }
    atEnd = true;
    p.querySelector(".thread-close").addEventListener("click", function (evt) {
      if (!plainClick(evt)) return;
      evt.preventDefault();
      close(p);
    });
    // A reply in an anchor (#t-<id>, after a send without htmx, a search hit) is shown.
    var focus = location.hash && location.hash.indexOf("#t-") === 0 && document.getElementById(location.hash.slice(1));
    if (focus && p.contains(focus)) focus.scrollIntoView({ block: "center" });
  }

  htmx.defineExtension("thread-pane", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var el = evt.detail.elt;
      if (name === "htmx:afterProcessNode" && el.id === "thread-pane" && !api.getInternalData(el).threadPane) {
        api.getInternalData(el).threadPane = true;
        connect(el);
      } else if (name === "htmx:afterSettle" && el.id === "thread-pane" && el.hasAttribute("data-thread")) {
        // Opened by a click: the composer is where one writes next (or the pane, archived).
        var text = el.querySelector("#thread-composer-text");
        (text || el).focus();
      }
    },
  });
})();
