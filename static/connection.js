// The socket side of a page: connection badge, resume-after-reconnect, polling as the fallback,
// and the live chat list. Works with htmx's ws extension (ws-connect on .layout); sending is
// outbox.js.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var socket = null; // the ws extension's wrapper while open
  var state = "connecting";
  var failures = 0; // closes since the server last answered
  var downSince = Date.now(); // when the socket last stopped being live (or the page loaded)
  var lastSync = null;
  var POLLING_AFTER_FAILURES = 2;
  var POLLING_AFTER_MS = 5000; // a socket that is not live by then (refused, silent) means polling
  var counted = new Set(); // message ids already counted as unread here

  function isLive() {
    return state === "live";
  }

  // ----- what the rest of the page may ask and hear: live or not, and every change of state ----
  webchat.isLive = isLive;
  function announceState() {
    document.dispatchEvent(new CustomEvent("webchat:connection", { detail: { state: state } }));
  }

  // ----- the badge -----------------------------------------------------------------------
  var LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
                 polling: "Polling", offline: "Offline", "signed-out": "Signed out" };

  function setState(next) {
    var wasLive = isLive();
    var was = state;
    state = next;
    renderBadge();
    if (wasLive && !isLive()) schedulePoll(); // poll sooner now; never later
    if (next !== was) announceState();
  }

  function synced() {
    lastSync = new Date();
    renderBadge();
  }

  function renderBadge() {
    var badge = document.getElementById("connection");
    if (!badge) return;
    badge.dataset.state = state;
    badge.querySelector(".connection-label").textContent = LABELS[state] || state;
    badge.querySelector(".connection-synced").textContent = lastSync
      ? "synced " + lastSync.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" })
      : "";
  }

  // ----- polling: every 20 s while the socket is down, every 60 s while it is up ---------
  var pollTimer = null;
  function schedulePoll() {
    clearTimeout(pollTimer);
    var seconds = parseFloat(document.body.dataset[isLive() ? "pollUp" : "pollDown"]) || 20;
    pollTimer = setTimeout(function () {
      poll();
      schedulePoll();
    }, seconds * 1000);
  }

  function poll() {
    var poller = document.getElementById("poller");
    if (poller) htmx.trigger(poller, "poll");
    var list = document.getElementById("chat-list");
    if (list) htmx.trigger(list, "poll");
  }

  document.addEventListener("htmx:afterRequest", function (evt) {
    var ok = evt.detail.successful && evt.detail.xhr && evt.detail.xhr.status < 300;
    if (ok && evt.detail.elt && evt.detail.elt.id === "poller") synced();
  });

  // The server asks the page to slow down (429: this user's work budget is spent, by other tabs
  // or a script): keep what the page shows, and ask again once it said to (Retry-After).
  var RETRY_LATER = { poller: "poll", "chat-list": "poll" };
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var elt = evt.detail.requestConfig && evt.detail.requestConfig.elt;
    if (evt.detail.xhr.status !== 429 || !elt) return;
    var again = elt === reloadSource ? function () { reloadView(); } : RETRY_LATER[elt.id] &&
      function () { if (document.body.contains(elt)) htmx.trigger(elt, RETRY_LATER[elt.id]); };
    if (!again) return; // anything else shows its refusal as usual
    evt.detail.shouldSwap = false;
    if (elt === reloadSource) reloadSource = null;
    setTimeout(again, (parseInt(evt.detail.xhr.getResponseHeader("Retry-After"), 10) || 5) * 1000);
  });

  // ----- reloading the view of a chat the page is too far behind on (webchat.js, takeReloads) ----
  // Its messages are fetched afresh as a fresh load shows them; the lines still being sent stay,
  // and the socket then catches up from the new cursors, so nothing that arrived meanwhile is lost.
  var reloadSource = null; // #messages while its reload is on its way
  function reloadView() {
    var messages = document.getElementById("messages");
    var chat = webchat.openChatId();
    if (!messages || !chat || reloadSource) return;
    reloadSource = messages;
    htmx.ajax("GET", "/chats/" + chat, {
      source: messages, target: "#messages", swap: "outerHTML", select: "#messages",
      headers: { "HX-Target": "chat-pane" }, // the pane alone, not the whole page around it
    }).then(function () {
      var fresh = document.getElementById("messages");
      var swapped = reloadSource === messages && fresh !== messages;
      if (reloadSource === messages) reloadSource = null;
      if (!swapped) return;
      messages.querySelectorAll(":scope > .pending").forEach(function (el) { fresh.appendChild(el); });
      webchat.scrollToBottom();
      view();
      markRead();
    });
  }
  document.addEventListener("webchat:reload-view", function (evt) {
    if (evt.detail.chatId === webchat.openChatId()) reloadView();
  });

  // ----- the socket ----------------------------------------------------------------------
  function sendFrame(frame) {
    if (socket && isLive()) socket.send(JSON.stringify(frame));
  }

  function viewFrame() {
    var chat = webchat.openChatId();
    return chat ? { type: "view", chat: chat, after: webchat.resumeAfterId(), changes: webchat.changesCursor() }
      : { type: "view", chat: null };
  }

  function view() {
    sendFrame(viewFrame());
  }

  // Open is not yet live: the tab counts as live once the server has answered its "view"
  // (a proxy or a broken server can accept a socket and say nothing).
  function onOpen(evt) {
    socket = evt.detail.socketWrapper;
    socket.send(JSON.stringify(viewFrame()));
  }

  function onAfterMessage() {
    if (!isLive() && socket) {
      failures = 0;
      downSince = null;
      setState("live");
      markRead(); // the chat this tab shows is read; said after "view", so the list it answered is updated
    }
    synced();
  }

  function onClose(evt) {
    socket = null;
    var code = evt.detail.event.code;
    if (code === 1008) {
      setState("signed-out");
      webchat.showFlash("You were signed out. Sign in again to keep chatting.");
      return;
    }
    failures += 1;
    if (!downSince) downSince = Date.now();
    if (!navigator.onLine) setState("offline");
    else setState(failures >= POLLING_AFTER_FAILURES ? "polling" : "reconnecting");
    if (state === "polling") markRead(); // over HTTP now
  }

  // Before a frame is swapped in (the ws extension's htmx:wsBeforeMessage, heard by this file's
  // extension on .layout). The server lost its bell (Redis reconnected): catch up from the
  // database like a reconnect. Each message that arrives keeps the chat list true: preview,
  // order, unread badge.
  function beforeFrame(evt) {
    var text = evt.detail.message;
    if (text.indexOf("<template data-resync") === 0) {
      evt.preventDefault();
      view();
      return;
    }
    if (text.indexOf('class="msg') < 0) return;
    var template = document.createElement("template");
    template.innerHTML = text;
    template.content.querySelectorAll(".msg[data-chat]").forEach(function (msg) {
      updateChatList(msg);
      noteDelivered(msg);
    });
  }

  // The preview is markup rendered (and escaped) by the server, carried in an attribute.
  function placePreview(preview, html) {
    if (preview.dataset.shown === html) return;
    var holder = document.createElement("template");
    holder.innerHTML = html;
    preview.replaceChildren(holder.content);
    preview.dataset.shown = html;
  }

  function updateChatList(msg) {
    var chatId = parseInt(msg.dataset.chat, 10);
    var item = document.getElementById("chat-item-" + chatId);
    var list = document.getElementById("chat-list");
    if (!item) {
      if (list) htmx.trigger(list, "poll"); // a chat this page has not listed yet
      return;
    }
    // The server words the line (templating.message_preview, the message's data-preview).
    var preview = item.querySelector(".preview");
    if (preview && msg.dataset.preview !== undefined) placePreview(preview, msg.dataset.preview);
    var ul = item.parentElement;
    if (ul && ul.firstElementChild !== item) ul.insertBefore(item, ul.firstElementChild);
    var id = parseInt(msg.dataset.id, 10);
    if (preview && msg.dataset.preview !== undefined && (!livePreviews[chatId] || livePreviews[chatId].id < id)) {
      livePreviews[chatId] = { id: id, html: msg.dataset.preview };
    }
    var seenHere = chatId === webchat.openChatId() && document.visibilityState === "visible";
    var mine = msg.dataset.author === document.body.dataset.user;
    if (seenHere || mine || msg.classList.contains("msg--system") || counted.has(id) || document.getElementById(msg.id)) {
      return;
    }
    counted.add(id);
    item.classList.add("chat-item--unread");
    // Announced on the chat's item (bubbling): live.js counts it in the badges, notify.js notifies.
    item.dispatchEvent(new CustomEvent("webchat:incoming", { bubbles: true, detail: { msg: msg, chatId: chatId } }));
  }

  // A list made before a live message can land after it (the answer to a socket's "view", a
  // late poll). Each item says which message its preview and place are as of (data-upto): a
  // chat whose live message is newer gets that preview back, on top, as live.js does for the
  // badges; a preview the list has caught up with is forgotten.
  var livePreviews = {}; // chat id -> {id, text} of the newest message previewed live
  function restoreLivePreviews() {
    if (!Object.keys(livePreviews).length) return; // after every swap: nothing to do most of the time
    var newer = [];
    document.querySelectorAll("#chat-list .chat-item[data-upto]").forEach(function (item) {
      var live = livePreviews[item.dataset.chatId];
      if (!live) return;
      if (live.id <= (parseInt(item.dataset.upto, 10) || 0)) delete livePreviews[item.dataset.chatId];
      else newer.push({ live: live, item: item });
    });
    newer.sort(function (a, b) { return a.live.id - b.live.id; }).forEach(function (stale) {
      var preview = stale.item.querySelector(".preview");
      if (preview) placePreview(preview, stale.live.html);
      var ul = stale.item.parentElement;
      if (ul && ul.firstElementChild !== stale.item) ul.insertBefore(stale.item, ul.firstElementChild);
    });
  }
  document.addEventListener("htmx:load", function (evt) {
    var el = evt.detail.elt;
    if (el.id === "chat-list" || (el.querySelector && el.querySelector("#chat-list"))) restoreLivePreviews();
  });
  document.addEventListener("htmx:afterSettle", restoreLivePreviews);

  // "Delivered": tell the server, once per burst, how far each chat's messages reached this page.
  var deliveredUpTo = {};
  var deliveredTimer = null;
  function noteDelivered(msg) {
    if (msg.dataset.author === document.body.dataset.user) return;
    var chat = msg.dataset.chat;
    // A message this tab shows in view is about to be reported read, which covers delivery.
    if (parseInt(chat, 10) === webchat.openChatId() && document.visibilityState === "visible") return;
    deliveredUpTo[chat] = Math.max(deliveredUpTo[chat] || 0, parseInt(msg.dataset.id, 10));
    clearTimeout(deliveredTimer);
    deliveredTimer = setTimeout(function () {
      Object.keys(deliveredUpTo).forEach(function (c) {
        sendFrame({ type: "delivered", chat: parseInt(c, 10), upto: deliveredUpTo[c] });
      });
      deliveredUpTo = {};
    }, 400);
  }

  // ----- read state: the open chat, in a visible tab, is read up to its newest message ----
  // The chat and id are taken when the message shows, so switching chats cannot misfile them.
  var readTimer = null;
  var unsentRead = null;
  function markRead() {
    var chat = webchat.openChatId();
    if (!chat || document.visibilityState !== "visible") return;
    unsentRead = { type: "read", chat: chat, upto: webchat.newestShownId() };
    clearTimeout(readTimer);
    readTimer = setTimeout(flushRead, 300);
  }
  function flushRead() {
    clearTimeout(readTimer);
    var read = unsentRead;
    unsentRead = null;
    if (!read || !read.upto) return;
    if (isLive()) {
      sendFrame(read);
    } else {
      htmx.ajax("POST", "/chats/" + read.chat + "/read", { source: document.body, swap: "none", values: { upto: read.upto } })
        .then(function () { // no socket to bring the new unread count: fetch the list
          var list = document.getElementById("chat-list");
          if (list) htmx.trigger(list, "poll");
        }, function () {}); // unreachable (a read queued just before a cut): the next read says it
    }
  }
  document.addEventListener("webchat:message-shown", markRead);
  document.addEventListener("visibilitychange", markRead);
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "chat-pane") flushRead();
  });

  // ----- typing: at most one signal every 3 s while typing, "stop" after 5 s without a key --
  var typingSentAt = 0;
  var typingIdle = null;
  function typingFrame(state) {
    var chat = webchat.openChatId();
    if (chat) sendFrame({ type: "typing", chat: chat, state: state });
  }
  function typingOnInput(evt) {
    if (evt.target.name !== "body" || !evt.target.closest("#composer")) return;
    var now = Date.now();
    if (evt.target.value.trim() && now - typingSentAt > 3000) {
      typingSentAt = now;
      typingFrame("start");
    }
    clearTimeout(typingIdle);
    typingIdle = setTimeout(function () {
      if (typingSentAt) typingFrame("stop");
      typingSentAt = 0;
    }, 5000);
  }
  function typingOnSubmit(evt) {
    if (evt.target.id === "composer") { clearTimeout(typingIdle); typingSentAt = 0; } // the server stops it on send
  }

  // A new pane (another chat, the dashboard): tell the socket what this tab shows now, and
  // a chat just opened is read up to what it shows.
  // htmx settles each swapped element separately: say it once per swap.
  var paneChanged = null;
  document.addEventListener("htmx:afterSettle", function (evt) {
    if (!evt.detail.target || evt.detail.target.id !== "chat-pane" || paneChanged) return;
    paneChanged = setTimeout(function () {
      paneChanged = null;
      view();
      markRead();
    }, 0);
  });

  // What the page's own elements do is attached to the element this file governs, the one that
  // holds the socket (hx-ext="ws, connection" on .layout); the composer, whose typing it
  // signals, is inside it.
  var api;
  htmx.defineExtension("connection", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var el = evt.detail.elt;
      // The socket's own events, triggered on this element by the ws extension.
      if (name === "htmx:wsOpen") return onOpen(evt);
      if (name === "htmx:wsBeforeMessage") return beforeFrame(evt);
      if (name === "htmx:wsAfterMessage") return onAfterMessage();
      if (name === "htmx:wsClose") return onClose(evt);
      if (name !== "htmx:afterProcessNode" || !el.hasAttribute("ws-connect") || api.getInternalData(el).connection) return;
      api.getInternalData(el).connection = true;
      el.addEventListener("input", typingOnInput);
      el.addEventListener("submit", typingOnSubmit);
    },
  });

  window.addEventListener("offline", function () { if (!isLive()) setState("offline"); });
  window.addEventListener("online", function () { if (state === "offline") setState("reconnecting"); });

  // The ws extension retries after 1006/1011/1012/1013 with full jitter over 1 s·2^n (n ≤ 6);
  // cap the wait at 30 s and retry forever.
  htmx.config.wsReconnectDelay = function (retries) {
    return Math.random() * Math.min(30000, 1000 * Math.pow(2, Math.min(retries, 6)));
  };

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[ws-connect]")) state = "polling";
    renderBadge();
    schedulePoll();
    setInterval(function () {
      var waiting = state === "connecting" || state === "reconnecting";
      if (waiting && downSince && Date.now() - downSince > POLLING_AFTER_MS) setState("polling");
    }, 1000);
  });
})();
