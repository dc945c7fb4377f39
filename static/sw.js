// The service worker: shows what the server pushes while no tab of webchat is open, and opens
// the app at that message when the notification is clicked. Served at /sw.js (webchat/auth/push.py)
// so that its scope is the whole app; static/push.js registers it. The payload is what
// core/notifications.py's notice() says, as JSON: {title, body, url, tag, chat, thread, message}
// (core/push.py sends it). It handles no fetch: pages load as they would without it.
"use strict";

var GENERIC = { title: "New activity in webchat", body: "", url: "./", tag: "webchat" };

self.addEventListener("install", function () {
  self.skipWaiting(); // a new version takes over at once: it only shows notifications
});

self.addEventListener("activate", function (event) {
  extend(event, self.clients.claim());
});

// Keeps the worker alive until the work is done. An event made by a script (DevTools' or a
// test's dispatchEvent) cannot be extended; its work just runs. A failure is swallowed: there is
// no one to tell, and a rejected waitUntil would only log an error.
function extend(event, work) {
  var quiet = Promise.resolve(work).catch(function () {});
  if (event.isTrusted) event.waitUntil(quiet);
}

// The pushed notice, or the generic words when it is not one (an older server's, or garbage).
function notice(data) {
  var said = null;
  try {
    said = data ? data.json() : null;
  } catch (e) {
    said = null;
  }
  return said && typeof said === "object" && typeof said.title === "string" && said.title ? said : GENERIC;
}

// Only ever a page of this app: the path of what was said, on this worker's origin (the server's
// BASE_URL may name the host differently from how this browser reaches it).
function ownUrl(url) {
  try {
    var said = new URL(url || GENERIC.url, self.registration.scope);
    return new URL(said.pathname + said.search + said.hash, self.location.origin).href;
  } catch (e) {
    return self.registration.scope;
  }
}

self.addEventListener("push", function (event) {
  var said = notice(event.data);
  extend(event, self.registration.showNotification(said.title, {
    body: said.body || "",
    icon: new URL("static/favicon.svg", self.registration.scope).href,
    tag: said.tag || GENERIC.tag, // one per chat (or thread): a newer one replaces the older
    renotify: true, // ...and still says so
    data: { url: ownUrl(said.url) },
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var url = ownUrl(event.notification.data && event.notification.data.url);
  extend(event, open(url));
});

// An open window of the app goes to the message (the one in front first); with none, a new one.
function open(url) {
  return self.clients.matchAll({ type: "window", includeUncontrolled: true }).then(function (windows) {
    var client = windows.filter(function (c) { return c.focused; })[0] ||
                 windows.filter(function (c) { return c.visibilityState === "visible"; })[0] || windows[0];
    if (!client) return self.clients.openWindow(url);
    // Focus while the click still allows it (a script's event may not: then it stays behind).
    return client.focus().catch(function () { return client; }).then(function () {
      if (client.url === url) return client;
      // navigate() works on a window this worker controls; one opened before it was installed
      // is asked to go there itself (static/push.js listens).
      return client.navigate(url).catch(function () {
        client.postMessage({ type: "webchat:open", url: url });
      });
    });
  });
}
