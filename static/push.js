// Notifications while webchat is closed (Web Push), one behaviour attached by hx-ext="push" on
// an element that carries the server's words and URLs (data-push-key: the applicationServerKey,
// data-push-url: where the subscription is posted, data-push-worker: /sw.js): Settings' devices
// section (templates/auth/_settings_devices.html) and the prompt on a first mention
// (templates/_push_prompt.html, in app.html). Its [data-push-on] button registers the service
// worker (static/sw.js), asks for permission, subscribes with the browser's push service and
// posts the subscription (webchat/auth/push.py); [data-push-status] says how it went. Settings'
// [data-push-off] shows while this browser has a subscription, and ends it (data-push-off-url).
// The prompt shows when notify.js has shown a desktop notice of a mention ("webchat:notified")
// and this browser has no push subscription, unless it was dismissed here before.
(function () {
  "use strict";

  var DISMISSED = "webchat:push-prompt-dismissed";
  var SUBSCRIBE_WAIT_MS = 20000; // a push service that never answers (no network to it) is a failure too
  var UNREACHABLE = "This browser could not reach its push service. Notifications still show while webchat is open.";
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  function say(el, words, failed) {
    var status = el.querySelector("[data-push-status]");
    if (!status) return;
    status.textContent = words;
    status.classList.toggle("push-status--error", !!failed);
  }

  // The words a failure shows: ours (an Error made below, or the server's JSON), else the push
  // service's.
  function Refusal(words) {
    this.words = words;
  }

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRFToken"] || "";
    } catch (e) {
      return ""; // the server then refuses the post, and says so
    }
  }

  function post(url, subscription) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify(subscription.toJSON ? subscription.toJSON() : subscription),
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          throw new Refusal(answer.error || "Notifications could not be turned on. Reload the page and try again.");
        }
        return answer;
      });
    }, function () {
      throw new Refusal("webchat could not be reached. Check your connection and try again.");
    });
  }

  function subscribe(registration, key) {
    var answered = registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    var waited = new Promise(function (resolve, reject) {
      setTimeout(function () { reject(new Refusal(UNREACHABLE)); }, SUBSCRIBE_WAIT_MS);
    });
    return Promise.race([answered, waited]).catch(function (error) {
      throw error instanceof Refusal ? error : new Refusal(UNREACHABLE);
    });
  }

  function turnOn(el, button) {
    button.disabled = true;
    say(el, "Turning on…");
    // Permission first, while the click still counts as the person's own act.
    Notification.requestPermission().then(function (permission) {
      if (permission !== "granted") {
        throw new Refusal("Notifications are blocked for this site. Allow them in your browser's site settings, " +
                          "then try again.");
      }
      return navigator.serviceWorker.register(el.dataset.pushWorker); // its scope: the whole app
    }).then(function () {
      return navigator.serviceWorker.ready;
    }).then(function (registration) {
      return subscribe(registration, el.dataset.pushKey);
    }).then(function (subscription) {
      return post(el.dataset.pushUrl, subscription);
    }).then(function (answer) {
      say(el, answer.message || "Notifications are on for this device.");
      turnedOn(el);
    }).catch(function (error) {
      say(el, error instanceof Refusal ? error.words : UNREACHABLE, true);
    }).finally(function () {
      button.disabled = false;
    });
  }

  // Settings lists the new device (the server renders the list) and offers to turn it off; the
  // prompt has done its work.
  function turnedOn(el) {
    relist(el);
    var off = el.querySelector("[data-push-off]");
    if (off) off.hidden = false;
    if (el.hasAttribute("data-push-prompt")) setTimeout(function () { el.hidden = true; }, 4000);
  }

  function relist(el) {
    var list = el.querySelector("[data-push-devices]");
    if (list && list.id && el.dataset.pushListUrl) {
      htmx.ajax("GET", el.dataset.pushListUrl, { target: "#" + list.id, swap: "outerHTML" });
    }
  }

  function subscription() {
    return navigator.serviceWorker.getRegistration().then(function (registration) {
      return registration ? registration.pushManager.getSubscription() : null;
    });
  }

  // This browser's own subscription ends, and the server forgets it.
  function turnOff(el, button) {
    button.disabled = true;
    subscription().then(function (current) {
      if (!current) return null;
      var endpoint = current.endpoint;
      return current.unsubscribe().then(function () {
        return post(el.dataset.pushOffUrl, { endpoint: endpoint });
      });
    }).then(function () {
      say(el, "Notifications are off for this device.");
      button.hidden = true;
      relist(el);
    }).catch(function (error) {
      say(el, error instanceof Refusal ? error.words : "Notifications could not be turned off. Try again.", true);
    }).finally(function () {
      button.disabled = false;
    });
  }

  function dismissed() {
    try {
      return window.localStorage.getItem(DISMISSED) === "1";
    } catch (e) {
      return false; // storage refused (private mode): the prompt may show again next time
    }
  }

  function dismiss(el) {
    el.hidden = true;
    try {
      window.localStorage.setItem(DISMISSED, "1");
    } catch (e) {
      // as above: it stays hidden for this page
    }
  }

  // A mention was just shown as a desktop notice: offer push unless this browser has it already.
  function offer(el, evt) {
    if (!supported || !el.hidden || !evt.detail || evt.detail.reason !== "mention" || dismissed()) return;
    if (Notification.permission === "denied") return;
    subscription().then(function (current) {
      if (!current && !dismissed()) el.hidden = false;
    }).catch(function () {}); // nothing to offer then
  }

  function connect(el) {
    var button = el.querySelector("[data-push-on]");
    if (button && supported) {
      button.hidden = false;
      button.addEventListener("click", function () { turnOn(el, button); });
    } else if (button) {
      say(el, "This browser cannot show notifications while webchat is closed.");
    }
    var off = el.querySelector("[data-push-off]");
    if (off && supported) {
      off.addEventListener("click", function () { turnOff(el, off); });
      subscription().then(function (current) { off.hidden = !current; }).catch(function () {});
    }
    if (el.hasAttribute("data-push-prompt")) {
      var close = el.querySelector("[data-push-dismiss]");
      if (close) close.addEventListener("click", function () { dismiss(el); });
      document.addEventListener("webchat:notified", function (evt) { offer(el, evt); });
    }
  }

  // A window this worker did not control when a notification was clicked is asked to go to the
  // message itself (static/sw.js, open()).
  if (supported) {
    navigator.serviceWorker.addEventListener("message", function (evt) {
      var said = evt.data || {};
      if (evt.origin !== window.location.origin || said.type !== "webchat:open" || typeof said.url !== "string") return;
      var url = new URL(said.url, window.location.href);
      if (url.origin === window.location.origin) window.location.assign(url.href);
    });
  }

  var api;
  htmx.defineExtension("push", {
    init: function (htmxApi) { api = htmxApi; },
    onEvent: function (name, evt) {
      var el = evt.detail.elt;
      if (name !== "htmx:afterProcessNode" || !/(^|,)\s*push\s*(,|$)/.test(el.getAttribute("hx-ext") || "")) return;
      var data = api.getInternalData(el);
      if (data.push) return; // processed again (htmx.process): already attached
      data.push = true;
      connect(el);
    },
  });
})();
