// Mentions on the page: the composer's @ suggestions, and the "@2" badge of each chat.
//
// Suggestions: typing "@" and the start of a name (an "@" that starts a word, as the server's
// formatting.MENTION) fires "mention-query" on #mention-list, whose hx-get asks the server for the
// chat's members who match (the letters go in ?q=). While the list shows people, ArrowUp/Down move,
// Enter or Tab chooses (and so does not send), Escape closes; a click chooses. Choosing puts
// "@username " in place of what was typed.
//
// Badge: a message that arrives over the socket naming me, in a chat not in view, adds one to the
// chat's @ badge (connection.js counts it as unread and fires "webchat:incoming" once per message);
// live.js shows the server's count (load, polling, catch-up, reads) plus the ones counted live since.
(function () {
  "use strict";
  var webchat = (window.webchat = window.webchat || {});

  var TYPED = /(^|[^\w@./-])@([a-z0-9_-]{0,32})$/i; // an "@" at a word's start, up to the caret

  function picker() {
    var form = document.getElementById("composer");
    var list = form && form.querySelector("#mention-list");
    var box = form && form.querySelector("textarea[name=body]");
    return list && box ? { list: list, box: box } : null;
  }

  // What is being typed after an "@" at the caret: {q, start} (start: the "@"), or null.
  function typedMention(box) {
    if (box.selectionStart !== box.selectionEnd) return null;
    var match = TYPED.exec(box.value.slice(0, box.selectionStart));
    return match ? { q: match[2], start: box.selectionStart - match[2].length - 1 } : null;
  }

  function options(list) {
    return Array.from(list.querySelectorAll(".mention-option"));
  }

  // True while the list offers people: then the keys belong to it, not to the composer.
  function choosing(p) {
    return !p.list.hidden && options(p.list).length > 0;
  }

  function close(p, forget) {
    p.list.hidden = true;
    p.list.replaceChildren();
    p.box.removeAttribute("aria-activedescendant");
    // Kept after Escape: the same letters do not open the list again until they change.
    if (forget) delete p.list.dataset.wanted;
    htmx.trigger(p.list, "htmx:abort");
  }

  function select(p, option) {
    options(p.list).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) {
      p.box.setAttribute("aria-activedescendant", option.id);
      option.scrollIntoView({ block: "nearest" });
    }
  }

  function selected(p) {
    return p.list.querySelector('.mention-option[aria-selected="true"]') || options(p.list)[0];
  }

  function move(p, step) {
    var all = options(p.list);
    var at = all.indexOf(selected(p));
    select(p, all[(at + step + all.length) % all.length]);
  }

  function choose(p, option) {
    var typed = typedMention(p.box);
    if (!option || !typed) return close(p, true);
    var rest = p.box.value.slice(p.box.selectionStart);
    var insert = "@" + option.dataset.username + (/^\s/.test(rest) ? "" : " ");
    p.box.value = p.box.value.slice(0, typed.start) + insert + rest;
    var caret = typed.start + insert.length + (/^\s/.test(rest) ? 1 : 0);
    p.box.setSelectionRange(caret, caret);
    close(p, true);
    p.box.focus();
    p.box.dispatchEvent(new Event("input", { bubbles: true })); // as if typed: drafts, typing signal
  }

  // Ask again only when the letters after the "@" changed ("input changed" in htmx's words).
  function update() {
    var p = picker();
    if (!p || document.activeElement !== p.box) return;
    var typed = typedMention(p.box);
    if (!typed) {
      if (!p.list.hidden || p.list.dataset.wanted !== undefined) close(p, true);
      return;
    }
    if (typed.q === p.list.dataset.wanted) return;
    p.list.dataset.wanted = typed.q;
    htmx.trigger(p.list, "mention-query");
  }

  document.addEventListener("input", function (evt) {
    if (evt.target.name === "body" && evt.target.closest("#composer")) update();
  });
  document.addEventListener("click", function (evt) {
    if (evt.target.name === "body" && evt.target.closest("#composer")) update();
  });
  document.addEventListener("keyup", function (evt) {
    var caretKeys = ["ArrowLeft", "ArrowRight", "Home", "End"];
    if (evt.target.name === "body" && caretKeys.indexOf(evt.key) >= 0) update();
  });
  document.addEventListener("focusout", function (evt) {
    var p = picker();
    if (p && evt.target === p.box) close(p, true);
  });

  // Captured before webchat.js's Enter-to-send (which listens on the way back up): while the
  // list offers people, Enter and Tab choose one and the message is not sent.
  document.addEventListener("keydown", function (evt) {
    var p = picker();
    if (!p || evt.target !== p.box || evt.isComposing || p.list.hidden) return;
    if (evt.key === "Escape") {
      close(p, false);
    } else if (!choosing(p)) {
      return;
    } else if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
      move(p, evt.key === "ArrowDown" ? 1 : -1);
    } else if ((evt.key === "Enter" && !evt.shiftKey) || (evt.key === "Tab" && !evt.shiftKey)) {
      choose(p, selected(p));
    } else {
      return;
    }
    evt.preventDefault();
    evt.stopPropagation();
  }, true);

  // Keep the focus in the composer while a click picks someone.
  document.addEventListener("mousedown", function (evt) {
    if (evt.target.closest("#mention-list")) evt.preventDefault();
  });
  document.addEventListener("click", function (evt) {
    var option = evt.target.closest("#mention-list .mention-option");
    var p = picker();
    if (option && p) choose(p, option);
  });
  document.addEventListener("mousemove", function (evt) {
    var option = evt.target.closest("#mention-list .mention-option");
    var p = picker();
    if (option && p && option.getAttribute("aria-selected") !== "true") select(p, option);
  });

  document.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt.id !== "mention-list") return;
    evt.detail.parameters.q = evt.detail.elt.dataset.wanted || "";
    delete evt.detail.parameters.after; // webchat.js adds the message cursor inside the composer
  });

  // An answer for letters no longer typed (or a list closed meanwhile) is dropped.
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var list = evt.detail.elt;
    if (list.id !== "mention-list") return;
    var asked = new URL(evt.detail.xhr.responseURL).searchParams.get("q") || "";
    if (list.dataset.wanted !== asked || evt.detail.isError) evt.detail.shouldSwap = false;
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    var list = evt.detail.elt;
    if (list.id !== "mention-list") return;
    var p = picker();
    if (!p || p.list !== list) return;
    list.hidden = false;
    select(p, options(list)[0]);
  });

  // A sent message closes the list (the socket path empties the box without an input event).
  document.addEventListener("submit", function (evt) {
    var p = picker();
    if (p && evt.target.id === "composer") close(p, true);
  });
  document.addEventListener("htmx:wsConfigSend", function () {
    var p = picker();
    if (p) close(p, true);
  });

  // ----- the @ badge -------------------------------------------------------------------------
  function mentionsMe(msg) {
    var me = document.body.dataset.user;
    return !!me && (msg.dataset.mentions || "").split(" ").indexOf(me) >= 0;
  }

  document.addEventListener("webchat:incoming", function (evt) {
    if (!mentionsMe(evt.detail.msg)) return;
    webchat.countLive("mentions-", evt.detail.chatId, parseInt(evt.detail.msg.dataset.id, 10));
    document.dispatchEvent(new CustomEvent("webchat:unread-changed"));
  });
})();
