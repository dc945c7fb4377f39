// The app fills the window (app.css: 100dvh), its composer at the bottom. Where the on-screen
// keyboard covers the page instead of shrinking it (Safari does not read base.html's
// interactive-widget=resizes-content), the app takes the height left visible above the keyboard,
// so the composer stays in sight while one types. Plain script, loaded with `defer`.
(function () {
  "use strict";

  var view = window.visualViewport;
  if (!view) return;

  function fit() {
    // Pinch zoom shrinks the visual viewport too; only a keyboard's cover (scale 1) is followed.
    var covered = view.scale <= 1.01 && view.height < window.innerHeight - 1;
    if (covered) document.documentElement.style.setProperty("--visible-height", view.height + "px");
    else document.documentElement.style.removeProperty("--visible-height");
  }

  view.addEventListener("resize", fit);
})();
