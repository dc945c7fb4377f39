// The composer's @ suggestions: one behaviour, attached by hx-ext="mentions" on a composer
// (chats/_composer.html, a thread's threads/_composer.html), listening on the form and hearing its requests.
//
// Suggestions: typing "@" and the start of a name (an "@" that starts a word, as the server's
// formatting.MENTION) fires "mention-query" on #mention-list, whose hx-get asks the server for the
// chat's members who match (the letters go in ?q=). While the list shows people, ArrowUp/Down move,
// Enter or Tab chooses (and so does not send), Escape closes; a click chooses. Choosing puts
// "@username " in place of what was typed.
//
// The "@2" badges are live.js's: it counts a live message naming me (from connection.js).
(function () {
  "use strict";
  var api;

  var TYPED = /(^|[^\w@./-])@([a-z0-9_-]{0,32})$/i; // an "@" at a word's start, up to the caret

  // The picker of a composer (the chat's, or a thread pane's): the one `from` is in, else the
  // one holding the focus.
  function picker(from) {
    var inside = from || document.activeElement;
    var form = inside && inside.closest ? inside.closest("form.composer") : null;
    var list = form && form.querySelector(".mention-list");
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
  function update(form) {
    var p = picker(form);
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

  function connect(form) {
    form.addEventListener("input", function (evt) {
      if (evt.target.name === "body") update(form);
    });
    form.addEventListener("keyup", function (evt) {
      var caretKeys = ["ArrowLeft", "ArrowRight", "Home", "End"];
      if (evt.target.name === "body" && caretKeys.indexOf(evt.key) >= 0) update(form);
    });
    form.addEventListener("focusout", function (evt) {
      var p = picker(form);
      if (p && evt.target === p.box) close(p, true);
    });

    // Captured before composer.js's Enter-to-send (which listens on the way back up): while the
    // list offers people, Enter and Tab choose one and the message is not sent.
    form.addEventListener("keydown", function (evt) {
      var p = picker(form);
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
    form.addEventListener("mousedown", function (evt) {
      if (evt.target.closest(".mention-list")) evt.preventDefault();
    });
    form.addEventListener("click", function (evt) {
      if (evt.target.name === "body") return update(form);
      var option = evt.target.closest(".mention-list .mention-option");
      var p = picker(form);
      if (option && p) choose(p, option);
    });
    form.addEventListener("mousemove", function (evt) {
      var option = evt.target.closest(".mention-list .mention-option");
      var p = picker(form);
      if (option && p && option.getAttribute("aria-selected") !== "true") select(p, option);
    });
    // A sent message closes the list (the socket path empties the box without an input event).
    form.addEventListener("submit", function () {
      var p = picker(form);
      if (p) close(p, true);
    });
  }

  htmx.defineExtension("mentions", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var elt = evt.detail.elt;
      if (name === "htmx:afterProcessNode" && elt.classList && elt.classList.contains("composer")
          && !api.getInternalData(elt).mentions) {
        api.getInternalData(elt).mentions = true;
        connect(elt);
      } else if (name === "htmx:wsConfigSend") {
        var p = picker(document.getElementById("composer"));
        if (p) close(p, true);
      } else if (!elt.classList || !elt.classList.contains("mention-list")) {
        return;
      } else if (name === "htmx:configRequest") {
        evt.detail.parameters.q = elt.dataset.wanted || "";
      } else if (name === "htmx:beforeSwap") {
        // An answer for letters no longer typed (or a list closed meanwhile) is dropped.
        var asked = new URL(evt.detail.xhr.responseURL).searchParams.get("q") || "";
        if (elt.dataset.wanted !== asked || evt.detail.isError) evt.detail.shouldSwap = false;
      } else if (name === "htmx:afterSwap") {
        var shown = picker(elt);
        if (!shown || shown.list !== elt) return;
        elt.hidden = false;
        select(shown, options(elt)[0]);
      }
    },
  });
})();
