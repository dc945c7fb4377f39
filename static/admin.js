// Administration tables (templates/admin/): their times are dates ("joined", "last seen") or
// dates with a time (the audit log), shown in the reader's own words and time zone. webchat.js
// makes every <time> a time of day first (a message's); this runs after it (loaded later).
(function () {
  "use strict";
  var FORMATS = {
    date: { dateStyle: "medium" },
    datetime: { dateStyle: "medium", timeStyle: "short" },
  };

  function adminDates(root) {
    if (!root.querySelectorAll) return;
    root.querySelectorAll(".admin-table time[data-show]").forEach(function (t) {
      var d = new Date(t.getAttribute("datetime"));
      var format = FORMATS[t.dataset.show];
      if (!isNaN(d) && format) t.textContent = d.toLocaleString([], format);
    });
  }

  document.addEventListener("htmx:load", function (evt) {
    adminDates(evt.detail.elt);
  });
  document.addEventListener("DOMContentLoaded", function () {
    adminDates(document);
  });
})();
