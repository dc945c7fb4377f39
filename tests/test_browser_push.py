"""Web Push in Chromium: the service worker (static/sw.js at /sw.js) shows what the server pushes
and opens the app at that message when its notification is clicked; Settings turns push on for
the device and lists the devices; a first mention offers it.

The push event is a real one: Chromium's DevTools protocol delivers it to the worker
(ServiceWorker.deliverPushMessage, DevTools' own "Push" button), as a push service's message
would arrive. End-to-end delivery from our server to a browser needs the browser vendor's push
service, out of reach here (tests/test_push.py speaks to a local push service instead). Nothing
can click a notification in headless Chromium either: the click is a NotificationEvent made in
the worker for the notification it shows (a script's event, so without the click's permission
to focus a window: sw.js then navigates the window without focusing it).
Playwright's contexts are incognito, where Chromium has no push service at all: subscribing is
refused at once (and Chromium logs a line of its own about it), so Settings' button ends in the
words a person sees when their browser's push service cannot be reached.
"""
import json
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from .support.browser import CSRF, post_messages

pytestmark = pytest.mark.browser

UNREACHABLE = "This browser could not reach its push service. Notifications still show while webchat is open."
# Chromium's own console line when a page subscribes in an incognito context (Playwright's).
INCOGNITO = r"Chrome currently does not support the Push API in incognito mode"


def with_notifications(person, prefix="alice"):
    return person(prefix, permissions=["notifications"])


def registered_worker(page):
    """Register /sw.js as the page would, and wait until it controls the page (clients.claim)."""
    with page.context.expect_event("serviceworker") as started:
        page.evaluate("navigator.serviceWorker.register('/sw.js').then(() => navigator.serviceWorker.ready)"
                      ".then(() => true)")
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    worker = started.value
    assert worker.url.endswith("/sw.js")
    return worker


class DevToolsPush:
    """Chromium's DevTools protocol, delivering push messages to the page's service worker."""

    def __init__(self, page) -> None:
        self.page = page
        self.origin = re.match(r"https?://[^/]+", page.url)[0]
        self.session = page.context.new_cdp_session(page)
        self.registrations = {}
        self.session.on("ServiceWorker.workerRegistrationUpdated", self._updated)
        self.session.send("ServiceWorker.enable")
        self.registration = until(page, lambda: self.registrations.get(self.origin + "/"), "the worker's registration")

    def _updated(self, event) -> None:
        for registration in event["registrations"]:
            if not registration["isDeleted"]:
                self.registrations[registration["scopeURL"]] = registration["registrationId"]

    def push(self, data: str) -> None:
        self.session.send("ServiceWorker.deliverPushMessage",
                          {"origin": self.origin, "registrationId": self.registration, "data": data})


def until(page, found, what: str, seconds: float = 10):
    """found()'s answer once it has one (Playwright hands over events while the page waits)."""
    deadline = time.monotonic() + seconds
    while not (answer := found()):
        assert time.monotonic() < deadline, f"no {what} within {seconds} s"
        page.wait_for_timeout(50)
    return answer


def shown_notifications(worker, tag: str | None = None) -> list[dict]:
    return worker.evaluate("""tag => self.registration.getNotifications(tag ? {tag} : {}).then(shown =>
        shown.map(n => ({title: n.title, body: n.body, tag: n.tag, url: n.data && n.data.url, icon: n.icon})))""", tag)


def click_notification(worker, tag: str) -> None:
    worker.evaluate("""tag => self.registration.getNotifications({tag}).then(([shown]) =>
        self.dispatchEvent(new NotificationEvent("notificationclick", {notification: shown})))""", tag)


def a_message(page, text: str) -> tuple[int, int]:
    """A chat of the page's user with one message in it: (chat id, message id)."""
    token = CSRF.search(page.context.request.get("/settings").text()).group(1)
    created = page.context.request.post("/chats", max_redirects=0, form={
        "csrf_token": token, "name": f"room {uuid.uuid4().hex[:4]}", "members": ""})
    assert created.status == 302, created.text()[:300]
    chat_id = int(created.headers["location"].rstrip("/").rsplit("/", 1)[1])
    return chat_id, post_messages(page, chat_id, [text])[0]


