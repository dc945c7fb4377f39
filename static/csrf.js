// Keeps the page's CSRF token fresh. A chat tab stays open for days; a token lives
// WTF_CSRF_TIME_LIMIT seconds (<body data-csrf-lifetime>). The token sits in <body hx-headers>
// (every htmx request) and in each form's hidden csrf_token input (plain posts, and htmx form
// posts, which send the input): both are replaced by a freshly signed one from
// <body data-csrf-url> halfway through the old one's life, and before any request made with a
// token older than that (a laptop that slept through the timer). Socket frames need none: the
// socket was checked at its handshake (cookie and Origin).
(function () {
  "use strict";

  var body = document.body;
  var lifetimeMs = (parseFloat(body.dataset.csrfLifetime) || 0) * 1000;
  var url = body.dataset.csrfUrl;
  var fetchedAt = Date.now();
  var timer = null;
  var inFlight = null;

  function stale() {
    return lifetimeMs > 0 && Date.now() - fetchedAt > lifetimeMs / 2;
  }

  function apply(token) {
    if (!token) return;
    fetchedAt = Date.now();
    var headers = {};
    try {
      headers = JSON.parse(body.getAttribute("hx-headers") || "{}");
    } catch (e) {
      headers = {};
    }
    headers["X-CSRFToken"] = token;
    body.setAttribute("hx-headers", JSON.stringify(headers));
    document.querySelectorAll("input[name=csrf_token]").forEach(function (input) {
      input.value = token;
    });
    schedule(lifetimeMs / 2);
  }

  function refresh() {
    if (!inFlight) {
      inFlight = fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
        .then(function (response) {
          if (!response.ok) throw new Error("token refresh answered " + response.status);
          return response.json();
        })
        .then(function (data) {
          apply(data.token);
        })
        .catch(function (error) {
          schedule(Math.min(lifetimeMs / 10, 30000)); // offline or restarting: try again soon
          throw error;
        })
        .finally(function () {
          inFlight = null;
        });
    }
    return inFlight;
  }

  function schedule(delay) {
    clearTimeout(timer);
    if (lifetimeMs > 0 && url) timer = setTimeout(function () { refresh().catch(function () {}); }, delay);
  }

  // htmx asks before every request: hold one made with a stale token until a fresh one is in
  // place, then let htmx start it again (its values, the token among them, are read afresh).
  document.addEventListener("htmx:confirm", function (evt) {
    if (evt.defaultPrevented || !stale()) return; // connection.js may have sent it over the socket
    evt.preventDefault();
    var issue = evt.detail.issueRequest;
    refresh().then(function () { issue(false); }, function () { issue(true); });
  });

  // Plain form posts (log out, settings, the members page without htmx) likewise.
  document.addEventListener("submit", function (evt) {
    var form = evt.target;
    if (evt.defaultPrevented || form.hasAttribute("hx-post") || (form.method || "").toLowerCase() !== "post") return;
    if (!stale()) return;
    evt.preventDefault();
    var again = function () { form.requestSubmit(evt.submitter || undefined); };
    refresh().then(again, function () { form.submit(); });
  });

  // A refused token comes back with a fresh one (webchat/errors.py): the next try goes through.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var xhr = evt.detail.xhr;
    if (xhr && xhr.status === 400) apply(xhr.getResponseHeader("X-CSRF-Token"));
  });

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && stale()) refresh().catch(function () {});
  });

  schedule(lifetimeMs / 2);
})();
