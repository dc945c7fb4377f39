// The outbox: a message sent from the composer shows at once as a line "Sending…" in the chat and
// is kept in localStorage (per user and chat) until the server has it. The lines go in order: over
// the socket while it is live, over HTTP while it is not but the server answers; while neither
// can carry them they wait, across reloads, and go when the connection comes back. The server
// stores each client id once, so a line sent again (the other way, from another tab, after a
// reload) is never stored twice; the line goes when the server's rendering of its client id
// arrives (the message's data-client-id), or shows the server's refusal with Retry, Edit and
// Delete. The composer's draft is kept per user and chat as well. Files are not kept: they go at
// once with attachments.js or stay in the composer. A line quoting a message (the composer's
// reply_to, quotes.js) keeps the quote through every retry.
// One behaviour, attached by hx-ext="outbox" on the chat pane (chats/_chat_pane.html), which holds
// the composer and the lines. connection.js says whether the socket is live (webchat.isLive and
// the webchat:connection event on every change of state) and sends over it (webchat.sendFrame).
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  // A send unanswered this long may go the other way (the server keeps the first it stores).
  var ANSWER_WITHIN_MS = 6000;
  var connection = "connecting"; // the last state connection.js announced
  var generation = 0; // how many times the socket became live
  var sentIn = {}; // client id -> the generation whose socket carried it
  var overHttp = null; // {clientId, since}: the one line on its way over HTTP; the others wait for it
  var waitTimer = null;
  var answered = {}; // client id -> answers over HTTP that left its line still sending
  var draftSaved = {}; // chat id -> the draft this tab last saved or restored

  // ----- what is kept: the outbox and the draft of each chat, per signed-in user ---------------
  function key(kind, chat) {
    return "webchat:" + kind + ":" + document.body.dataset.user + ":" + chat;
  }

  function load(chat) {
    try {
      return JSON.parse(localStorage.getItem(key("outbox", chat))) || [];
    } catch (e) {
      return []; // storage refused (private mode, quota): the lines on the page still go
    }
  }

  function store(chat, entries) {
    try {
      if (entries.length) localStorage.setItem(key("outbox", chat), JSON.stringify(entries));
      else localStorage.removeItem(key("outbox", chat));
    } catch (e) { /* as above */ }
  }

  function change(chat, clientId, update) {
    var entries = load(chat);
    var changed = entries.map(function (entry) { return entry.client_id === clientId ? update(entry) : entry; })
      .filter(Boolean);
    if (JSON.stringify(changed) !== JSON.stringify(entries)) store(chat, changed);
  }

  function forget(chat, clientId) {
    change(chat, clientId, function () { return null; });
  }

  function saveDraft(form) {
    var box = form.querySelector("textarea[name=body]");
    var chat = form.dataset.chatId;
    if (!box || draftSaved[chat] === box.value) return;
    draftSaved[chat] = box.value;
    try {
      if (box.value.trim()) localStorage.setItem(key("draft", chat), box.value);
      else localStorage.removeItem(key("draft", chat));
    } catch (e) { /* as above */ }
  }

  function restoreDraft(form) {
    var box = form.querySelector("textarea[name=body]");
    var chat = form.dataset.chatId;
    var draft = null;
    try {
      draft = localStorage.getItem(key("draft", chat));
    } catch (e) { /* as above */ }
    if (box && !box.value && draft) box.value = draft; // a text the server kept after a refusal wins
    if (box) draftSaved[chat] = box.value;
  }

  // ----- the lines ---------------------------------------------------------------------------
  function chatShown() {
    var messages = document.getElementById("messages");
    return messages ? parseInt(messages.dataset.chatId, 10) : null;
  }

  function lineOf(clientId) {
    return document.getElementById("pending-" + clientId);
  }

  function bodyOf(line) {
    return line.querySelector(".pending-body").textContent;
  }

  function showLine(entry) {
    var template = document.getElementById("pending-template");
    var messages = document.getElementById("messages");
    if (!template || !messages) return;
    var line = template.content.firstElementChild.cloneNode(true);
    line.id = "pending-" + entry.client_id;
    line.dataset.clientId = entry.client_id;
    line.querySelector(".pending-body").textContent = entry.body;
    if (entry.reply_to) line.dataset.replyTo = entry.reply_to;
    if (entry.error !== undefined) {
      line.classList.replace("pending--sending", "pending--failed");
      line.querySelector(".pending-reason").textContent = entry.error;
    }
    messages.appendChild(line); // below the stored messages, which webchat.js keeps above it
  }

  // The server's rendering of a client id of this user: the message itself.
  function storedMessage(clientId) {
    var selector = '#messages > .msg[data-client-id="' + CSS.escape(clientId) + '"][data-author="' +
      CSS.escape(document.body.dataset.user) + '"]';
    return document.querySelector(selector);
  }

  // ----- sending, in order ---------------------------------------------------------------------
  function flush() {
    var lines = document.querySelectorAll("#messages > .pending--sending");
    if (!lines.length) return;
    if (overHttp && lineOf(overHttp.clientId) && Date.now() - overHttp.since < ANSWER_WITHIN_MS) {
      // The lines after it must not overtake it: they go once it is answered, or given up on.
      clearTimeout(waitTimer);
      waitTimer = setTimeout(flush, overHttp.since + ANSWER_WITHIN_MS - Date.now());
      return;
    }
    if (webchat.isLive()) {
      lines.forEach(sendOverSocket); // one socket keeps the order; the one over HTTP, if any, again
    } else if (navigator.onLine && connection !== "signed-out") {
      sendOverHttp(lines[0]);
    } // else they wait for the connection (webchat:connection)
  }

  function sendOverSocket(line) {
    var clientId = line.dataset.clientId;
    if (sentIn[clientId] === generation) return;
    sentIn[clientId] = generation;
    var frame = { type: "send", chat: chatShown(), client_id: clientId, body: bodyOf(line) };
    if (line.dataset.replyTo) frame.reply_to = line.dataset.replyTo;
    webchat.sendFrame(frame);
    setTimeout(flush, ANSWER_WITHIN_MS); // no answer and the socket gone by then: over HTTP
  }

  function sendOverHttp(line) {
    var composer = document.getElementById("composer");
    var url = composer && composer.getAttribute("hx-post");
    if (!url) return;
    overHttp = { clientId: line.dataset.clientId, since: Date.now() };
    var values = { body: bodyOf(line), client_id: line.dataset.clientId };
    if (line.dataset.replyTo) values.reply_to = line.dataset.replyTo;
    // The line makes the request (HX-Trigger names it): the server answers a refusal on it.
    htmx.ajax("POST", url, {
      source: line, target: "#messages", swap: "beforeend", values: values,
    }).catch(function () {}); // a network error: heard as htmx:afterRequest
  }

  // The answer over HTTP: a stale token is refused with a fresh one (csrf.js takes it); the
  // server's own refusal of this line is shown, whatever its status (a chat no longer yours).
  function beforeSwap(evt, line) {
    var xhr = evt.detail.xhr;
    if (xhr.status === 400 && xhr.getResponseHeader("X-CSRF-Token")) {
      evt.detail.shouldSwap = false; // the line says it is still sending; it goes again below
    } else if (namesLine(evt.detail.serverResponse, line)) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
      if (!lineOf(line.dataset.clientId)) withoutLine(evt.detail, line); // answered twice (sent again meanwhile)
    }
  }

  function withoutLine(detail, line) {
    var holder = document.createElement("template");
    holder.innerHTML = detail.serverResponse;
    var end = holder.content.getElementById("pending-" + line.dataset.clientId);
    if (end) end.remove();
    detail.serverResponse = holder.innerHTML;
  }

  function namesLine(text, line) {
    return String(text).indexOf('id="pending-' + line.dataset.clientId + '"') >= 0;
  }

  // The server stored or refused it: the line says which once htmx has settled it, and the next
  // line goes then. Unreachable (no status) waits for the connection; any other answer (a stale
  // token, a server error) gets one more try at once.
  function answeredOverHttp(evt, line) {
    var clientId = line.dataset.clientId;
    if (namesLine(evt.detail.xhr.responseText, line)) return;
    if (overHttp && overHttp.clientId === clientId) overHttp = null;
    answered[clientId] = (answered[clientId] || 0) + 1;
    if (evt.detail.xhr.status && answered[clientId] < 2) flush();
  }

  function settledOverHttp(line) {
    if (overHttp && overHttp.clientId === line.dataset.clientId) overHttp = null;
    flush();
  }

  // ----- what the server says about a line ------------------------------------------------------
  function settled(clientId) {
    delete sentIn[clientId];
    delete answered[clientId];
    if (overHttp && overHttp.clientId === clientId) overHttp = null;
  }

  function arrived(msg) {
    var clientId = msg.dataset.clientId;
    if (!clientId || msg.dataset.author !== document.body.dataset.user) return;
    var line = lineOf(clientId);
    var next = overHttp && overHttp.clientId === clientId;
    if (line && (next || sentIn[clientId] !== undefined)) {
      // This tab's answer is still on its way (the message to every member goes first), and
      // it deletes the line (realtime/_sent.html): until then the line is hidden, never sent again.
      line.hidden = true;
      line.className = "pending";
    } else if (line) {
      line.remove(); // this tab did not send it: no answer will come here
    }
    forget(parseInt(msg.dataset.chat, 10), clientId);
    settled(clientId);
    if (next) flush();
  }

  // Lines carried over a reload of the messages (connection.js) whose message came with it.
  function sweep() {
    document.querySelectorAll("#messages > .pending").forEach(function (line) {
      var msg = storedMessage(line.dataset.clientId);
      if (msg) arrived(msg);
    });
  }

  function refused(line) {
    var reason = line.querySelector(".pending-reason").textContent;
    change(chatShown(), line.dataset.clientId, function (entry) {
      return Object.assign({}, entry, { error: reason });
    });
    settled(line.dataset.clientId);
    flush(); // the lines after it go
  }

  // Retry, Edit or Delete on a line that was not sent.
  function act(evt) {
    var button = evt.target.closest("[data-pending-action]");
    var line = button && button.closest(".pending");
    if (!line) return;
    var clientId = line.dataset.clientId;
    var chat = chatShown();
    if (button.dataset.pendingAction === "retry") {
      line.classList.replace("pending--failed", "pending--sending");
      change(chat, clientId, function (entry) {
        return { client_id: entry.client_id, body: entry.body, time: entry.time, reply_to: entry.reply_to };
      });
      settled(clientId);
      flush();
      return;
    }
    line.remove();
    forget(chat, clientId);
    var composer = document.getElementById("composer");
    var box = composer && composer.querySelector("textarea[name=body]");
    if (button.dataset.pendingAction === "edit" && box) {
      box.value = bodyOf(line);
      box.focus();
      saveDraft(composer);
      if (line.dataset.replyTo && webchat.quoteMessage) webchat.quoteMessage(line.dataset.replyTo);
    }
  }

  // A chat shown (page load, another chat opened): its lines not stored yet, in the order sent.
  function restore() {
    var chat = chatShown();
    if (!chat) return;
    var entries = load(chat);
    var waiting = entries.filter(function (entry) { return !storedMessage(entry.client_id); });
    if (waiting.length !== entries.length) store(chat, waiting);
    waiting.forEach(function (entry) { if (!lineOf(entry.client_id)) showLine(entry); });
    if (waiting.length) {
      webchat.scrollToBottom();
      flush();
    }
  }

  // ----- the composer: every send goes into the outbox ----------------------------------------
  // On the document, ahead of csrf.js (loaded after this file): a stale token must not hold the
  // composer, whose own request never goes; the outbox's requests ask for a fresh one.
  document.addEventListener("htmx:confirm", function (evt) {
    var form = evt.detail.elt;
    if (form.id !== "composer" || !form.closest("[hx-ext~='outbox']")) return;
    evt.preventDefault();
    take(form);
  });

  function take(form) {
    var box = form.querySelector("textarea[name=body]");
    var clientId = form.querySelector("input[name=client_id]");
    if (!box || !clientId || !box.value.trim()) return;
    var quote = form.querySelector("input[name=reply_to]");
    var entry = { client_id: clientId.value, body: box.value, time: Date.now() };
    if (quote && quote.value) entry.reply_to = quote.value;
    var chat = parseInt(form.dataset.chatId, 10);
    store(chat, load(chat).concat([entry]));
    box.value = "";
    clientId.value = webchat.newClientId();
    saveDraft(form);
    var error = form.querySelector(".form-error");
    if (error) error.remove();
    form.dispatchEvent(new CustomEvent("webchat:taken", { bubbles: true })); // quotes.js drops the quote
    showLine(entry);
    webchat.scrollToBottom();
    flush();
  }

  document.addEventListener("webchat:connection", function (evt) {
    connection = evt.detail.state;
    if (connection === "live") generation += 1;
    flush();
  });

  // Leaving the chat or the page keeps what the composer holds now (a send of files empties it
  // without an input event).
  function keepDraft() {
    var composer = document.getElementById("composer");
    if (composer) saveDraft(composer);
  }
  window.addEventListener("pagehide", keepDraft);
  document.addEventListener("htmx:beforeSwap", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "chat-pane") keepDraft();
  });
  // Another tab's Delete takes the line away here too.
  window.addEventListener("storage", function (evt) {
    var chat = chatShown();
    if (!chat || evt.key !== key("outbox", chat)) return;
    var kept = load(chat).map(function (entry) { return entry.client_id; });
    document.querySelectorAll("#messages > .pending--failed").forEach(function (line) {
      if (kept.indexOf(line.dataset.clientId) < 0) line.remove();
    });
  });

  function isLine(el) {
    return el && el.classList && el.classList.contains("pending");
  }

  function connect(pane) {
    pane.addEventListener("click", act);
    pane.addEventListener("input", function (evt) {
      var form = evt.target.closest("#composer");
      if (form) saveDraft(form);
    });
    restore();
  }

  var api;
  htmx.defineExtension("outbox", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var el = evt.detail.elt;
      var source = evt.detail.requestConfig && evt.detail.requestConfig.elt;
      if (name === "htmx:load" && el.classList && el.classList.contains("msg")) arrived(el);
      else if (name === "htmx:load" && el.id === "messages") sweep();
      else if (name === "htmx:load" && isLine(el) && el.classList.contains("pending--failed")) refused(el);
      else if (name === "htmx:beforeSwap" && isLine(source)) beforeSwap(evt, source);
      else if (name === "htmx:afterRequest" && isLine(source)) answeredOverHttp(evt, source);
      else if (name === "htmx:afterSettle" && isLine(source)) settledOverHttp(source);
      else if (name === "htmx:afterRequest" && el.id === "poller" && evt.detail.successful) flush(); // reachable again
      else if (name === "htmx:afterProcessNode" && el.id === "composer") restoreDraft(el);
      else if (name === "htmx:afterProcessNode" && el.id === "chat-pane" && !api.getInternalData(el).outbox) {
        api.getInternalData(el).outbox = true;
        connect(el);
      }
    },
  });
})();
