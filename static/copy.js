// A "Copy" button (data-copy="<id of a field>") copies that field's text. Without JavaScript or a
// clipboard the button stays hidden and the field's text can be selected by hand.
(function () {
  "use strict";
  function ready() {
    if (!navigator.clipboard || !window.isSecureContext) return;
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.hidden = false;
    });
  }
  document.addEventListener("DOMContentLoaded", ready);
  document.addEventListener("click", function (evt) {
    var button = evt.target.closest && evt.target.closest("button[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.dataset.copy);
    if (!field) return;
    navigator.clipboard.writeText(field.value).then(function () {
      button.textContent = "Copied";
    }, function () {
      field.select(); // no clipboard allowed: selected, for the keyboard's copy
    });
  });
})();
