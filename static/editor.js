// Editing a message in place, one behaviour attached by hx-ext="msg-editor" on the inline editor
// (chats/_message_editor.html): the saved version replaces the message and the editor with it (a
// change that lands while typing keeps the editor, webchat.js); Enter saves, Shift+Enter (or an
// IME composition) adds a line; Cancel or Esc closes it and shows the text again.
(function () {
  "use strict";

  var api;

  function connect(form) {
    form.addEventListener("click", function (evt) {
      if (evt.target.closest("[data-edit-cancel]")) form.remove();
    });
    form.addEventListener("keydown", function (evt) {
      if (evt.key === "Escape") {
        form.remove();
        return;
      }
      var box = evt.target;
      if (evt.key !== "Enter" || evt.shiftKey || evt.isComposing || evt.defaultPrevented || box.name !== "body") return;
      evt.preventDefault();
      if (box.value.trim()) form.requestSubmit();
    });
  }

  htmx.defineExtension("msg-editor", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var form = evt.detail.elt;
      if (!form.classList || !form.classList.contains("msg-editor")) return;
      // While saving, a change that lands replaces the message without keeping this editor.
      if (name === "htmx:beforeRequest") form.classList.add("msg-editor--saving");
      else if (name === "htmx:afterRequest") form.classList.remove("msg-editor--saving");
      // A refused save's editor is connected as it is swapped in (htmx processes it when it
      // settles, which templating.htmx_config makes immediate), so an Esc at once closes it.
      else if ((name === "htmx:afterSwap" || name === "htmx:afterProcessNode") && !api.getInternalData(form).msgEditor) {
        api.getInternalData(form).msgEditor = true;
        connect(form);
      }
    },
  });
})();
