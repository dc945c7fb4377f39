// webchat's page behaviour on top of htmx: messages in id order and never twice, the "newest id
// shown" cursor, local times. connection.js adds the socket side; reading.js, where the view scrolls.
// Plain script, no build step; loaded after htmx with `defer`.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});

  // The one namespace: configuration from the server (templating.page_config).
  var meta = document.querySelector('meta[name="webchat-config"]');
  webchat.config = meta ? JSON.parse(meta.content) : {};

  function messageId(el) {
    return parseInt(el.dataset.id, 10) || 0;
  }

  // The chat shown live; a page of old history (?before=) is not live.
  webchat.openChatId = function () {
    var messages = document.getElementById("messages");
    return messages && !messages.hasAttribute("data-paged") ? parseInt(messages.dataset.chatId, 10) || null : null;
  };

  // The newest message id the page shows: the cursor for "everything after N".
  webchat.newestShownId = function () {
    var newest = 0;
    document.querySelectorAll("#messages > .msg").forEach(function (el) {
      newest = Math.max(newest, messageId(el));
    });
    return newest;
  };

  // The newest message id a container shows (a thread pane's replies: its catch-up cursor; a
  // thread's replies are the only messages there, in id order, so no gaps to mind).
  webchat.newestIn = function (container) {
    var newest = 0;
    if (container) container.querySelectorAll(":scope > .msg").forEach(function (el) {
      newest = Math.max(newest, messageId(el));
    });
    return newest;
  };

  // The "after" of a request from an element with data-after-from (a composer, a poller): the
  // channel's resume cursor for "#messages", else the newest reply the thread's container shows.
  webchat.afterFrom = function (from) {
    return from === "#messages" ? webchat.resumeAfterId() : webchat.newestIn(document.querySelector(from));
  };

  // Where to resume "everything after N": the end of the unbroken run of sequence numbers.
  // Live messages can arrive out of order (several workers); if one is still missing when the
  // socket drops, resuming after the newest would skip it for good. A placeholder for replies
  // kept in threads stands for a run of numbers (data-seq to data-seq-last, _gap.html).
  webchat.resumeAfterId = function () {
    var shown = Array.from(document.querySelectorAll("#messages > .msg[data-seq]"), function (el) {
      var first = parseInt(el.dataset.seq, 10);
      return [first, parseInt(el.dataset.seqLast, 10) || first, messageId(el)];
    }).sort(function (a, b) { return a[0] - b[0]; });
    if (!shown.length) return 0;
    var end = shown[0][1];
    var id = shown[0][2];
    for (var i = 1; i < shown.length && shown[i][0] <= end + 1; i++) {
      if (shown[i][1] > end) {
        end = shown[i][1];
        id = shown[i][2];
      }
    }
    return id;
  };

  // Polling, sending, replay and live delivery overlap: any message already on the page, or
  // of another chat than the one shown, is dropped before htmx swaps the response in.
  webchat.filterMessages = function (html) {
    if (html.indexOf('class="msg') < 0) return html;
    var template = document.createElement("template");
    template.innerHTML = html;
    var open = webchat.openChatId();
    var changed = false;
    template.content.querySelectorAll(".msg[id]").forEach(function (el) {
      if (document.getElementById(el.id) || parseInt(el.dataset.chat, 10) !== open) {
        el.remove();
        changed = true;
      }
    });
    return changed ? template.innerHTML : html;
  };

  // The page's change cursor: catch-up asks for edits, deletions and reactions after it.
  webchat.changesCursor = function () {
    var messages = document.getElementById("messages");
    return messages ? parseInt(messages.dataset.changes, 10) || 0 : 0;
  };

  // A changed message replaces the page's copy when it is newer (data-rev); one the page does
  // not show is left alone (older history loads fresh). An open editor survives the swap.
  function replaceIfNewer(fresh) {
    var current = document.getElementById(fresh.id);
    if (!current) return;
    if ((parseInt(current.dataset.rev, 10) || 0) >= (parseInt(fresh.dataset.rev, 10) || 0)) return;
    var node = document.importNode(fresh, true);
    var editor = current.querySelector(":scope > .msg-editor:not(.msg-editor--saving)");
    if (editor && node.querySelector(".msg-body")) node.appendChild(editor);
    // So does an open React menu: someone else's reaction must not close it under the cursor.
    var picker = current.querySelector(".reaction-picker[open]");
    var freshPicker = node.querySelector(".reaction-picker");
    if (picker && freshPicker) freshPicker.replaceWith(picker);
    current.replaceWith(node);
    htmx.process(node);
    localTimes(node);
  }

  // Takes the changed-messages templates out of a response and applies them; the rest goes on.
  webchat.applyChanges = function (html) {
    if (html.indexOf("data-message-changes") < 0) return html;
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var messages = document.getElementById("messages");
    holder.content.querySelectorAll("template[data-message-changes]").forEach(function (changes) {
      changes.content.querySelectorAll(".msg[id]").forEach(replaceIfNewer);
      var cursor = parseInt(changes.dataset.changes, 10);
      if (cursor && messages && parseInt(changes.dataset.chat, 10) === webchat.openChatId()) {
        messages.dataset.changes = String(Math.max(cursor, webchat.changesCursor()));
      }
      changes.remove();
    });
    return holder.innerHTML;
  };

  // A page too far behind on a chat's changes is told to fetch its view afresh instead of being
  // sent each changed message (connection.js does it): take the request out of the response.
  function takeReloads(html) {
    if (html.indexOf("data-reload-view") < 0) return html;
    var holder = document.createElement("template");
    holder.innerHTML = html;
    holder.content.querySelectorAll("template[data-reload-view]").forEach(function (reload) {
      var chatId = parseInt(reload.dataset.chat, 10);
      if (chatId === webchat.openChatId()) {
        document.dispatchEvent(new CustomEvent("webchat:reload-view", { detail: { chatId: chatId } }));
      }
      reload.remove();
    });
    return holder.innerHTML;
  }

  // A socket frame is the same bytes for every member's every tab, so parts of it may concern
  // what this page does not show: another chat's typing line or receipts, #messages on the
  // dashboard. htmx would log htmx:oobErrorNoTarget for each (before any event a listener could
  // cancel); what the page shows of them (the chat list, badges, title) connection.js took from
  // the frame before. Each top-level element whose target this page lacks is dropped, the target
  // found as htmx's out-of-band swap finds it: hx-swap-oob="style:selector", else the element's id.
  // In an answer to a request only the out-of-band parts are looked at: a send's answer removes
  // its "sending…" line, which the message itself may have removed already (outbox.js).
  function oobTarget(el) {
    var oob = el.getAttribute("hx-swap-oob") || "true";
    var colon = oob.indexOf(":");
    if (colon <= 0) return el.id ? document.getElementById(el.id) : null;
    try {
      return document.querySelector(oob.slice(colon + 1));
    } catch (e) {
      return el; // not a CSS selector (htmx's "closest …" and the like): htmx decides
    }
  }
  webchat.dropUntargeted = dropUntargeted; // attachments.js swaps its upload's answer itself
  function dropUntargeted(html, isFrame) {
    if (!isFrame && html.indexOf("hx-swap-oob") < 0) return html;
    var holder = document.createElement("template");
    holder.innerHTML = html;
    var dropped = false;
    Array.from(holder.content.children).forEach(function (el) {
      if ((isFrame || el.hasAttribute("hx-swap-oob")) && !oobTarget(el)) {
        el.remove();
        dropped = true;
      }
    });
    return dropped ? holder.innerHTML : html;
  }

  // Filters what arrives for #messages: socket frames, polling and sending answers. Other
  // responses (a whole chat pane, say) pass untouched, but for message changes in them.
  // It also hears every request of the page (hx-ext="webchat" is on <body>): the cursors the
  // message requests carry, and the words for a request that failed.
  htmx.defineExtension("webchat", {
    onEvent: function (name, evt) {
      if (name === "htmx:configRequest") {
        var source = evt.detail.elt;
        var from = source.getAttribute("data-after-from");
        if (!from) return; // not, say, the @ list in the composer
        evt.detail.parameters.after = webchat.afterFrom(from);
        if (source.id === "poller") evt.detail.parameters.changes = webchat.changesCursor();
      } else if (name === "htmx:sendError") {
        webchat.showFlash("Couldn't reach webchat. Check your connection; anything you typed is still there.",
                          "unreachable"); // connection.js takes it down once webchat answers again
      } else if (name === "htmx:responseError") {
        if (evt.detail.xhr.status === 404) webchat.showFlash("That chat is no longer available to you.");
        else webchat.showFlash("Something went wrong on our side. Nothing you typed was lost; try again.");
      }
    },
    transformResponse: function (text, xhr, elt) {
      text = takeReloads(webchat.applyChanges(text));
      if (elt && elt.hasAttribute("ws-connect")) return dropUntargeted(webchat.filterMessages(text), true);
      if (elt && elt.closest("[data-after-from]")) text = webchat.filterMessages(text);
      return dropUntargeted(text, false);
    },
  });

  // Keep messages in id order whatever order they arrived in; a message on its way ("pending")
  // always stays below the stored ones. So in the chat and in a thread pane's replies.
  function inTimeline(el) {
    var container = el.parentElement;
    return !!container && (container.id === "messages" || container.classList.contains("thread-replies"));
  }
  function placeInOrder(el) {
    var container = el.parentElement;
    if (!inTimeline(el)) return;
    var id = messageId(el);
    var prev = el.previousElementSibling;
    while (prev && (prev.classList.contains("pending") || (prev.classList.contains("msg") && messageId(prev) > id))) {
      prev = prev.previousElementSibling;
    }
    if (prev !== el.previousElementSibling) {
      container.insertBefore(el, prev ? prev.nextElementSibling : container.firstElementChild);
    }
  }

  webchat.scrollToBottom = function () {
    var container = document.getElementById("messages");
    if (container) container.scrollTop = container.scrollHeight;
  };

  // Times in the reader's own words and time zone: a message's as a time of day; data-show="date"
  // or "datetime" for the administration tables' (joined, last seen, the audit log).
  var TIME_FORMATS = {
    date: { dateStyle: "medium" },
    datetime: { dateStyle: "medium", timeStyle: "short" },
  };
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        var format = TIME_FORMATS[t.dataset.show];
        t.textContent = format ? d.toLocaleString([], format) : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        t.title = d.toLocaleString();
      }
    });
  }

  webchat.showFlash = function (text, kind) {
    var area = document.getElementById("flash");
    if (!area) return;
    var p = document.createElement("p");
    p.className = "flash flash--error";
    if (kind) p.dataset.kind = kind;
    p.setAttribute("role", "alert");
    p.textContent = text;
    area.replaceChildren(p);
  };

  // Version 4 UUIDs without crypto.randomUUID, which plain-http LAN hosts do not get.
  webchat.newClientId = function () {
    var b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.from(b, function (x) { return x.toString(16).padStart(2, "0"); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  };

  document.addEventListener("htmx:load", function (evt) {
    var el = evt.detail.elt;
    if (el.classList && el.classList.contains("msg") && inTimeline(el)) {
      placeInOrder(el);
      // reading.js decides whether the view follows it (history, live, one's own); threads.js, in the pane
      var name = el.parentElement.id === "messages" ? "webchat:message-shown" : "webchat:reply-shown";
      document.dispatchEvent(new CustomEvent(name, { detail: { elt: el } }));
    }
    localTimes(el);
  });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
  });
})();
