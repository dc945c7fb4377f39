// How a chat's messages read for this reader: a run of messages by one author, each within five
// minutes of the one before, shares the first one's header (the later ones show their time on
// hover or focus: .msg--cont), and a line names each day ("Today", "Yesterday", "Monday, 30
// November") in the reader's own time zone and language. Both depend on the neighbouring
// messages and on the reader, so the page works them out here; a message's HTML is the same for
// everyone (_message.html), and without JavaScript each message keeps its own header.
// Each #messages is watched for whatever adds, replaces or removes a message (the page, live
// frames, history, catch-up, polling, edits) and arranged again: arranging is idempotent, so
// the changes it makes itself, heard again, change nothing. Says "webchat:timeline" on document
// after each arrangement (live.js places the receipt under the reader's latest message).
(function () {
  "use strict";

  var RUN_MS = 5 * 60 * 1000;
  var watched = new WeakSet();
  var relative = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  var thisYear = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long" });
  var otherYear = new Intl.DateTimeFormat(undefined, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

  function sentAt(msg) {
    var time = msg.querySelector("time[datetime]");
    var at = time ? new Date(time.getAttribute("datetime")) : null;
    return at && !isNaN(at) ? at : null;
  }

  function dayKey(date) {
    return date.getFullYear() + "-" + (date.getMonth() + 1) + "-" + date.getDate();
  }

  // Whole days between two local dates, by their calendar days (a day with a clock change is
  // 23 or 25 hours long).
  function daysBetween(earlier, later) {
    var a = Date.UTC(earlier.getFullYear(), earlier.getMonth(), earlier.getDate());
    var b = Date.UTC(later.getFullYear(), later.getMonth(), later.getDate());
    return Math.round((b - a) / 86400000);
  }

  function dayWords(date, now) {
    var ago = daysBetween(date, now);
    if (ago === 0 || ago === 1) {
      var words = relative.format(-ago, "day"); // "today", "yesterday" in the reader's language
      return words.charAt(0).toLocaleUpperCase() + words.slice(1);
    }
    return (date.getFullYear() === now.getFullYear() ? thisYear : otherYear).format(date);
  }

  // Shown to this reader: not a hidden placeholder, nor a system event their settings hide.
  function shown(msg) {
    if (msg.hidden) return false;
    return !msg.classList.contains("msg--system") || getComputedStyle(msg).display !== "none";
  }

  // The day's line goes right before its first message, or before the "New messages" line
  // right above it.
  function placeDayLine(msg, key, words, kept) {
    var anchor = msg;
    var before = anchor.previousElementSibling;
    if (before && before.id === "new-divider") {
      anchor = before;
      before = anchor.previousElementSibling;
    }
    var line = before && before.classList.contains("day-divider") && before.dataset.day === key ? before : null;
    if (!line) {
      line = document.createElement("div");
      line.className = "day-divider";
      line.setAttribute("role", "separator");
      line.dataset.day = key;
      anchor.parentNode.insertBefore(line, anchor);
    }
    if (line.textContent !== words) {
      line.textContent = words;
      line.setAttribute("aria-label", words);
    }
    kept.add(line);
  }

  function arrange(container) {
    var now = new Date();
    var kept = new Set();
    var day = null;
    var run = null; // the last message shown that a next one by its author may join: {author, at}
    Array.from(container.children).forEach(function (el) {
      if (el.classList.contains("day-divider")) return;
      if (!el.classList.contains("msg")) {
        if (el.id === "new-divider") run = null; // what is new starts with a header
        return;
      }
      var at = shown(el) && sentAt(el);
      if (!at) return;
      var key = dayKey(at);
      if (key !== day) {
        placeDayLine(el, key, dayWords(at, now), kept);
        day = key;
        run = null;
      }
      var author = el.classList.contains("msg--user") ? el.dataset.author : null;
      var joins = !!(run && author && run.author === author && at - run.at < RUN_MS && at >= run.at);
      if (el.classList.contains("msg--cont") !== joins) el.classList.toggle("msg--cont", joins);
      run = author ? { author: author, at: at } : null;
    });
    container.querySelectorAll(":scope > .day-divider").forEach(function (line) {
      if (!kept.has(line)) line.remove();
    });
    document.dispatchEvent(new CustomEvent("webchat:timeline", { detail: { container: container } }));
  }

  function watch(container) {
    if (watched.has(container)) return;
    watched.add(container);
    new MutationObserver(function () { arrange(container); }).observe(container, { childList: true });
    arrange(container);
  }

  function watchWithin(root) {
    if (root.id === "messages") watch(root);
    else if (root.querySelector) root.querySelectorAll("#messages").forEach(watch);
  }

  function arrangeShown() {
    var container = document.getElementById("messages");
    if (container && watched.has(container)) arrange(container);
  }

  // "Today" becomes "Yesterday" at the reader's midnight, whether the page is looked at or not
  // (a tab in the background or a laptop asleep runs its timers late: looked at again, it is
  // arranged again).
  function atMidnight() {
    var now = new Date();
    var next = new Date(now.getFullYear(), now.getMonth(), now.getDate() + 1, 0, 0, 1);
    setTimeout(function () {
      arrangeShown();
      atMidnight();
    }, next - now);
  }

  // Messages htmx adds are arranged at once, before anything else hears of them (this listener
  // captures): what keeps the view at the bottom, or the reader's place, measures them arranged.
  // Once for all the messages of one swap; the observer arranges again after anything moved.
  var arrangedNow = new Set();
  document.addEventListener("htmx:load", function (evt) {
    var container = evt.detail.elt.parentElement;
    if (!container || !watched.has(container) || arrangedNow.has(container)) return;
    arrangedNow.add(container);
    queueMicrotask(function () { arrangedNow.delete(container); });
    arrange(container);
  }, true);
  document.addEventListener("htmx:load", function (evt) { watchWithin(evt.detail.elt); });
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible") arrangeShown();
  });
  document.addEventListener("DOMContentLoaded", function () {
    watchWithin(document);
    atMidnight();
  });
})();
