// The people picker's suggestions, one behaviour attached by hx-ext="people" on its form
// (chats/_people_pane.html). Typing in "To" asks the server for people whose name starts with the
// name being typed (the text after the last comma): "people-query" on the field, whose hx-get
// fills #people-options (_people_options.html). While the list shows people, ↑/↓ move, Enter or
// Tab chooses, Esc closes; a click chooses. Choosing puts "username, " in place of what was typed;
// Enter with the list closed starts the conversation. Without JavaScript the page's "Find people"
// form lists them instead.
(function () {
  "use strict";
  var api;

  function parts(form) {
    var box = form.querySelector("#people-to");
    var list = form.querySelector("#people-options");
    return box && list ? { box: box, list: list } : null;
  }

  // The name being typed: what follows the last comma (or space after a chosen name), less an "@".
  function typed(box) {
    var match = /(?:^|[,\s])@?([^,\s]*)$/.exec(box.value.slice(0, box.selectionStart));
    return match ? match[1] : "";
  }

  function options(list) { return Array.from(list.querySelectorAll(".people-option")); }

  function close(p) {
    p.list.hidden = true;
    p.list.replaceChildren();
    delete p.list.dataset.wanted;
    p.box.setAttribute("aria-expanded", "false");
    p.box.removeAttribute("aria-activedescendant");
    htmx.trigger(p.box, "htmx:abort");
  }

  function select(p, option) {
    options(p.list).forEach(function (o) { o.setAttribute("aria-selected", o === option ? "true" : "false"); });
    if (option) p.box.setAttribute("aria-activedescendant", option.id);
  }

  function selected(p) {
    return p.list.querySelector('.people-option[aria-selected="true"]') || options(p.list)[0];
  }

  function choose(p, option) {
    var name = typed(p.box);
    var before = p.box.value.slice(0, p.box.selectionStart - name.length).replace(/@$/, "");
    var after = p.box.value.slice(p.box.selectionStart).replace(/^[^,]*,?\s*/, "");
    var insert = option.dataset.username + ", ";
    p.box.value = before + insert + after;
    var caret = before.length + insert.length;
    p.box.setSelectionRange(caret, caret);
    close(p);
    p.box.focus();
  }

  function update(p) {
    var name = typed(p.box);
    if (!name) return close(p);
    if (name === p.list.dataset.wanted) return;
    p.list.dataset.wanted = name;
    htmx.trigger(p.box, "people-query");
  }

  function connect(form) {
    var p = parts(form);
    if (!p) return;
    p.box.addEventListener("input", function () { update(p); });
    p.box.addEventListener("blur", function () { close(p); });
    p.box.addEventListener("keydown", function (evt) {
      if (evt.isComposing || p.list.hidden) return;
      var all = options(p.list);
      if (evt.key === "Escape") close(p);
      else if (!all.length) return;
      else if (evt.key === "ArrowDown" || evt.key === "ArrowUp") {
        var at = all.indexOf(selected(p)) + (evt.key === "ArrowDown" ? 1 : -1);
        select(p, all[(at + all.length) % all.length]);
      } else if ((evt.key === "Enter" || evt.key === "Tab") && !evt.shiftKey) choose(p, selected(p));
      else return;
      evt.preventDefault();
    });
    // Keep the focus in "To" while a click picks someone.
    p.list.addEventListener("mousedown", function (evt) { evt.preventDefault(); });
    p.list.addEventListener("click", function (evt) {
      var option = evt.target.closest(".people-option");
      if (option) choose(p, option);
    });
    // With suggestions as one types, the page's own "Find people" form is not needed.
    var find = form.parentElement.querySelector(".people-find");
    if (find) find.hidden = true;
  }

  htmx.defineExtension("people", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var elt = evt.detail.elt;
      if (name === "htmx:afterProcessNode" && elt.id === "people-form" && !api.getInternalData(elt).people) {
        api.getInternalData(elt).people = true;
        connect(elt);
        return;
      }
      // The field asks; the list is swapped (htmx names either as the event's element).
      if (elt.id === "people-options") elt = elt.parentElement.querySelector("#people-to");
      if (!elt || elt.id !== "people-to") {
        return;
      } else if (name === "htmx:configRequest") {
        delete evt.detail.parameters.people; // the field's own value: only the name being typed goes
        evt.detail.parameters.q = elt.parentElement.querySelector("#people-options").dataset.wanted || "";
      } else if (name === "htmx:beforeSwap") {
        // An answer for a name no longer typed (or a list closed meanwhile) is dropped.
        var asked = new URL(evt.detail.xhr.responseURL).searchParams.get("q") || "";
        var list = elt.parentElement.querySelector("#people-options");
        if (list.dataset.wanted !== asked || evt.detail.isError) evt.detail.shouldSwap = false;
      } else if (name === "htmx:afterSwap") {
        var shown = parts(elt.form);
        shown.list.hidden = false;
        shown.box.setAttribute("aria-expanded", "true");
        select(shown, options(shown.list)[0]);
      }
    },
  });
})();
