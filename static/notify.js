// Desktop notifications, one behaviour attached by hx-ext="notify": on a button, it asks for
// permission (never on page load) and shows while there is something to ask; on the element
// that holds the socket (.layout), it notifies of the messages connection.js announces
// ("webchat:incoming", dispatched on the chat's item in #chat-list, bubbling). Not on the list
// itself, which is swapped again and again: a listener on it must be attached anew each time,
// and a message arriving in between would go unnoticed. A message notifies when its chat is not in view (another chat
// is open, or the tab is hidden), unless it is one's own, and as the chat's setting says: all
// messages, mentions only, or nothing. So a mention of me notifies under "all" and "mentions"
// and never under "none" (a muted chat stays quiet), though it still counts in the chat's "@"
// badge (mentions.js, read_state.unread_mention_counts).
// A reply in a thread one follows comes as a notice on one's own channel (core/following.py,
// announce_reply: <template data-thread-notice>, the reply inside), by the same rules, the thread
// taking the chat's place: not while its pane is open in a visible tab.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var supported = "Notification" in window;
  var api;

  function showButton(button) {
    button.hidden = !supported || Notification.permission !== "default";
  }

  function connectButton(button) {
    showButton(button);
    button.addEventListener("click", function () {
      if (supported) Notification.requestPermission().then(function () { showButton(button); });
    });
  }

  // inView: the place the message shows in (its chat, its thread) is open in a visible tab.
  function shouldNotify(msg, inView, item) {
    if (!supported || Notification.permission !== "granted") return false;
    if (msg.dataset.author === document.body.dataset.user || msg.classList.contains("msg--system")) return false;
    if (inView && document.visibilityState === "visible") return false;
    var level = item.dataset.notify || "all";
    var mentioned = (msg.dataset.mentions || "").split(" ").indexOf(document.body.dataset.user) >= 0;
    return level === "all" || (level === "mentions" && mentioned);
  }

  function notify(evt) {
    var chatId = evt.detail.chatId;
    var item = evt.target.closest(".chat-item");
    if (!item || !shouldNotify(evt.detail.msg, chatId === webchat.openChatId(), item)) return;
    show(evt.detail.msg, chatId, item, " in ", null);
  }

  // A followed thread's new reply: "Bob replied in a thread in #general".
  function notifyThread(notice) {
    var msg = notice.content.querySelector(".msg");
    var chatId = parseInt(notice.dataset.chat, 10);
    var threadId = parseInt(notice.dataset.thread, 10);
    var item = document.getElementById("chat-item-" + chatId);
    var pane = document.getElementById("thread-pane");
    var inView = !!pane && parseInt(pane.dataset.thread, 10) === threadId;
    if (!msg || !item || !shouldNotify(msg, inView, item)) return;
    show(msg, chatId, item, " replied in a thread in ", { id: threadId, href: notice.dataset.href });
  }

  function show(msg, chatId, item, words, thread) {
    var author = msg.querySelector(".msg-author");
    var body = msg.querySelector(".msg-body");
    var files = msg.querySelector(".msg-attachments[data-summary]"); // worded by the server
    var text = ((body && body.textContent.trim()) || (files ? files.dataset.summary : "")).replace(/\s+/g, " ");
    var chars = Array.from(text); // whole characters: cutting UTF-16 units could halve an emoji
    var notification = new Notification((author ? author.textContent + words : "") +
                                        item.querySelector(".chat-title").textContent, {
      body: chars.length > 140 ? chars.slice(0, 139).join("") + "…" : text,
      // one notification per chat (per thread), replaced by the newest
      tag: thread ? "webchat-thread-" + thread.id : "webchat-" + chatId,
    });
    webchat.lastNotification = { chatId: chatId, threadId: thread ? thread.id : null, title: notification.title,
                                 body: notification.body };
    notification.onclick = function () {
      window.focus();
      var link = document.querySelector('#chat-list a[data-chat-id="' + chatId + '"]');
      if (thread) window.location.assign(thread.href); // the chat with the thread open
      else if (link) link.click();
      notification.close();
    };
  }

  // Before a frame is swapped: notices are data, taken here (the swap then drops them, as
  // elements with no target: webchat.js dropUntargeted).
  function takeNotices(text) {
    if (text.indexOf("data-thread-notice") < 0) return;
    var holder = document.createElement("template");
    holder.innerHTML = text;
    holder.content.querySelectorAll("template[data-thread-notice]").forEach(notifyThread);
  }

  htmx.defineExtension("notify", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      if (name === "htmx:wsBeforeMessage") {
        takeNotices(evt.detail.message);
        return;
      }
      var el = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || !/(^|,)\s*notify\s*(,|$)/.test(el.getAttribute("hx-ext") || "")) return;
      var data = api.getInternalData(el);
      if (data.notify) return; // processed again (htmx.process): already attached
      data.notify = true;
      if (el.tagName === "BUTTON") connectButton(el);
      else el.addEventListener("webchat:incoming", notify);
    },
  });
})();
