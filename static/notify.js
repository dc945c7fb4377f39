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

  function shouldNotify(msg, chatId, item) {
    if (!supported || Notification.permission !== "granted") return false;
    if (msg.dataset.author === document.body.dataset.user || msg.classList.contains("msg--system")) return false;
    if (chatId === webchat.openChatId() && document.visibilityState === "visible") return false;
    var level = item.dataset.notify || "all";
    var mentioned = (msg.dataset.mentions || "").split(" ").indexOf(document.body.dataset.user) >= 0;
    return level === "all" || (level === "mentions" && mentioned);
  }

  function notify(evt) {
    var msg = evt.detail.msg;
    var chatId = evt.detail.chatId;
    var item = evt.target.closest(".chat-item");
    if (!item || !shouldNotify(msg, chatId, item)) return;
    var author = msg.querySelector(".msg-author");
    var body = msg.querySelector(".msg-body");
    var files = msg.querySelector(".msg-attachments[data-summary]"); // worded by the server
    var text = ((body && body.textContent.trim()) || (files ? files.dataset.summary : "")).replace(/\s+/g, " ");
    var chars = Array.from(text); // whole characters: cutting UTF-16 units could halve an emoji
    var notification = new Notification((author ? author.textContent + " in " : "") +
                                        item.querySelector(".chat-title").textContent, {
      body: chars.length > 140 ? chars.slice(0, 139).join("") + "…" : text,
      tag: "webchat-" + chatId, // one notification per chat, replaced by the newest
    });
    webchat.lastNotification = { chatId: chatId, title: notification.title, body: notification.body };
    notification.onclick = function () {
      window.focus();
      var link = document.querySelector('#chat-list a[data-chat-id="' + chatId + '"]');
      if (link) link.click();
      notification.close();
    };
  }

  htmx.defineExtension("notify", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
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
