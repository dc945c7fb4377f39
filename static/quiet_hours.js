// The time zone of do-not-disturb hours (templates/auth/_settings_quiet.html): while the
// person never chose one (the stored default, UTC: data-guess), the list starts at this
// browser's own, which they then save with the form. Only a choice shown; nothing is saved here.
(function () {
  "use strict";

  htmx.defineExtension("quiet-hours", {
    onEvent: function (name, evt) {
      var select = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || select.tagName !== "SELECT" || !select.hasAttribute("data-guess")) return;
      select.removeAttribute("data-guess"); // once: a choice made on the page stays
      var here = Intl.DateTimeFormat().resolvedOptions().timeZone;
      var option = here && Array.prototype.find.call(select.options, function (o) { return o.value === here; });
      if (option) option.selected = true;
    },
  });
})();
