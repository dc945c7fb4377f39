// The socket side of a page: connection badge, reconnecting, resume-after-reconnect, polling as
// the fallback, and the live chat list. Works with htmx's ws extension (ws-connect on .layout);
// sending is outbox.js. Says every change of state as a "webchat:connection" event on document
// ({state}); webchat.isLive().
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

  // Live: the socket is open, the server answered it, and it was heard within its window.
  function isLive() {
    return state === "live";
  }
  webchat.isLive = isLive;

  // ----- the badge -----------------------------------------------------------------------
  var LABELS = { connecting: "Connecting…", live: "Live", reconnecting: "Reconnecting…",
                 polling: "Polling", offline: "Offline", "signed-out": "Signed out" };

  function setState(next) {
    var wasLive = isLive();
    if (next === state) return;
    state = next;
    renderBadge();
    if (wasLive && !isLive()) schedulePoll(); // poll sooner now; never later
    scheduleProbe();
    if (isLive()) clearUnreachable();
    document.dispatchEvent(new CustomEvent("webchat:connection", { detail: { state: state } }));
  }

  // The banner a failed request put up (webchat.js) is wrong the moment webchat answers again.
  function clearUnreachable() {
    document.querySelectorAll('#flash [data-kind="unreachable"]').forEach(function (el) { el.remove(); });
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

  // ----- polling: every POLL_INTERVAL_SECONDS while the socket is down, every
  // POLL_INTERVAL_LIVE_SECONDS while it is up (the server's config, on <body>) -----------
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
    if (!navigator.onLine) return; // nowhere to go; the online event reconnects
    var poller = document.getElementById("poller");
    if (poller) htmx.trigger(poller, "poll");
    var threadPoller = document.getElementById("thread-poller"); // an open thread pane's replies
    if (threadPoller) htmx.trigger(threadPoller, "poll");
    var list = document.getElementById("chat-list");
    if (list) htmx.trigger(list, "poll");
  }

  // A poll answered or not says whether webchat is reachable (answered(), below).
  document.addEventListener("htmx:afterRequest", function (evt) {
    var ok = evt.detail.successful && evt.detail.xhr && evt.detail.xhr.status < 300;
    var id = evt.detail.elt && evt.detail.elt.id;
    if (id !== "poller" && id !== "chat-list") return;
    if (ok && id === "poller") synced();
    answered(ok);
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
    }, function () { // not sent (htmx:sendError put up the banner): the next reconnect catches up
      if (reloadSource === messages) reloadSource = null;
    });
  }
  document.addEventListener("webchat:reload-view", function (evt) {
    if (evt.detail.chatId === webchat.openChatId()) reloadView();
  });

  // ----- the socket ----------------------------------------------------------------------
  function sendFrame(frame) {
    if (socket && isLive()) socket.send(JSON.stringify(frame));
  }
  webchat.sendFrame = sendFrame; // outbox.js sends its lines so

  // With a thread's pane open, its replies after the pane's newest are caught up too.
  function viewFrame() {
    var chat = webchat.openChatId();
    if (!chat) return { type: "view", chat: null };
    var frame = { type: "view", chat: chat, after: webchat.resumeAfterId(), changes: webchat.changesCursor() };
    var pane = document.querySelector("#thread-pane[data-thread]");
    if (pane && parseInt(pane.dataset.chatId, 10) === chat) {
      frame.thread = parseInt(pane.dataset.thread, 10);
      frame.thread_after = webchat.newestIn(pane.querySelector(".thread-replies"));
    }
    return frame;
  }

  function view() {
    sendFrame(viewFrame());
    sayViewState();
  }

  // What this tab shows in view, for the server's notification rule (core/notifications.py:
  // nothing notifies of what a visible tab shows): its chat, its open thread pane, or nothing,
  // and whether the tab is visible. Said on every change, after "view" (which the server checks
  // the chat's membership by), and again on every new socket; the server keeps it alive.
  var saidViewState = null; // the last one sent on this socket
  function sayViewState() {
    var chat = webchat.openChatId() || null;
    var pane = chat && document.querySelector("#thread-pane[data-thread]");
    var frame = JSON.stringify({
      type: "view-state", chat: chat, visible: document.visibilityState === "visible",
      thread: pane && parseInt(pane.dataset.chatId, 10) === chat ? parseInt(pane.dataset.thread, 10) : null,
    });
    if (!socket || frame === saidViewState) return;
    socket.send(frame);
    saidViewState = frame;
  }
  document.addEventListener("visibilitychange", sayViewState);
  document.addEventListener("webchat:thread-closed", sayViewState); // threads.js, close()
  document.addEventListener("htmx:historyRestore", function () { setTimeout(sayViewState, 0); });

  // Open is not yet live: the tab counts as live once the server has answered its "view"
  // (a proxy or a broken server can accept a socket and say nothing).
  function onOpen(evt) {
    socket = evt.detail.socketWrapper;
    socket.send(JSON.stringify(viewFrame()));
    saidViewState = null;
    sayViewState();
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

  // Every frame shows the line is alive; the server's heartbeat (sent on a socket it had nothing
  // else to send on) says only that, and is not swapped in.
  function onFrame(evt) {
    heardAt = Date.now();
    if (evt.detail.message.indexOf("<template data-heartbeat") === 0) {
      evt.preventDefault();
      return;
    }
    beforeFrame(evt);
  }

  // Only "you may not" (1008: signed out) is final; any other close, a refused handshake or a
  // silent line reconnects, forever.
  function onClose(evt) {
    var ws = wrapper();
    if (ws && evt.detail.event.target !== ws.socket) return; // a socket this file replaced already
    if (evt.detail.event.code === 1008) {
      socket = null;
      clearTimeout(reconnectTimer);
      reconnectTimer = null;
      setState("signed-out");
      webchat.showFlash("You were signed out. Sign in again to keep chatting.");
      return;
    }
    lost();
  }

  // ----- reconnecting: capped full-jitter backoff, at once when the network is back -------
  var heardAt = 0; // when the socket last said anything (or started)
  var reconnectTimer = null; // set while waiting out the backoff
  var RECONNECT_CAP_MS = 30000;

  function wrapper() { // the ws extension's own socket holder on the ws-connect element
    var el = document.querySelector("[ws-connect]");
    return el && api ? api.getInternalData(el).webSocket : null;
  }

  // 0: the server sends no heartbeat (WEBCHAT_SOCKET_HEARTBEAT_SECONDS=0), so silence says nothing.
  function liveWindowMs() {
    var el = document.querySelector("[ws-connect]");
    return (parseFloat(el && el.dataset.liveWindow) || 0) * 1000;
  }

  // Full jitter over 1 s·2^n, at most 30 s: a server coming back is not met by every page at once.
  function backoff(n) {
    return Math.random() * Math.min(RECONNECT_CAP_MS, 1000 * Math.pow(2, Math.min(n, 5)));
  }

  function lost() {
    socket = null;
    heardBack = false; // another socket lost: is webchat still there? (probing, below)
    failures += 1;
    if (!downSince) downSince = Date.now();
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    if (!navigator.onLine) { // the online event reconnects
      setState("offline");
      return;
    }
    setState(failures >= POLLING_AFTER_FAILURES ? "polling" : "reconnecting");
    if (state === "polling") markRead(); // over HTTP now
    reconnectTimer = setTimeout(reconnectNow, backoff(failures - 1));
  }

  // A socket given up on is closed without telling the extension (its close would start the
  // extension's own retry, and report a socket this file is done with): one socket at a time.
  function drop(old) {
    if (!old) return;
    old.onopen = old.onclose = old.onerror = null;
    if (old.readyState <= WebSocket.OPEN) old.close();
  }

  function reconnectNow() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    var ws = wrapper();
    if (!ws || state === "signed-out") return;
    drop(ws.socket);
    socket = null;
    ws.init(); // the extension opens a new socket on the same element, with the same listeners
  }

  // Heard nothing for its window: dead, whatever the browser says (a half-open connection
  // stays "open" for minutes; a socket still opening counts from when it started).
  function checkSocket() {
    var ws = wrapper();
    if (!ws || !ws.socket || ws.socket.readyState > WebSocket.OPEN || state === "signed-out") return;
    var allowed = liveWindowMs();
    if (!allowed || Date.now() - heardAt <= allowed) return;
    drop(ws.socket);
    lost();
  }

  // Probing: an outage the browser cannot see (a proxy that stops forwarding or refuses,
  // a captive network) ends for the page when webchat answers a probe, not at the next poll or
  // the end of the backoff. HEAD /healthz, no cookies: the cheapest answer the app gives, with
  // an end of its own so a dead line cannot hold it. Every 1.2-1.8 s while the outage is young
  // (most end within a minute: a Wi-Fi change, a proxy or server restart), so the page is Live
  // about 2 s after the network is; every 8-12 s after a minute and 12-18 s after five, when
  // it is more likely the server itself that is down. Jittered, so pages spread out: 10,000
  // pages ask about 6,700, 1,000 and 670 times a second (bench/README.md, reconnect.py).
  var probeTimer = null;
  var POLL_TIMEOUT_MS = 10000; // a poll answers in well under a second: none in 10 s is a dead line
  var unreachable = false; // the last probe or poll went unanswered
  var heardBack = false; // answered since the socket was lost: no more probes until the next loss or failure

  function probeDelay() {
    var age = Date.now() - (downSince || Date.now());
    var mean = age < 60000 ? 1500 : age < 300000 ? 10000 : 15000;
    return mean * (0.8 + 0.4 * Math.random());
  }

  function probing() {
    return !isLive() && !heardBack && state !== "signed-out" && navigator.onLine && !!wrapper();
  }

  function scheduleProbe() {
    if (!probing()) {
      clearTimeout(probeTimer);
      probeTimer = null;
    } else if (!probeTimer) {
      probeTimer = setTimeout(probe, probeDelay());
    }
  }

  // Its end is the next probe's start: at most one waits on a dead line. A failed fetch rejects
  // quietly (Chromium itself logs a refused connection, never one timed out).
  function probe() {
    probeTimer = null;
    if (!probing()) return;
    var wait = probeDelay();
    probeTimer = setTimeout(probe, wait);
    fetch("/healthz", { method: "HEAD", cache: "no-store", credentials: "omit", signal: AbortSignal.timeout(wait) })
      .then(function (response) { answered(response.ok); }, function () { answered(false); });
  }

  // The first answer after silence means the network is back: a socket opened meanwhile (still
  // opening, or open and unheard, through a dead line) or waiting out its backoff tries again at
  // once, and its own catch-up brings what was missed. Any answer ends the probing until the
  // next socket is lost or a poll goes unanswered, and later answers leave the backoff alone:
  // a server that answers HTTP while its sockets fail (a proxy without WebSockets) is asked for
  // one probe and one socket per backoff step, not one every probe.
  function answered(ok) {
    var wasUnreachable = unreachable;
    unreachable = !ok;
    heardBack = ok;
    scheduleProbe();
    if (!ok) return;
    clearUnreachable();
    if (!wasUnreachable || isLive() || state === "signed-out") return;
    reconnectNow();
  }

  // A poll while the socket is down may go down a dead line too, and would hold back every later
  // poll of its element (htmx queues them behind it): it gets an end as well.
  document.addEventListener("htmx:configRequest", function (evt) {
    var id = evt.detail.elt && evt.detail.elt.id;
    if (!isLive() && (id === "poller" || id === "chat-list")) evt.detail.timeout = POLL_TIMEOUT_MS;
  });

  window.addEventListener("offline", function () {
    if (state === "signed-out") return;
    var ws = wrapper();
    if (ws) drop(ws.socket);
    if (!downSince) downSince = Date.now();
    socket = null;
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    setState("offline");
  });
  window.addEventListener("online", function () {
    if (state === "signed-out" || isLive()) return;
    failures = 0; // a new network: start the backoff over
    reconnectNow();
    scheduleProbe();
  });
  // Back from sleep or a background tab: the timers may not have run; look now.
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState !== "visible") return;
    checkSocket();
    if (reconnectTimer && navigator.onLine) reconnectNow();
  });

  // The extension reports a socket's error event through htmx's error log ("[object Event]" in
  // the console); the close event that always follows says all this file needs.
  htmx.createWebSocket = function (url) {
    var ws = new WebSocket(url, []);
    ws.binaryType = htmx.config.wsBinaryType;
    Object.defineProperty(ws, "onerror", { get: function () { return null; }, set: function () {} });
    return ws;
  };
  // The extension retries by itself after 1006/1011/1012/1013 only, on a timer nobody can cancel:
  // this file decides every reconnect (above), so that timer is set beyond any page's life.
  htmx.config.wsReconnectDelay = function () { return 2147483647; };

  // Before a frame is swapped in (the ws extension's htmx:wsBeforeMessage, heard by this file's
  // extension on .layout). The server lost its bell (Redis reconnected): catch up from the
  // database like a reconnect. Each message that arrives keeps the chat list true: preview,
  // order, unread badge; so does each that changed. Whatever chat they are of: the frame's parts
  // for a chat this page does not show are dropped after this (webchat.js, dropUntargeted).
  // What the chat list hears of: the chat's own messages. A reply kept in its thread comes as a
  // hidden placeholder (for the page's cursor) and as its thread's copy (t-<id>, for an open
  // pane): it is not unread in the channel, nor its newest line (the server renders which it is).
  var CHANNEL_COPY = '.msg[data-chat]:not(.msg--placeholder):not([id^="t-"])';
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
    template.content.querySelectorAll(CHANNEL_COPY).forEach(function (msg) {
      updateChatList(msg);
      noteDelivered(msg);
    });
    template.content.querySelectorAll("template[data-message-changes]").forEach(function (changes) {
      changes.content.querySelectorAll(CHANNEL_COPY).forEach(changeInChatList);
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
    // Announced on the chat's item (bubbling): live.js counts it in the badges.
    item.dispatchEvent(new CustomEvent("webchat:incoming", { bubbles: true, detail: { msg: msg, chatId: chatId } }));
  }

  // A changed message: the list's preview follows its chat's newest message (edited, deleted).
  // A deleted one may have been counted unread here; whether it was, and that deleted messages
  // count no more, only the server knows: a chat showing unread messages has its list asked again.
  function changeInChatList(msg) {
    var chatId = parseInt(msg.dataset.chat, 10);
    var item = document.getElementById("chat-item-" + chatId);
    if (!item) return;
    var live = livePreviews[chatId];
    var newest = Math.max(parseInt(item.dataset.upto, 10) || 0, live ? live.id : 0);
    var preview = item.querySelector(".preview");
    if (preview && msg.dataset.preview !== undefined && parseInt(msg.dataset.id, 10) === newest) {
      placePreview(preview, msg.dataset.preview);
      if (live) live.html = msg.dataset.preview;
    }
    var badge = item.querySelector(".badge");
    if (msg.classList.contains("msg--deleted") && badge && (parseInt(badge.dataset.count, 10) || 0) > 0) {
      refreshChatListSoon();
    }
  }

  var listTimer = null;
  function refreshChatListSoon() { // once for a burst of deletions
    clearTimeout(listTimer);
    listTimer = setTimeout(function () {
      var list = document.getElementById("chat-list");
      if (list) htmx.trigger(list, "poll");
    }, 300);
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
        }, function () {}); // not sent: the chat is marked read again once it shows a message or connects
    }
  }
  document.addEventListener("webchat:message-shown", markRead);
  document.addEventListener("visibilitychange", markRead);
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "chat-pane") flushRead();
  });

  // ----- typing: at most one signal every 3 s while typing, "stop" after 5 s without a key --
  // Per composer: the chat's, and a thread pane's (its frames name the thread, shown there only).
  var typing = {}; // composer id -> {sentAt, idle, thread}
  function typingFrame(state, thread) {
    var chat = webchat.openChatId();
    if (!chat) return;
    var frame = { type: "typing", chat: chat, state: state };
    if (thread) frame.thread = thread;
    sendFrame(frame);
  }
  function typingOnInput(evt) {
    var form = evt.target.name === "body" && evt.target.closest("#composer, #thread-composer");
    if (!form) return;
    var t = typing[form.id] = typing[form.id] || { sentAt: 0, idle: null };
    t.thread = form.id === "thread-composer" ? parseInt(form.dataset.thread, 10) : null;
    var now = Date.now();
    if (evt.target.value.trim() && now - t.sentAt > 3000) {
      t.sentAt = now;
      typingFrame("start", t.thread);
    }
    clearTimeout(t.idle);
    t.idle = setTimeout(function () {
      if (t.sentAt) typingFrame("stop", t.thread);
      t.sentAt = 0;
    }, 5000);
  }
  function typingOnSubmit(evt) {
    var t = typing[evt.target.id];
    if (!t) return;
    clearTimeout(t.idle);
    // The server stops the chat's on send; a reply goes over HTTP, so the pane says so itself.
    if (t.sentAt && t.thread) typingFrame("stop", t.thread);
    t.sentAt = 0;
  }

  // A new pane (another chat, the dashboard): tell the socket what this tab shows now, and
  // a chat just opened is read up to what it shows.
  // htmx settles each swapped element separately: say it once per swap.
  var paneChanged = null;
  document.addEventListener("htmx:afterSettle", function (evt) {
    // A thread's pane just opened: catch its replies up (the socket's view names it; else a poll).
    if (evt.target.id === "thread-pane" && evt.target.hasAttribute("data-thread")) {
      if (isLive()) view();
      else { var threadPoller = document.getElementById("thread-poller"); if (threadPoller) htmx.trigger(threadPoller, "poll"); }
      return;
    }
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
      if (name === "htmx:wsConnecting") heardAt = Date.now(); // its window starts now
      if (name === "htmx:wsOpen") return onOpen(evt);
      if (name === "htmx:wsBeforeMessage") return onFrame(evt);
      if (name === "htmx:wsAfterMessage") return onAfterMessage();
      if (name === "htmx:wsClose") return onClose(evt);
      if (name !== "htmx:afterProcessNode" || !el.hasAttribute("ws-connect") || api.getInternalData(el).connection) return;
      api.getInternalData(el).connection = true;
      el.addEventListener("input", typingOnInput);
      el.addEventListener("submit", typingOnSubmit);
    },
  });

  document.addEventListener("DOMContentLoaded", function () {
    if (!document.querySelector("[ws-connect]")) setState("polling");
    renderBadge();
    schedulePoll();
    setInterval(function () {
      checkSocket();
      var waiting = state === "connecting" || state === "reconnecting";
      if (waiting && downSince && Date.now() - downSince > POLLING_AFTER_MS) setState("polling");
    }, 1000);
  });
})();
