// Desktop notifications, one behaviour attached by hx-ext="notify": on a button, it asks for
// permission (never on page load) and shows while there is something to ask; on the element
// that holds the socket (.layout), it shows the notices the server sends to this person's own
// channel (core/notifier.py, send_desktop: <template data-notify>, worded and decided there).
// Who is notified of what, and when not (their own message, a muted chat, what a visible tab
// shows, do-not-disturb hours, folding) is the server's one rule (core/notifications.py); the
// server knows what this tab shows from connection.js ("view-state"). This file decides nothing.
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

  // One notice: its words, its tag (one notification per chat or thread: a newer one replaces
  // it), and where a click goes: a channel message's chat by its link in the list when listed
  // (the page stays), else the message's own address (a thread's reply opens its pane).
  function show(notice) {
    var data = notice.dataset;
    var chatId = parseInt(data.chat, 10);
    var threadId = parseInt(data.thread, 10) || null;
    if (!supported || Notification.permission !== "granted") return;
    var notification = new Notification(data.title, { body: data.body, tag: data.tag });
    webchat.lastNotification = { chatId: chatId, threadId: threadId, title: data.title, body: data.body };
    notification.onclick = function () {
      window.focus();
      var link = !threadId && document.querySelector('#chat-list a[data-chat-id="' + chatId + '"]');
      if (link) link.click();
      else window.location.assign(data.href);
      notification.close();
    };
    document.dispatchEvent(new CustomEvent("webchat:notified", { detail: { reason: data.reason, chatId: chatId } }));
  }

  // Before a frame is swapped: notices are data, taken here (the swap then drops them, as
  // elements with no target: webchat.js dropUntargeted).
  function takeNotices(text) {
    if (text.indexOf("<template data-notify") < 0) return; // (the chat list's items say data-notify="…")
    var holder = document.createElement("template");
    holder.innerHTML = text;
    holder.content.querySelectorAll("template[data-notify]").forEach(show);
  }

  htmx.defineExtension("notify", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      if (name === "htmx:wsBeforeMessage") {
        takeNotices(evt.detail.message);
        return;
      }
      var el = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || el.tagName !== "BUTTON" ||
          !/(^|,)\s*notify\s*(,|$)/.test(el.getAttribute("hx-ext") || "")) return;
      var data = api.getInternalData(el);
      if (data.notify) return; // processed again (htmx.process): already attached
      data.notify = true;
      connectButton(el);
    },
  });
})();
