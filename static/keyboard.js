// The keyboard and screen-reader paths through a chat; the pages work without it (plain links).
// - A chat that opens puts the focus in its composer; a permalink (data-focus) focuses its message.
// - The message list is one tab stop (a roving tabindex): the active message, newest by default;
//   ↑/↓/Home/End move between messages, Enter opens a message's actions as a menu (arrow keys
//   move, Esc closes), Esc goes back to the composer. The controls of the other messages leave
//   the tab order, so Tab from the top to the composer does not pass every message.
// - Up-arrow in an empty composer edits one's last message (the one whose Edit base.html's rule
//   shows); when an editor or a menu closes, or a message is replaced under the focus (saved,
//   deleted, a reaction), the focus goes back where it was.
// - Alt+↑/↓ opens the previous/next chat of the list.
// - New messages from others, arriving live, are announced in #announce (app.html) by their
//   data-preview ("Bob: text", templating.message_preview), never the whole history.
// - The top bar's search runs as one types (_topbar.html): nothing is asked for an empty box, and
//   typing on the results page replaces its history entry instead of adding one per letter.
(function () {
  "use strict";

  var webchat = (window.webchat = window.webchat || {});
  var CONTROLS = "a[href], button, input, select, textarea, summary, [tabindex]";
  var active = null; // id of the message holding the list's tab stop
  var lastFocus = null; // the element last focused, and its message's id
  var lastFocusMsg = null;
  var returnTo = null; // {msg: id, elt}: an edit begun from the composer goes back to it
  var watched = null;
  var observer = null;

  function messagesBox() { return document.getElementById("messages"); }

  function messages(box) {
    return Array.from(box.querySelectorAll(":scope > .msg:not([hidden])"));
  }

  function messageOf(el) {
    var msg = el && el.closest && el.closest(".msg");
    return msg && msg.parentElement && msg.parentElement.id === "messages" ? msg : null;
  }

  function shown(el) { return el.getClientRects().length > 0; }

  // ----- the roving tab stop -------------------------------------------------------------
  // Only the active message and its own controls (links in its text, reactions, actions) are in
  // the tab order; an open editor always is.
  var takenOut = new WeakSet(); // the controls this file took out of the tab order
  function setStop(msg, on) {
    msg.tabIndex = on ? 0 : -1;
    msg.querySelectorAll(CONTROLS).forEach(function (el) {
      if (el.closest(".msg-editor")) return;
      if (on && takenOut.has(el)) {
        el.removeAttribute("tabindex");
        takenOut.delete(el);
      } else if (!on && !takenOut.has(el) && el.getAttribute("tabindex") !== "-1") {
        el.setAttribute("tabindex", "-1");
        takenOut.add(el);
      }
    });
  }

  function makeActive(msg) {
    var old = active && document.getElementById(active);
    if (old && old !== msg) setStop(old, false);
    setStop(msg, true);
    active = msg.id;
  }

  // Where the stop rests: the message being used, else the newest (Shift+Tab from the composer).
  function settle(box, touched) {
    var list = messages(box);
    if (!list.length) return;
    var current = active && document.getElementById(active);
    var using = box.contains(document.activeElement) && document.activeElement !== box;
    if (!current || !box.contains(current) || current.hidden || !using) current = list[list.length - 1];
    (touched || list).forEach(function (msg) { if (msg !== current) setStop(msg, false); });
    makeActive(current);
  }

  // A message replaced or an editor closed under the focus: the focus goes back where it was.
  function recoverFocus() {
    if (!lastFocus || lastFocus.isConnected) return;
    if (document.activeElement && document.activeElement !== document.body) return;
    var target = null;
    if (returnTo && returnTo.msg === lastFocusMsg && returnTo.elt.isConnected) target = returnTo.elt;
    else if (lastFocusMsg) target = document.getElementById(lastFocusMsg);
    returnTo = null;
    if (!target) return;
    if (target.classList.contains("msg")) makeActive(target); // fresh from the server: no tabindex yet
    target.focus({ preventScroll: true });
  }

  function watch(box) {
    if (box === watched) return;
    if (observer) observer.disconnect();
    watched = box;
    active = null;
    settle(box);
    observer = new MutationObserver(function (records) {
      var touched = new Set();
      records.forEach(function (r) {
        var msg = r.target === box ? null : messageOf(r.target);
        if (msg) touched.add(msg);
        r.addedNodes.forEach(function (n) {
          if (n.nodeType === 1 && n.parentElement === box && n.classList.contains("msg")) touched.add(n);
        });
      });
      recoverFocus();
      settle(box, Array.from(touched));
    });
    observer.observe(box, { childList: true, subtree: true });
  }

  function moveTo(msg) {
    if (!msg) return;
    makeActive(msg);
    msg.focus();
  }

  // ----- a message's actions as a menu ---------------------------------------------------
  function menuItems(actions) {
    return Array.from(actions.querySelectorAll(":scope > a.msg-action, :scope > .msg-action > summary")).filter(shown);
  }

  function openMenu(msg) {
    var actions = msg.querySelector(":scope > .msg-actions");
    var items = actions ? menuItems(actions) : [];
    if (!items.length) return; // an event, a deleted message, one being edited
    actions.classList.add("msg-actions--open");
    actions.setAttribute("role", "menu");
    actions.setAttribute("aria-label", "Message actions");
    items.forEach(function (item) { item.setAttribute("role", "menuitem"); });
    items[0].focus();
  }

  function closeMenu(actions, refocus) {
    if (!actions.classList.contains("msg-actions--open")) return;
    actions.classList.remove("msg-actions--open");
    actions.removeAttribute("role");
    actions.removeAttribute("aria-label");
    actions.querySelectorAll("[role=menuitem]").forEach(function (item) { item.removeAttribute("role"); });
    if (refocus) actions.parentElement.focus();
  }

  function menuKey(evt, actions) {
    var items = menuItems(actions);
    var at = items.indexOf(evt.target);
    var to = null;
    if (evt.key === "ArrowRight" || evt.key === "ArrowDown") to = items[(at + 1) % items.length];
    else if (evt.key === "ArrowLeft" || evt.key === "ArrowUp") to = items[(at - 1 + items.length) % items.length];
    else if (evt.key === "Home") to = items[0];
    else if (evt.key === "End") to = items[items.length - 1];
    else if (evt.key === "Escape") closeMenu(actions, true);
    else if (evt.key === "Tab") return closeMenu(actions, false);
    else return;
    evt.preventDefault();
    if (to) to.focus();
  }

  // ----- keys ----------------------------------------------------------------------------
  function focusComposer() {
    var text = document.getElementById("composer-text");
    if (text) text.focus();
    return !!text;
  }

  // Up-arrow in an empty composer: the last message whose Edit shows (base.html's rule says whose).
  function editLast(evt, box) {
    var open = box.querySelector(".msg-editor textarea");
    var mine = messages(box).filter(function (msg) {
      var edit = msg.querySelector(":scope > .msg-actions > .msg-action--edit");
      return edit && shown(edit);
    });
    var msg = mine[mine.length - 1];
    if (!msg && !open) return;
    evt.preventDefault();
    if (open) return open.focus();
    returnTo = { msg: msg.id, elt: evt.target };
    makeActive(msg);
    msg.querySelector(".msg-action--edit").click();
  }

  function nextChat(down) {
    var links = Array.from(document.querySelectorAll("#chat-list a[data-chat-id]"));
    var pane = document.getElementById("chat-pane");
    var open = pane && pane.dataset.chatId;
    var at = links.findIndex(function (a) { return open && a.dataset.chatId === open; });
    var to = at < 0 ? links[down ? 0 : links.length - 1] : links[at + (down ? 1 : -1)];
    if (to) to.click();
    return !!to;
  }

  document.addEventListener("keydown", function (evt) {
    if (evt.defaultPrevented || evt.isComposing) return;
    var target = evt.target;
    var plain = !evt.altKey && !evt.ctrlKey && !evt.metaKey && !evt.shiftKey;
    if (evt.altKey && !evt.ctrlKey && !evt.metaKey && !evt.shiftKey
        && (evt.key === "ArrowUp" || evt.key === "ArrowDown")) {
      if (nextChat(evt.key === "ArrowDown")) evt.preventDefault();
      return;
    }
    var menu = target.closest && target.closest(".msg-actions--open");
    if (menu) return menuKey(evt, menu);
    var picker = target.closest && target.closest(".reaction-picker[open]");
    if (picker && evt.key === "Escape") {
      picker.open = false;
      picker.querySelector("summary").focus();
      return evt.preventDefault();
    }
    var box = messagesBox();
    if (!box || !plain) return;
    if (target.id === "composer-text" && evt.key === "ArrowUp" && target.value === "") return editLast(evt, box);
    var msg = messageOf(target);
    if (msg && msg !== target && evt.key === "Escape" && !target.closest(".msg-editor")) {
      msg.focus(); // from a link or button inside a message, Esc goes back to the message
      return evt.preventDefault();
    }
    if (!msg || msg !== target) return;
    var list = messages(box);
    var at = list.indexOf(target);
    if (evt.key === "ArrowDown") moveTo(list[at + 1]);
    else if (evt.key === "ArrowUp") moveTo(list[at - 1]);
    else if (evt.key === "Home") moveTo(list[0]);
    else if (evt.key === "End") moveTo(list[list.length - 1]);
    else if (evt.key === "Enter") openMenu(target);
    else if (evt.key === "Escape") focusComposer();
    else return;
    evt.preventDefault();
  });

  document.addEventListener("focusin", function (evt) {
    lastFocus = evt.target;
    var msg = messageOf(evt.target);
    lastFocusMsg = msg ? msg.id : null;
    if (msg && msg.id !== active) makeActive(msg);
  });
  // A menu closes when the focus leaves it (a click elsewhere, Tab); an item chosen closes it too.
  document.addEventListener("focusout", function (evt) {
    var menu = evt.target.closest && evt.target.closest(".msg-actions--open");
    if (menu && !menu.contains(evt.relatedTarget)) closeMenu(menu, false);
  });

  document.addEventListener("click", function (evt) {
    var skip = evt.target.closest && evt.target.closest(".skip-link--composer, .skip-link--messages");
    if (skip) {
      // Straight into the composer, or onto the list's active message (else the list itself).
      var msg = active && messagesBox() && document.getElementById(active);
      if (skip.classList.contains("skip-link--composer")) {
        if (focusComposer()) evt.preventDefault();
      } else if (msg) {
        msg.focus();
        evt.preventDefault();
      }
      return;
    }
    var copy = evt.target.closest && evt.target.closest(".msg-action--link");
    if (copy && navigator.clipboard && window.isSecureContext) {
      evt.preventDefault();
      navigator.clipboard.writeText(copy.href).then(function () {
        var words = copy.dataset.words || (copy.dataset.words = copy.textContent);
        say("Link copied.");
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = words; }, 1500);
      }, function () {
        location.href = copy.href; // no clipboard allowed: the message's page, its address to copy
      });
    }
    var menu = evt.target.closest && evt.target.closest(".msg-actions--open");
    if (menu && evt.target.closest("[role=menuitem]")) closeMenu(menu, false);
  });

  // ----- a chat opens: the focus lands in its composer -----------------------------------
  // Not on touch screens, where it would raise the keyboard over the chat; not while the person
  // types elsewhere (the search box) when a pane is swapped in.
  function landFocus() {
    var pane = document.getElementById("chat-pane");
    var box = messagesBox();
    if (box) watch(box);
    if (!pane || !box) return;
    var focused = document.activeElement;
    if (focused && focused !== document.body && focused.matches("input, textarea, select")
        && !pane.contains(focused)) return;
    var target = pane.dataset.focus && document.getElementById(pane.dataset.focus);
    if (target) {
      makeActive(target);
      target.focus({ preventScroll: true });
    } else if (!window.matchMedia("(pointer: coarse)").matches) {
      var text = document.getElementById("composer-text");
      if (text) text.focus({ preventScroll: true });
    }
  }

  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "chat-pane") landFocus();
  });
  document.addEventListener("DOMContentLoaded", landFocus);

  // ----- announcements -------------------------------------------------------------------
  var heard = [];
  var announceTimer = null;
  function say(text) {
    var region = document.getElementById("announce");
    if (!region) return;
    var line = document.createElement("p");
    line.textContent = text;
    region.replaceChildren(line);
  }
  // A burst (a catch-up after a reconnect) is one announcement, not one per message.
  function announceHeard() {
    var lines = heard.splice(0);
    say(lines.length <= 3 ? lines.join(" · ") : lines[lines.length - 1] + " · and " + (lines.length - 1) + " more new messages");
  }
  document.addEventListener("webchat:message-shown", function (evt) {
    var msg = evt.detail.elt;
    if (!msg.classList.contains("msg--user") || !msg.dataset.author || msg.dataset.author === document.body.dataset.user) return;
    if (parseInt(msg.dataset.id, 10) < webchat.newestShownId()) return; // older history, loaded
    var holder = document.createElement("template");
    holder.innerHTML = msg.dataset.preview || "";
    heard.push(holder.content.textContent);
    clearTimeout(announceTimer);
    announceTimer = setTimeout(announceHeard, 300);
  });

  // ----- search as one types -------------------------------------------------------------
  document.addEventListener("htmx:confirm", function (evt) {
    var form = evt.detail.elt;
    var typed = evt.detail.triggeringEvent;
    if (!form.classList || !form.classList.contains("topbar-search") || !typed || typed.type !== "input") return;
    if (!form.elements.q.value.trim()) return evt.preventDefault();
    var pane = document.getElementById("chat-pane");
    typed.webchatReplace = !!pane && pane.classList.contains("search");
  });
  document.addEventListener("htmx:beforeHistoryUpdate", function (evt) {
    var config = evt.detail.requestConfig;
    if (config && config.triggeringEvent && config.triggeringEvent.webchatReplace) evt.detail.history.type = "replace";
  });
})();
