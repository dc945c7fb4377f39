// Desktop notifications: asked for from a button, never on page load. A message notifies when
// its chat is not in view (another chat is open, or the tab is hidden), unless it is one's own,
// and as the chat's setting says: all messages, mentions only, or nothing. So a mention of me
// notifies under "all" and "mentions" and never under "none" (a muted chat stays quiet), though
// it still counts in the chat's "@" badge (mentions.js, read_state.unread_mention_counts).
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var supported = "Notification" in window;

  function showButtons() {
    document.querySelectorAll("[data-enable-notifications]").forEach(function (button) {
      button.hidden = !supported || Notification.permission !== "default";
    });
  }

  document.addEventListener("click", function (evt) {
    if (!evt.target.closest("[data-enable-notifications]") || !supported) return;
    Notification.requestPermission().then(showButtons);
  });

  function shouldNotify(msg, chatId) {
    if (!supported || Notification.permission !== "granted") return false;
    if (msg.dataset.author === document.body.dataset.user || msg.classList.contains("msg--system")) return false;
    if (chatId === webchat.openChatId() && document.visibilityState === "visible") return false;
    var item = document.getElementById("chat-item-" + chatId);
    var level = item ? item.dataset.notify : "all";
    var mentioned = (msg.dataset.mentions || "").split(" ").indexOf(document.body.dataset.user) >= 0;
    return level === "all" || (level === "mentions" && mentioned);
  }

  document.addEventListener("webchat:incoming", function (evt) {
    var msg = evt.detail.msg;
    var chatId = evt.detail.chatId;
    if (!shouldNotify(msg, chatId)) return;
    var item = document.getElementById("chat-item-" + chatId);
    var chatName = item ? item.querySelector(".chat-title").textContent : "webchat";
    var author = msg.querySelector(".msg-author");
    var body = msg.querySelector(".msg-body");
    var files = msg.querySelector(".msg-attachments[data-summary]"); // worded by the server
    var text = ((body && body.textContent.trim()) || (files ? files.dataset.summary : "")).replace(/\s+/g, " ");
    var chars = Array.from(text); // whole characters: cutting UTF-16 units could halve an emoji
    var notification = new Notification((author ? author.textContent + " in " : "") + chatName, {
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
  });

  document.addEventListener("htmx:load", showButtons);
  document.addEventListener("DOMContentLoaded", showButtons);
})();