def notice(chat_id: int, message_id: int, title: str, body: str) -> dict:
    """What core/notifications.py's notice() says of a message, as the push sender sends it."""
    return {"title": title, "body": body, "url": f"/chats/{chat_id}/messages/{message_id}#m-{message_id}",
            "tag": f"webchat-{chat_id}", "chat": chat_id, "thread": None, "message": message_id}


def test_a_pushed_notice_shows_with_its_words_and_a_newer_one_of_the_chat_replaces_it(person):
    page = with_notifications(person)
    chat_id, message_id = a_message(page, "lunch at noon?")
    worker = registered_worker(page)
    devtools = DevToolsPush(page)

    devtools.push(json.dumps(notice(chat_id, message_id, "Bob in room", "lunch at noon?")))
    shown = until(page, lambda: shown_notifications(worker), "notification")
    assert shown == [{"title": "Bob in room", "body": "lunch at noon?", "tag": f"webchat-{chat_id}",
                      "url": f"{devtools.origin}/chats/{chat_id}/messages/{message_id}#m-{message_id}",
                      "icon": f"{devtools.origin}/static/favicon.svg"}]

    devtools.push(json.dumps(notice(chat_id, message_id, "room", "3 new messages")))
    until(page, lambda: [n for n in shown_notifications(worker) if n["body"] == "3 new messages"], "newer notification")
    assert [(n["title"], n["body"]) for n in shown_notifications(worker)] == [("room", "3 new messages")]


def test_a_push_that_is_not_a_notice_still_shows_new_activity(person):
    page = with_notifications(person)
    worker = registered_worker(page)

    DevToolsPush(page).push("not json {")

    shown = until(page, lambda: shown_notifications(worker), "notification")
    assert [(n["title"], n["body"]) for n in shown] == [("New activity in webchat", "")]


def test_a_notice_pointing_elsewhere_opens_the_app_not_another_site(person):
    page = with_notifications(person)
    worker = registered_worker(page)
    devtools = DevToolsPush(page)

    devtools.push(json.dumps({"title": "Bob", "body": "hi", "url": "https://evil.example/chats/1?x=1", "tag": "t"}))

    shown = until(page, lambda: shown_notifications(worker), "notification")
    assert [n["url"] for n in shown] == [f"{devtools.origin}/chats/1?x=1"]


def test_clicking_a_notification_takes_the_open_window_to_the_message(person):
    page = with_notifications(person)
    chat_id, message_id = a_message(page, "the minutes are up")
    page.goto("/")  # the dashboard: another place of the app
    worker = registered_worker(page)
    DevToolsPush(page).push(json.dumps(notice(chat_id, message_id, "Bob in room", "the minutes are up")))
    until(page, lambda: shown_notifications(worker), "notification")

    click_notification(worker, f"webchat-{chat_id}")

    page.wait_for_url(f"**/chats/{chat_id}/messages/{message_id}#m-{message_id}")
    expect(page.locator(f"#m-{message_id}")).to_contain_text("the minutes are up")
    assert shown_notifications(worker) == []  # the click closed it


def test_turning_push_on_where_the_browser_has_no_push_service_says_so(person, page_errors):
    page_errors.allow(INCOGNITO, "Chromium's own line: Playwright's contexts are incognito, without a push service")
    page = with_notifications(person)
    page.goto("/settings")
    section = page.locator(".push-devices")
    button = section.get_by_role("button", name="Get notifications on this device when webchat is closed")

    with page.context.expect_event("serviceworker") as started:
        button.click()

    assert started.value.url.endswith("/sw.js")
    expect(section.locator("[data-push-status]")).to_have_text(UNREACHABLE)
    expect(section.locator("[data-push-status]")).to_have_class(re.compile(r"\bpush-status--error\b"))
    expect(button).to_be_enabled()
    expect(section.locator(".push-device")).to_have_count(0)


def test_turning_push_on_where_notifications_are_blocked_says_where_to_allow_them(person):
    page = person("alice")  # headless Chromium answers the permission prompt with "denied"
    page.goto("/settings")
    section = page.locator(".push-devices")

    section.get_by_role("button", name="Get notifications on this device when webchat is closed").click()

    expect(section.locator("[data-push-status]")).to_have_text(
        "Notifications are blocked for this site. Allow them in your browser's site settings, then try again.")


