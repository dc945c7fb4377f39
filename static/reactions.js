// React menus, one behaviour attached by hx-ext="reactions" on #messages (chats/_chat_pane.html)
// and a thread pane's messages (threads/_thread_pane.html):
// a reaction stored closes its React menu; a refused one keeps it open, with what was typed.
// (An open menu also survives someone else's reaction replacing its message: webchat.js.)
(function () {
  "use strict";

  htmx.defineExtension("reactions", {
    onEvent: function (name, evt) {
      if (name !== "htmx:afterRequest") return;
      var form = evt.detail.elt;
      var picker = form.tagName === "FORM" && form.closest(".reaction-picker");
      if (picker && evt.detail.xhr && evt.detail.xhr.status < 300) picker.open = false;
    },
  });
})();
