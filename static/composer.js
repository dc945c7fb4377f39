// Enter sends, Shift+Enter (or an IME composition) adds a line: one behaviour, attached by
// hx-ext="composer" on a composer form (chats/_composer.html, threads/_composer.html), after attachments and mentions,
// whose own keydown listeners (files alone go too; Enter chooses a name) come first.
(function () {
  "use strict";

  var api;

  function connect(form) {
    form.addEventListener("keydown", function (evt) {
      var box = evt.target;
      // defaultPrevented: someone else took the key (mentions.js chooses a name with it).
      if (evt.key !== "Enter" || evt.shiftKey || evt.isComposing || evt.defaultPrevented || box.name !== "body") return;
      evt.preventDefault();
      if (box.value.trim()) form.requestSubmit();
    });
  }

  htmx.defineExtension("composer", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var form = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || !form.classList || !form.classList.contains("composer")
          || api.getInternalData(form).composer) return; // the chat's and a thread's
      api.getInternalData(form).composer = true;
      connect(form);
    },
  });
})();
