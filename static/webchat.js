// webchat's own behaviour on top of htmx: message ordering and de-duplication, the "newest id
// shown" cursor for polling and sending, Enter-to-send, scrolling and local times.
// Plain script, no build step; loaded after htmx with `defer`.
(function () {
  "use strict";

  function messageId(el) {
    return parseInt(el.dataset.id, 10) || 0;
  }

  // The newest message id the container shows: the cursor for "everything after N".
  function newestShownId(container) {
    var newest = 0;
    container.querySelectorAll(":scope > .msg").forEach(function (el) {
      newest = Math.max(newest, messageId(el));
    });
    return newest;
  }

  // Polling, sending and (later) the socket may overlap: a message already on the page is
  // dropped from any response before htmx swaps it in.
  function dropDuplicates(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var dropped = false;
    template.content.querySelectorAll(".msg[id]").forEach(function (el) {
      if (document.getElementById(el.id)) { el.remove(); dropped = true; }
    });
    return dropped ? template.innerHTML : html;
  }

  // Keep messages in id order whatever order they arrived in.
  function placeInOrder(el) {
    var container = el.parentElement;
    if (!container || container.id !== "messages") return;
    var id = messageId(el);
    var prev = el.previousElementSibling;
    while (prev && prev.classList.contains("msg") && messageId(prev) > id) prev = prev.previousElementSibling;
    if (prev !== el.previousElementSibling) {
      container.insertBefore(el, prev ? prev.nextElementSibling : container.firstElementChild);
    }
  }

  function nearBottom(container) {
    return container.scrollHeight - container.scrollTop - container.clientHeight < 80;
  }

  function scrollToBottom() {
    var container = document.getElementById("messages");
    if (container) container.scrollTop = container.scrollHeight;
  }

  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) {
        t.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        t.title = d.toLocaleString();
      }
    });
  }

  function markActiveChat() {
    document.querySelectorAll("#chat-list a[data-chat-id]").forEach(function (a) {
      if (a.getAttribute("href") === location.pathname) a.setAttribute("aria-current", "page");
      else a.removeAttribute("aria-current");
    });
  }

  function showFlash(text) {
    var area = document.getElementById("flash");
    if (!area) return;
    var p = document.createElement("p");
    p.className = "flash flash--error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    area.replaceChildren(p);
  }

  document.addEventListener("htmx:configRequest", function (evt) {
    var source = evt.detail.elt.closest("[data-after-from]");
    if (!source) return;
    var container = document.querySelector(source.dataset.afterFrom);
    if (container) evt.detail.parameters.after = newestShownId(container);
  });

  var stickToBottom = false;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var target = evt.detail.target;
    if (!target || target.id !== "messages" || !evt.detail.shouldSwap) return;
    stickToBottom = nearBottom(target) || evt.detail.requestConfig.elt.id === "composer";
    evt.detail.serverResponse = dropDuplicates(evt.detail.serverResponse);
  });

  document.addEventListener("htmx:afterSettle", function (evt) {
    if (evt.detail.target && evt.detail.target.id === "messages" && stickToBottom) scrollToBottom();
    if (evt.detail.target && evt.detail.target.id === "chat-pane") scrollToBottom();
    markActiveChat();
  });

  document.addEventListener("htmx:load", function (evt) {
    var el = evt.detail.elt;
    if (el.classList && el.classList.contains("msg")) placeInOrder(el);
    localTimes(el);
  });

  document.addEventListener("htmx:sendError", function () {
    showFlash("Couldn't reach webchat. Check your connection; anything you typed is still there.");
  });
  document.addEventListener("htmx:responseError", function (evt) {
    if (evt.detail.xhr.status === 404) showFlash("That chat is no longer available to you.");
    else showFlash("Something went wrong on our side. Nothing you typed was lost; try again.");
  });

  // Enter sends, Shift+Enter (or an IME composition) adds a line.
  document.addEventListener("keydown", function (evt) {
    var box = evt.target;
    if (evt.key !== "Enter" || evt.shiftKey || evt.isComposing || box.name !== "body") return;
    var form = box.closest("#composer");
    if (!form) return;
    evt.preventDefault();
    if (box.value.trim()) form.requestSubmit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    markActiveChat();
    if (!location.hash) scrollToBottom();
  });
})();
