// A message's own address (/chats/<id>/messages/<mid>, where search results lead) opens its chat
// with the pane saying data-focus="m-<mid>": scroll that message into view and mark it. reading.js,
// which places the view of every other chat opened, leaves such a pane to this.
// Search results show the date with the time: webchat.js writes only the time into <time>.
(function () {
  "use strict";

  function focusMessage() {
    var pane = document.getElementById("chat-pane");
    var target = pane && pane.dataset.focus && document.getElementById(pane.dataset.focus);
    if (!target) return;
    document.querySelectorAll(".msg--highlight").forEach(function (el) { el.classList.remove("msg--highlight"); });
    target.classList.add("msg--highlight");
    target.scrollIntoView({ block: "center" });
  }

  function resultDates(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll(".search-hit time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
    });
  }

  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "chat-pane") focusMessage();
  });
  document.addEventListener("htmx:load", function (evt) {
    resultDates(evt.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    focusMessage();
    resultDates(document);
  });
})();
