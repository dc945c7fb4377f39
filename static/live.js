// What the page shows of other people, live: presence, "… is typing", the receipt under one's
// latest message ("Seen by …") and the state of each of one's messages, and the unread total in
// the tab title. The server sends data (rendered once for everyone, presence with its words);
// this file places it for the viewer.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var me = function () { return document.body.dataset.user; };
  var api;

  // ----- presence ------------------------------------------------------------------------
  // The words come from the server: "online" and hidden from the page config, "last seen …" as
  // [[minutes since last seen, words], …] from when it was rendered on (presence_schedule);
  // shown are the last ones reached. Only the server knows how presence reads, so a fresh page
  // and one left open say the same.
  function renderPresence(el) {
    var state = el.dataset.hidden === "1" ? "hidden" : el.dataset.online === "1" ? "online" : "offline";
    var words = state === "offline" ? JSON.parse(el.dataset.words || "[]") : [];
    var since = el.dataset.lastSeen ? (Date.now() - new Date(el.dataset.lastSeen).getTime()) / 60000 : 0;
    var shown = webchat.config.presence[state] || "";
    words.forEach(function (w) { if (w[0] <= since) shown = w[1]; else if (!shown) shown = w[1]; });
    el.className = "presence presence--" + state;
    if (shown && el.textContent !== shown) el.textContent = shown;
  }

  function applyPresenceSignal(signal) {
    document.querySelectorAll('.presence[data-presence-user="' + signal.dataset.user + '"]').forEach(function (el) {
      ["hidden", "online", "lastSeen", "words"].forEach(function (key) {
        if (signal.dataset[key] === undefined) delete el.dataset[key];
        else el.dataset[key] = signal.dataset[key];
      });
      renderPresence(el);
    });
  }
  // The server's words reach a dozen changes ahead. The chat list is fetched afresh every minute
  // or so with new ones: a presence elsewhere (a DM's header) of the same last seen takes them.
  // (Only words: a list made before a signal may arrive after it, and must not undo it.)
  function presenceFromList() {
    document.querySelectorAll("#chat-list .presence[data-words]").forEach(function (listed) {
      var user = listed.dataset.presenceUser;
      document.querySelectorAll('.presence[data-presence-user="' + user + '"]').forEach(function (el) {
        if (el === listed || el.dataset.lastSeen !== listed.dataset.lastSeen || el.dataset.online !== "0") return;
        el.dataset.words = listed.dataset.words;
        renderPresence(el);
      });
    });
  }

  // Presence signals carry data only: apply them here and keep htmx from looking for a target.
  // Heard through this file's extension on the socket's element (hx-ext="… live" on .layout).
  htmx.defineExtension("live", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var el = evt.detail.elt;
      if (name === "htmx:afterProcessNode" && el.hasAttribute("ws-connect") && !api.getInternalData(el).live) {
        api.getInternalData(el).live = true;
        el.addEventListener("webchat:incoming", countIncoming);
      }
      if (name !== "htmx:wsBeforeMessage") return;
      var text = evt.detail.message;
      if (text.indexOf("<template data-presence-signal") !== 0) return;
      var holder = document.createElement("template");
      holder.innerHTML = text;
      holder.content.querySelectorAll("[data-presence-signal]").forEach(applyPresenceSignal);
      evt.preventDefault();
    },
  });

  // ----- typing --------------------------------------------------------------------------
  var typingTimers = {};
  function renderTyping(box) {
    var names = Array.from(box.querySelectorAll("span[data-user]"))
      .filter(function (s) { return s.dataset.user !== me(); })
      .map(function (s) { return s.textContent; });
    var words = "";
    if (names.length === 1) words = names[0] + " is typing…";
    else if (names.length === 2) words = names[0] + " and " + names[1] + " are typing…";
    else if (names.length > 2) words = "Several people are typing…";
    box.dataset.words = words;
    // Real text in the live region beside the box (which the server replaces): screen readers hear it.
    var line = document.querySelector('.typing-words[data-typing-for="' + box.id.slice("typing-".length) + '"]');
    if (line && line.textContent !== words) line.textContent = words;
    // A lost "stop" must not leave the indicator up: it fades 6 s after the last signal.
    clearTimeout(typingTimers[box.id]);
    if (words) typingTimers[box.id] = setTimeout(function () { box.replaceChildren(); renderTyping(box); }, 6000);
  }

  // ----- receipts and delivery marks -----------------------------------------------------
  // Each of my messages carries its state (data-delivery: sent, delivered to or seen by at least
  // one other member), which app.css shows on hover or focus; my latest one says it in words
  // under it, once: "Sent", "Delivered", "Seen by Bob, Carol". Nothing of other people's reading
  // shows to someone who shares none of their own (data-receipts="off").
  function renderReceipts(chatId) {
    var data = document.getElementById("receipts-" + chatId);
    var container = document.getElementById("messages");
    if (!data || !container) return;
    var receiptsOff = document.body.dataset.receipts === "off";
    var readers = Array.from(data.querySelectorAll("span[data-user]")).filter(function (s) {
      return s.dataset.user !== me();
    });
    function reached(id, key) {
      return readers.filter(function (r) { return parseInt(r.dataset[key], 10) >= id; });
    }
    var latest = null;
    container.querySelectorAll(":scope > .msg--user").forEach(function (msg) {
      if (msg.dataset.author !== me()) return;
      var id = parseInt(msg.dataset.id, 10);
      var state = "sent";
      if (!receiptsOff) {
        if (reached(id, "read").length) state = "seen";
        else if (reached(id, "delivered").length) state = "delivered";
      }
      if (msg.dataset.delivery !== state) msg.dataset.delivery = state;
      if (!msg.classList.contains("msg--deleted")) latest = msg;
    });
    var words = "";
    if (latest) {
      var seenBy = receiptsOff ? [] : reached(parseInt(latest.dataset.id, 10), "read").map(function (r) {
        return r.textContent;
      });
      if (seenBy.length > 3) words = "Seen by " + seenBy.slice(0, 3).join(", ") + " and " + (seenBy.length - 3) + " more";
      else if (seenBy.length) words = "Seen by " + seenBy.join(", ");
      else words = latest.dataset.delivery === "delivered" ? "Delivered" : "Sent";
    }
    container.querySelectorAll(":scope > .msg > .msg-receipt").forEach(function (line) {
      if (line.parentElement !== latest) line.remove();
    });
    if (!latest) return;
    var line = latest.querySelector(":scope > .msg-receipt");
    if (!line) {
      line = document.createElement("p");
      line.className = "msg-receipt";
      latest.appendChild(line);
    }
    if (line.textContent !== words) line.textContent = words;
  }
  function renderOpenReceipts() {
    var chat = webchat.openChatId();
    if (chat) renderReceipts(chat);
  }

  // ----- unread total in the title: "(3) webchat", with mentions of me "(3, @1) webchat" ----
  // The base is the page's own title; a pane swapped in brings a new one (htmx sets it from the
  // pane's <title>), seen as a title other than the one last written here.
  var baseTitle = null;
  var shownTitle = null;
  function sum(selector) {
    var total = 0;
    document.querySelectorAll(selector).forEach(function (b) { total += parseInt(b.dataset.count, 10) || 0; });
    return total;
  }
  function renderTitle() {
    if (baseTitle === null || document.title !== shownTitle) baseTitle = document.title.replace(/^\([^)]*\) /, "");
    var counts = [sum("#chat-list .badge"), sum("#chat-list .mention-badge")];
    var words = [counts[0] ? badgeWords("unread", counts[0]).text : "",
                 counts[1] ? badgeWords("mentions", counts[1]).text : ""].filter(Boolean).join(", ");
    document.title = (words ? "(" + words + ") " : "") + baseTitle;
    shownTitle = document.title;
  }

  // A badge for a count the page worked out (the server's plus those counted live), in the
  // server's words (templating.badge_words): this fills in the count and picks the form.
  function badgeWords(kind, count) {
    var badges = webchat.config.badges;
    var shown = count >= badges.capped ? badges.cappedText : String(count);
    var words = badges.words[kind];
    return { text: words.text.replace("#", shown), title: words.title[count === 1 ? 0 : 1].replace("#", shown) };
  }

  // ----- unread and @ counts: the server's, plus what arrived live since it counted ----------
  // A count from the server (the list, a poll, a catch-up, a read) is as of message id
  // data-upto, and a message that arrives live can reach the page before or after it. Each badge
  // shows the server's count plus the messages this page counted live above that id, so neither
  // order loses or doubles one (an older list landing after a live message used to undo it).
  // A count made before a read can also land after the read's (a chat list on its way while the
  // chat is opened): the server's counts are ordered by (read marker, newest id), both of which
  // only grow, and a badge swapped in with an older one gets the newest count back.
  var liveIds = { "unread-": {}, "mentions-": {} }; // badge id prefix -> chat id -> message ids
  var newestCounts = {}; // badge id -> {server, upto, read} of the newest server count seen
  function keepNewestCount(badge) {
    var read = parseInt(badge.dataset.read, 10) || 0;
    var upto = parseInt(badge.dataset.upto, 10) || 0;
    var kept = newestCounts[badge.id];
    if (kept && (kept.read > read || (kept.read === read && kept.upto > upto))) {
      badge.dataset.server = kept.server;
      badge.dataset.upto = String(kept.upto);
      badge.dataset.read = String(kept.read);
    } else {
      newestCounts[badge.id] = { server: badge.dataset.server, upto: upto, read: read };
    }
  }
  // A chat left is forgotten: joined again, its read marker starts afresh.
  function forgetLeftChats() {
    Object.keys(newestCounts).forEach(function (id) { if (!document.getElementById(id)) delete newestCounts[id]; });
  }
  function showCount(badge) {
    keepNewestCount(badge);
    var prefix = badge.classList.contains("mention-badge") ? "mentions-" : "unread-";
    var upto = parseInt(badge.dataset.upto, 10) || 0;
    var count = parseInt(badge.dataset.server, 10) || 0;
    var ids = liveIds[prefix][badge.id.slice(prefix.length)];
    if (ids) ids.forEach(function (id) { if (id > upto) count += 1; else ids.delete(id); });
    if (String(count) === badge.dataset.count) return;
    var words = badgeWords(prefix === "mentions-" ? "mentions" : "unread", count);
    badge.dataset.count = String(count);
    badge.textContent = words.text;
    badge.title = words.title;
  }
  function showCounts() {
    document.querySelectorAll("#chat-list .badge[data-server], #chat-list .mention-badge[data-server]")
      .forEach(showCount);
  }
  function countLive(prefix, chatId, messageId) {
    var ids = liveIds[prefix][chatId] || (liveIds[prefix][chatId] = new Set());
    ids.add(messageId);
    var badge = document.getElementById(prefix + chatId);
    if (badge && badge.dataset.server !== undefined) showCount(badge);
  }

  // A message connection.js counts as unread here ("webchat:incoming", on its chat's item): one
  // more for the chat's badge, and for its "@" badge when it names me.
  function countIncoming(evt) {
    var msg = evt.detail.msg;
    var id = parseInt(msg.dataset.id, 10);
    countLive("unread-", evt.detail.chatId, id);
    if ((msg.dataset.mentions || "").split(" ").indexOf(me()) >= 0) countLive("mentions-", evt.detail.chatId, id);
    renderTitle();
  }

  document.addEventListener("htmx:load", function (evt) {
    var el = evt.detail.elt;
    if (!el.querySelectorAll) return;
    var boxes = el.classList && el.classList.contains("typing") ? [el] : el.querySelectorAll(".typing");
    boxes.forEach(renderTyping);
    (el.classList && el.classList.contains("presence") ? [el] : el.querySelectorAll(".presence")).forEach(renderPresence);
    if ((el.classList && (el.classList.contains("receipts") || el.classList.contains("msg"))) || el.querySelector(".receipts")) {
      renderOpenReceipts();
    }
    if (el.classList && el.classList.contains("badge") && el.closest(".chat-item")) {
      // A new count from the server (read elsewhere, or here): the item's highlight follows it.
      el.closest(".chat-item").classList.toggle("chat-item--unread", (parseInt(el.dataset.count, 10) || 0) > 0);
    }
    var isBadge = el.classList && (el.classList.contains("badge") || el.classList.contains("mention-badge"));
    if (el.id === "chat-list" || el.querySelector("#chat-list")) forgetLeftChats();
    if (el.id === "chat-list" || isBadge || el.querySelector("#chat-list")) {
      presenceFromList();
      showCounts();
      renderTitle();
    }
  });
  // A chat item is highlighted exactly while its badge counts something. Checked again after
  // each settle: a list swapped in by polling restores its (older) attributes only when it
  // settles, which can come after a newer count from the socket has been applied.
  function renderUnreadMarks() {
    document.querySelectorAll("#chat-list .chat-item").forEach(function (item) {
      var badge = item.querySelector(".badge");
      item.classList.toggle("chat-item--unread", !!badge && (parseInt(badge.dataset.count, 10) || 0) > 0);
    });
  }
  // Messages added, replaced (an edit) or regrouped: the latest of mine may have changed.
  document.addEventListener("webchat:timeline", renderOpenReceipts);
  document.addEventListener("htmx:afterSettle", function () {
    renderOpenReceipts();
    showCounts();
    renderUnreadMarks();
    renderTitle();
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".presence").forEach(renderPresence);
    renderOpenReceipts();
    renderTitle();
    // Relative times stay true: "last seen 5 min ago" becomes "6 min ago".
    setInterval(function () { document.querySelectorAll(".presence").forEach(renderPresence); }, 30000);
  });
})();