def test_settings_lists_a_device_and_its_remove_button_removes_it(person):
    page = person("alice")
    token = CSRF.search(page.context.request.get("/settings").text()).group(1)
    # What a browser with a push service posts (static/push.js), from an Android phone.
    added = page.context.request.post("/settings/push", headers={
        "X-CSRFToken": token, "User-Agent": "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
                                            "like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36"},
        data={"endpoint": f"https://push.example.net/{uuid.uuid4().hex}",
              "keys": {"p256dh": "BP" + "A" * 85, "auth": "c2VjcmV0c2VjcmV0c2VjcmV0"}})
    assert added.status == 201, added.text()
    page.goto("/settings")
    device = page.locator(".push-device")
    expect(device).to_have_count(1)
    expect(device.locator(".push-device-name")).to_have_text("Chrome on Android")
    expect(device).to_contain_text("last used never")

    device.get_by_role("button", name="Remove Chrome on Android").click()

    expect(page.locator(".flash")).to_have_text("That device gets no more notifications.")
    expect(page.locator(".push-device")).to_have_count(0)
    expect(page.locator(".push-devices")).to_contain_text("No device gets notifications while webchat is closed.")


def notified(page, reason: str) -> None:
    """What static/notify.js says after showing a desktop notice (the event push.js listens to)."""
    page.evaluate("reason => document.dispatchEvent(new CustomEvent('webchat:notified', "
                  "{detail: {reason, chatId: 1}}))", reason)


def test_a_first_mention_offers_push_until_dismissed(person):
    page = with_notifications(person)
    prompt = page.locator(".push-prompt")
    expect(prompt).to_be_hidden()

    notified(page, "dm")  # decided at once: only a mention offers it
    expect(prompt).to_be_hidden()
    notified(page, "mention")
    expect(prompt).to_be_visible()
    expect(prompt).to_contain_text("Get notified when this tab is closed")

    prompt.get_by_role("button", name="Not now").click()
    expect(prompt).to_be_hidden()
    page.reload()
    notified(page, "mention")  # decided at once: dismissed in this browser
    expect(prompt).to_be_hidden()


def test_the_prompts_turn_on_says_when_the_push_service_cannot_be_reached(person, page_errors):
    page_errors.allow(INCOGNITO, "Chromium's own line: Playwright's contexts are incognito, without a push service")
    page = with_notifications(person)
    notified(page, "mention")
    prompt = page.locator(".push-prompt")

    prompt.get_by_role("button", name="Turn on").click()

    expect(prompt.locator("[data-push-status]")).to_have_text(UNREACHABLE)
    expect(prompt).to_be_visible()


# Stands in for the browser's push service, which Playwright's incognito Chromium has none of:
# pushManager answers with a subscription as Chromium's would (an endpoint, the browser's keys).
# Everything else is real: the worker, the permission, the post, the server, the list.
PUSH_SERVICE = """(() => {
  let current = null;
  const made = endpoint => ({
    endpoint,
    toJSON: () => ({endpoint, expirationTime: null,
                    keys: {p256dh: "BP" + "A".repeat(85), auth: "c2VjcmV0c2VjcmV0c2VjcmV0"}}),
    unsubscribe: () => { current = null; return Promise.resolve(true); },
  });
  PushManager.prototype.subscribe = function (options) {
    if (!options.userVisibleOnly || !options.applicationServerKey) return Promise.reject(new Error("no key"));
    current = made("https://push.example.net/" + crypto.randomUUID());
    return Promise.resolve(current);
  };
  PushManager.prototype.getSubscription = function () { return Promise.resolve(current); };
})()"""


def test_turning_push_on_lists_this_browser_and_turning_it_off_removes_it(person):
    page = with_notifications(person)
    page.context.add_init_script(PUSH_SERVICE)
    page.goto("/settings")
    section = page.locator(".push-devices")

    section.get_by_role("button", name="Get notifications on this device when webchat is closed").click()

    expect(section.locator("[data-push-status]")).to_have_text("Notifications are on for Chrome on Linux.")
    expect(section.locator(".push-device-name")).to_have_text(["Chrome on Linux"])
    off = section.get_by_role("button", name="Turn off on this device")
    expect(off).to_be_visible()

    off.click()

    expect(section.locator("[data-push-status]")).to_have_text("Notifications are off for this device.")
    expect(section.locator(".push-device")).to_have_count(0)
    expect(off).to_be_hidden()
    page.reload()
    expect(page.locator(".push-device")).to_have_count(0)
