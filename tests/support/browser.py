"""People in Chromium: a newly registered user per browser context, and a chat they share."""
import re
import time
import uuid

from playwright.sync_api import expect

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class BrowserPeople:
    """make() -> a page signed in as a newly registered user (page.username, page.display_name),
    on the dashboard; closes its contexts.

    make("bob") names the user "bob<hex>", called "Bob <hex>" (each its own display name: a
    second "Bob" would be refused as a lookalike of the first); make() a "u<hex>" called
    "U<HEX>". With live=True each page is also live before it is handed over.
    """

    def __init__(self, chromium, base_url: str, live: bool = False, timeout: int = 15_000) -> None:
        self.chromium = chromium
        self.base_url = base_url
        self.live = live
        self.timeout = timeout
        self.contexts = []

    def __call__(self, prefix: str | None = None, **context_options):
        context = self.chromium.new_context(base_url=self.base_url, viewport={"width": 1100, "height": 750},
                                            **context_options)
        context.set_default_timeout(self.timeout)
        self.contexts.append(context)
        if prefix:
            username = f"{prefix}{uuid.uuid4().hex[:6]}"
            display_name = f"{prefix.title()} {username[len(prefix):]}"
        else:
            username = f"u{uuid.uuid4().hex[:8]}"
            display_name = username.upper()
        # The register form, posted with the context's cookies (cheaper than filling it in).
        form = context.request.get("/register")
        registered = context.request.post("/register", max_redirects=0, form={
            "username": username, "display_name": display_name, "password": "password123",
            "csrf_token": CSRF.search(form.text()).group(1)})
        assert registered.status == 302, registered.text()[:300]
        page = context.new_page()
        page.goto("/")
        page.username, page.display_name, page.name = username, display_name, display_name
        if self.live:
            expect_live(page)
        return page

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def expect_live(page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def post_messages(page, chat_id: int, texts) -> list[int]:
    """Send texts as the page's user, as a page without JavaScript does (quicker than typing
    them); their ids, from where each send leads back to."""
    token = CSRF.search(page.context.request.get("/settings").text()).group(1)
    ids = []
    for text in texts:
        response = page.context.request.post(f"/chats/{chat_id}/messages", max_redirects=0, form={
            "csrf_token": token, "body": text, "client_id": str(uuid.uuid4())})
        assert response.status == 302, response.text()[:300]
        ids.append(int(response.headers["location"].rsplit("#m-", 1)[1]))
    return ids


def open_shared_chat(owner, *others) -> int:
    """owner creates a group with the others; every page opens it and is live. The chat id."""
    owner.fill("input[name=name]", f"room {uuid.uuid4().hex[:4]}")
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    chat_id = int(owner.url.rsplit("/", 1)[1])
    for page in others:
        page.goto(f"/chats/{chat_id}")
    for page in (owner, *others):
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    return chat_id


def send(page, text):
    page.fill("#composer textarea", text)
    page.keyboard.press("Enter")


def refresh_chat_list(page) -> None:
    """Run the chat list's poll now and wait until the server's list has replaced the page's."""
    page.evaluate("document.getElementById('chat-list').dataset.before = 'refresh'")
    page.evaluate("htmx.trigger('#chat-list', 'poll')")
    expect(page.locator("#chat-list[data-before]")).to_have_count(0)


class HeldChatList:
    """The page's chat list, asked for and answered now but handed to the page only at release():
    a list made before whatever happens meanwhile, landing after it."""

    LIST = re.compile(r"/chats/list$")

    def __init__(self, page) -> None:
        self.page = page
        self.held = []
        page.route(self.LIST, lambda route: self.held.append((route, route.fetch())))
        page.evaluate("document.getElementById('chat-list').dataset.before = 'refresh'")
        page.evaluate("htmx.trigger('#chat-list', 'poll')")
        deadline = time.monotonic() + 10
        while not self.held:
            assert time.monotonic() < deadline, "the page did not ask for its chat list"
            page.wait_for_timeout(50)

    def release(self) -> None:
        """Hand the page the held list, wait until it is in, and let later lists through."""
        route, answered = self.held[0]
        route.fulfill(response=answered)
        expect(self.page.locator("#chat-list[data-before]")).to_have_count(0)
        self.page.unroute(self.LIST)


def shown_ids(page) -> list[int]:
    return [int(i) for i in page.eval_on_selector_all("#messages > .msg", "els => els.map(e => e.dataset.id)")]


class SocketCut:
    """A page whose sockets go through the test. SocketCut(page) reloads it live; cut() closes
    its socket with 1012 (or the code given) and from then on gives new sockets no server at all,
    as behind a broken proxy, so what the page misses can only reach it by catching up; restore()
    serves new sockets again and closes the one left without a server (with the same code)."""

    def __init__(self, page) -> None:
        self.page = page
        self.sockets = []
        self.answer = True
        page.route_web_socket("**/socket", self._route)
        page.reload()
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")

    def _route(self, ws) -> None:
        self.sockets.append(ws)
        if self.answer:
            ws.connect_to_server()

    def cut(self, code: int = 1012) -> None:
        self.answer = False
        self.code = code
        self.sockets[-1].close(code=code, reason="cut by the test")
        expect(self.page.locator("#connection")).not_to_have_attribute("data-state", "live")

    def restore(self) -> None:
        held = self.sockets[-1]
        self.answer = True
        held.close(code=self.code, reason="cut by the test")


# A tab hidden and shown again (as switching tabs does), for page.evaluate.
HIDE_TAB = """() => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => "hidden" });
  Object.defineProperty(document, "hidden", { configurable: true, get: () => true });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
SHOW_TAB = """() => {
  delete document.visibilityState;
  delete document.hidden;
  document.dispatchEvent(new Event("visibilitychange"));
}"""


# Every desktop notification the page shows, in order (static/notify.js says each, "webchat:notified").
# The server sends them in the order of their messages: a message that must not notify is followed
# by one of another chat that must, and the list shows whether the first one did.
RECORD_NOTIFICATIONS = """() => {
  window.notified = [];
  document.addEventListener("webchat:notified", (e) => window.notified.push(e.detail.chatId));
}"""


def notified(page, body: str) -> dict:
    """The page's notification of this text, once shown (the server's notifier sends it)."""
    page.wait_for_function("body => (window.webchat.lastNotification || {}).body === body", arg=body)
    return page.evaluate("window.webchat.lastNotification")
