// Where the reader is in the open chat (#messages), and which chat is open:
// - a chat opens at its first unread message (the "New messages" divider near the top) when it
//   has one, else at the bottom; a permalink (data-focus) is search.js's, centred and marked;
// - a page of older history keeps the message at the top of the view exactly where it was;
// - live messages follow the reader down only if they were at the bottom (one's own always);
//   otherwise the "N new messages ↓" control (#jump-latest, words from the pane) counts them;
// - the open chat's link in the list is aria-current="page" (the list is the same for every
//   page it is sent to: the mark is taken from the pane's data-chat-id here).
// webchat.js places each message and says so ("webchat:message-shown"); this decides the scroll.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var AT_BOTTOM = 80; // px from the end that still count as reading the newest

  var pinned = true; // the reader was at the bottom when the view last moved
  var unseen = 0; // messages from others that arrived since the reader left the bottom
  var older = null; // while a page of older history goes in: the message read and its place
  var opened = null; // the #messages positioned when it was shown (each is, once)

  function box() { return document.getElementById("messages"); }
  function atBottom(messages) {
    return messages.scrollHeight - messages.scrollTop - messages.clientHeight < AT_BOTTOM;
  }

  // ----- the "N new messages ↓" / "Jump to latest" control ---------------------------------
  // Shown while the reader is away from the bottom: how many messages came since, or (opened at
  // the divider, reading back) "Jump to latest". Not by how far: runs of one author are short.
  function renderJump() {
    var jump = document.getElementById("jump-latest");
    var messages = box();
    if (!jump || !messages) return;
    var words = "";
    if (!pinned && unseen) words = unseen === 1 ? jump.dataset.one : jump.dataset.many.replace("#", unseen);
    else if (!pinned) words = jump.dataset.latest;
    jump.querySelector(".jump-latest-words").textContent = words;
    jump.hidden = !words;
  }

  function followed(messages) {
    pinned = atBottom(messages);
    if (pinned) unseen = 0;
    renderJump();
  }

  document.addEventListener("scroll", function (evt) {
    if (evt.target.id === "messages") followed(evt.target);
  }, true);

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest || !evt.target.closest("#jump-latest")) return;
    webchat.scrollToBottom();
    var messages = box();
    if (messages) followed(messages);
  });

  // ----- live messages ---------------------------------------------------------------------
  document.addEventListener("webchat:message-shown", function (evt) {
    var messages = box();
    var msg = evt.detail.elt;
    if (older || !messages || msg.hidden) return; // history going in: keepPlace() sees to it
    if (pinned || msg.dataset.author === document.body.dataset.user) {
      webchat.scrollToBottom();
      pinned = true;
      unseen = 0;
    } else {
      unseen += 1;
    }
    renderJump();
  });

  // ----- older history: the message at the top of the view stays where it is ----------------
  // The browser's scroll anchoring often does this alone (the #older link is never its anchor:
  // app.css), but not at the very top of the list, where the link sits when it loads; there the
  // new page would push the view to the first message and load the next page at once.
  function topMessage(messages) {
    var top = messages.getBoundingClientRect().top;
    var candidates = messages.querySelectorAll(":scope > .msg:not([hidden]), :scope > .new-divider");
    for (var i = 0; i < candidates.length; i++) {
      if (candidates[i].getBoundingClientRect().bottom > top) return candidates[i];
    }
    return null;
  }

  document.addEventListener("htmx:beforeSwap", function (evt) {
    var messages = box();
    if (!evt.detail.shouldSwap || !evt.detail.target || evt.detail.target.id !== "older" || !messages) return;
    // Its text, not its box: the older page may take its header (timeline.js: the same author a
    // moment before), and what the reader reads is the text.
    var anchor = topMessage(messages);
    anchor = anchor && (anchor.querySelector(":scope > .msg-body, :scope > .msg-system") || anchor);
    older = { anchor: anchor, top: anchor ? anchor.getBoundingClientRect().top : 0 };
  });

  // The first settle after the swap comes once every new message has been placed and shown.
  function keepPlace() {
    var messages = box();
    var kept = older;
    older = null;
    if (!kept || !messages || !kept.anchor || !kept.anchor.isConnected) return;
    messages.scrollTop += kept.anchor.getBoundingClientRect().top - kept.top;
    followed(messages);
  }

  // The view itself shrinking (a composer grown to several lines, a phone's keyboard opening)
  // keeps a reader who was at the bottom there.
  var resized = window.ResizeObserver && new ResizeObserver(function () {
    var messages = box();
    if (messages && pinned) messages.scrollTop = messages.scrollHeight;
  });

  // ----- opening a chat ---------------------------------------------------------------------
  function focused(messages) {
    var pane = document.getElementById("chat-pane");
    var id = (pane && pane.dataset.focus) || location.hash.slice(1);
    var target = id && document.getElementById(id);
    return !!target && messages.contains(target);
  }

  function open() {
    var messages = box();
    if (!messages || messages === opened) return;
    if (resized) {
      if (opened) resized.unobserve(opened);
      resized.observe(messages);
    }
    opened = messages;
    unseen = 0;
    if (!focused(messages)) { // a permalink's message is centred by search.js
      var divider = messages.querySelector(":scope > .new-divider");
      if (divider) {
        // The divider near the top, a little of what was read before it above.
        var context = Math.min(messages.clientHeight / 6, 60);
        messages.scrollTop += divider.getBoundingClientRect().top - messages.getBoundingClientRect().top - context;
      } else {
        webchat.scrollToBottom();
      }
    }
    followed(messages);
  }

  // ----- the open chat in the list ----------------------------------------------------------
  function markOpenChat() {
    var pane = document.getElementById("chat-pane");
    var open = pane ? pane.dataset.chatId : undefined;
    document.querySelectorAll("#chat-list a[data-chat-id]").forEach(function (link) {
      if (link.dataset.chatId === open) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
  }

  // A chat pane swapped in, or the whole page restored from history, is a chat opened.
  document.addEventListener("htmx:afterSettle", function () {
    keepPlace();
    open();
    markOpenChat();
  });
  document.addEventListener("htmx:load", markOpenChat); // the list also arrives over the socket
  document.addEventListener("DOMContentLoaded", function () {
    open();
    markOpenChat();
  });
})();
