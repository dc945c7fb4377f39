// Following threads, in the page (core/following.py keeps the state; every change reaches every
// tab of the person as a new Threads badge, #threads-badge, on their own channel):
// - reading: the open thread (#thread-pane, beside the chat or as the page), in a visible tab,
//   with its newest reply on screen, is read up to that reply: a "thread-read" frame over the
//   socket, POST …/read while polling (whose answer is the new badge);
// - the Threads view (#threads-list) is asked for again whenever a new badge is swapped in: a
//   reply in a followed thread, a read or a follow in any tab.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var reported = {}; // thread id -> the newest reply this page said was read
  var timer = null;
  var badge = null; // the badge element last seen: a new one means the counts moved

  function newestReply(box) {
    var newest = null;
    box.querySelectorAll(":scope > .msg[data-id]").forEach(function (el) {
      if (!newest || parseInt(el.dataset.id, 10) > parseInt(newest.dataset.id, 10)) newest = el;
    });
    return newest;
  }

  // On screen: inside the replies' own scrolling box and inside the window (a pane hidden on a
  // phone's chat screen has no size).
  function onScreen(el, box) {
    var r = el.getBoundingClientRect();
    var b = box.getBoundingClientRect();
    return r.height > 0 && r.top < Math.min(b.bottom, window.innerHeight) && r.bottom > Math.max(b.top, 0);
  }

  function report() {
    timer = null;
    var pane = document.getElementById("thread-pane");
    if (!pane || document.visibilityState !== "visible") return;
    var thread = parseInt(pane.dataset.thread, 10);
    var chat = parseInt(pane.dataset.chatId, 10);
    var box = document.getElementById("thread-" + thread + "-replies");
    var newest = box && newestReply(box);
    if (!newest || !onScreen(newest, box)) return;
    var upto = parseInt(newest.dataset.id, 10);
    if (upto <= (reported[thread] || 0)) return;
    reported[thread] = upto;
    if (webchat.isLive && webchat.isLive()) {
      webchat.sendFrame({ type: "thread-read", chat: chat, thread: thread, upto: upto });
    } else {
      htmx.ajax("POST", "/chats/" + chat + "/threads/" + thread + "/read",
                { source: document.body, swap: "none", values: { upto: upto } })
        .then(null, function () { delete reported[thread]; }); // not sent: said again at the next look
    }
  }
  function schedule() {
    if (!timer) timer = setTimeout(report, 300);
  }

  function badgeMoved() {
    var now = document.getElementById("threads-badge");
    if (!now || now === badge) return;
    var first = badge === null;
    badge = now;
    var list = document.getElementById("threads-list");
    if (list && !first) htmx.trigger(list, "threads-changed");
  }

  document.addEventListener("htmx:load", function () { badgeMoved(); schedule(); });
  document.addEventListener("htmx:oobAfterSwap", badgeMoved);
  document.addEventListener("visibilitychange", schedule);
  document.addEventListener("scroll", function (evt) {
    if (evt.target.closest && evt.target.closest("#thread-pane")) schedule();
  }, true);
  document.addEventListener("DOMContentLoaded", function () { badgeMoved(); schedule(); });
})();
