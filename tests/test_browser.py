"""What a person sees in a real browser: Debian's Chromium, driven by Playwright, on the live gunicorn server.

The live server is shared by the whole session, so every test registers its own people through
the /register form instead of relying on demo data.

Pages get messages over their socket while it is live and by polling while it is not. The
session's server polls every second while the socket is down (WEBCHAT_POLL_INTERVAL=1 in
tests/support/services.py) and every 60 s while it is up. Tests about polling put the page in
the fallback: without_socket() answers the page's socket with silence, so the page never goes
live, polls every second and sends over HTTP, as it does behind a proxy that eats WebSockets.
"""
import re
import time
import uuid
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from .support.browser import HIDE_TAB, SHOW_TAB, HeldChatList, refresh_chat_list

pytestmark = pytest.mark.browser

PASSWORD = "password123"
MESSAGES = "#messages > .msg"


@dataclass
class Person:
    """One person in a browser context of their own, signed in on `page`."""

    context: BrowserContext
    page: Page
    username: str
    display_name: str
    csp_violations: list[str] = field(default_factory=list)

    @property
    def composer(self):
        return self.page.locator("#composer textarea[name=body]")

    def create_group(self, name: str, members: str = "") -> int:
        """Start a group chat from the dashboard; the browser lands on it. Returns its id."""
        page = self.page
        page.goto("/")
        form = page.locator("#chat-pane form[action='/chats']")
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=members]").fill(members)
        form.get_by_role("button", name="Create chat").click()
        page.wait_for_url(re.compile(r"/chats/\d+$"))
        expect(page.locator("#chat-pane.chat h2")).to_have_text(name)
        return int(page.url.rsplit("/", 1)[1])

    def send(self, text: str):
        """Type a message and press Enter; returns the message element once it is shown."""
        page = self.page
        before = page.locator(MESSAGES).count()
        self.composer.fill(text)
        self.composer.press("Enter")
        expect(page.locator(MESSAGES)).to_have_count(before + 1)
        expect(self.composer).to_have_value("")
        expect(page.locator("#messages > .pending")).to_have_count(0)  # no "Sending…" line left behind
        message = page.locator(MESSAGES).last
        expect(message).to_have_attribute("data-author", self.username)
        return message

    def csrf_token(self) -> str:
        value = self.page.locator("input[name=csrf_token]").first.get_attribute("value")
        assert value
        return value


def new_username() -> str:
    return f"u{uuid.uuid4().hex[:8]}"


def fill_register_form(page: Page, username: str, display_name: str) -> None:
    page.goto("/register")
    page.locator("input[name=username]").fill(username)
    page.locator("input[name=display_name]").fill(display_name)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()


@pytest.fixture
def person(browser_context, live_server):
    """person() -> a newly registered Person, on the dashboard, in a new browser context."""
    def make(**context_options) -> Person:
        context = browser_context(**context_options)
        page = context.new_page()
        username = new_username()
        display_name = f"Person {username[1:]}"  # its own: a second person of one name would be refused
        someone = Person(context, page, username, display_name)
        page.on("console", lambda msg: someone.csp_violations.append(msg.text)
                if "Content Security Policy" in msg.text else None)
        fill_register_form(page, username, display_name)
        expect(page).to_have_url(live_server.url + "/")
        expect(page.locator(".topbar .who")).to_contain_text(f"@{username}")
        return someone
    return make


def without_socket(page: Page) -> None:
    """From the next navigation on, the page's socket opens but the server never answers it."""
    page.route_web_socket(re.compile(r"/socket$"), lambda ws: None)


def expect_live(page: Page) -> None:
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")


def poll_now(page: Page) -> None:
    """Run the page's message poll now, as its timer does, and wait for the answer."""
    with page.expect_response(lambda r: r.request.method == "GET" and "/messages?after=" in r.url):
        page.evaluate("htmx.trigger(document.getElementById('poller'), 'poll')")


def poll_response(person: Person, chat_id: int):
    """Wait for the next answer to the page's message poll (GET /chats/<id>/messages?after=…)."""
    return person.page.expect_response(
        lambda r: r.request.method == "GET" and f"/chats/{chat_id}/messages?after=" in r.url)


def message_ids(page: Page) -> list[int]:
    return [int(i) for i in page.locator(MESSAGES).evaluate_all("els => els.map(e => e.dataset.id)")]


# ----- tests -------------------------------------------------------------------------------------

def test_a_message_sent_with_enter_reaches_the_other_member_without_a_reload(person):
    bob = person()
    alice = person()
    expect(alice.page.locator("#chat-pane.welcome h2")).to_have_text(f"Welcome, {alice.display_name}")

    # Bob keeps his dashboard open; the new chat turns up in his list when it refreshes.
    chat_id = alice.create_group("Planning", members=bob.username)
    bob_item = bob.page.locator(f"#chat-list #chat-item-{chat_id}")
    expect(bob_item).to_contain_text("Planning")
    bob_item.get_by_role("link").click()
    expect(bob.page.locator(f"#chat-pane.chat[data-chat-id='{chat_id}']")).to_be_visible()
    bob.page.evaluate("window.__noReload = true")

    message = alice.send("Hello Bob, lunch at noon?")
    message_id = message.get_attribute("id")
    assert re.fullmatch(r"m-\d+", message_id)
    expect(alice.page.locator(f"#messages > #{message_id}")).to_contain_text("Hello Bob, lunch at noon?")
    expect(alice.page.locator(f"#{message_id} .msg-author")).to_have_text(alice.display_name)

    seen = bob.page.locator(f"#messages > #{message_id}")
    expect(seen).to_contain_text("Hello Bob, lunch at noon?")
    expect(seen.locator(".msg-author")).to_have_text(alice.display_name)
    assert bob.page.evaluate("window.__noReload") is True, "Bob's page reloaded instead of polling"
    expect(bob_item).to_contain_text(f"{alice.display_name}: Hello Bob, lunch at noon?")

    bob.page.goto("/")
    expect(bob.page.locator(f"#chat-list #chat-item-{chat_id}")).to_contain_text("Planning")
    assert alice.csp_violations == [] and bob.csp_violations == []


def test_markdown_shows_as_bold_italic_code_and_a_nofollow_link(person):
    alice = person()
    alice.create_group("Markdown")
    body = alice.send("**bold** _it_ `code` and a link https://example.com").locator(".msg-body")

    expect(body.locator("strong")).to_have_text("bold")
    expect(body.locator("em")).to_have_text("it")
    expect(body.locator("code")).to_have_text("code")
    link = body.locator("a")
    expect(link).to_have_text("https://example.com")
    expect(link).to_have_attribute("href", "https://example.com")
    assert "nofollow" in link.get_attribute("rel").split()
    expect(body).not_to_contain_text("**")


def test_hostile_messages_show_as_text_and_run_nothing(person, live_server, page_errors):
    page_errors.allow(r"Content Security Policy", "the inline scripts this test injects are refused by the CSP")
    bob = person()
    alice = person()
    chat_id = alice.create_group("Hostile", members=bob.username)
    bob.page.goto(f"/chats/{chat_id}")
    dialogs, logout_requests = [], []
    for page in (alice.page, bob.page):
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.on("request", lambda request: logout_requests.append(request.url) if "/logout" in request.url else None)
    expect_live(bob.page)

    hostile = ['<img src=x onerror=alert(1)>', '<div hx-get="/logout" hx-trigger="load">x</div>']
    for text in hostile:
        expect(alice.send(text).locator(".msg-body")).to_have_text(text)
        expect(bob.page.locator("#messages > .msg").last.locator(".msg-body")).to_have_text(text)  # live, to Bob
    for page in (alice.page, bob.page):
        expect(page.locator("#messages img")).to_have_count(0)
        # Only the app's own message actions make requests; nothing inside a message body does.
        expect(page.locator("#messages .msg-body [hx-get], #messages [onerror]")).to_have_count(0)

    # A full page renders them as text too. Its socket goes live only after htmx has processed
    # the page, so a load-triggered request would have been made by then.
    response = alice.page.reload()
    expect(alice.page).to_have_url(f"{live_server.url}/chats/{chat_id}")
    expect_live(alice.page)
    expect(alice.page.locator(".topbar .who")).to_contain_text(f"@{alice.username}")
    for text in hostile:
        expect(alice.page.locator("#messages .msg-body", has_text=text)).to_have_count(1)
    expect(alice.page.locator("#messages img")).to_have_count(0)
    assert dialogs == []
    assert logout_requests == []

    policy = response.headers["content-security-policy"]
    script_src = next(d.strip() for d in policy.split(";") if d.strip().startswith("script-src"))
    assert script_src == "script-src 'self'"
    # And the browser enforces it: an inline script put into the page does not run.
    ran = alice.page.evaluate("""() => {
        const s = document.createElement("script");
        s.textContent = "window.__inlineRan = true";
        document.body.append(s);
        return window.__inlineRan === true;
    }""")
    assert ran is False


def test_opening_a_chat_from_the_list_swaps_the_pane_and_pushes_its_url(person, live_server):
    alice = person()
    page = alice.page
    chat_id = alice.create_group("Swap me")
    alice.send("a message to look for")
    page.goto("/")
    expect(page.locator("#chat-pane.welcome")).to_be_visible()
    page.evaluate("window.__sameDocument = 'yes'")
    requests = []
    page.on("request", lambda r: requests.append(r) if r.url.endswith(f"/chats/{chat_id}") else None)

    page.locator(f"#chat-list a[data-chat-id='{chat_id}']").click()
    expect(page).to_have_url(f"{live_server.url}/chats/{chat_id}")
    expect(page.locator(f"#chat-pane.chat[data-chat-id='{chat_id}']")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("a message to look for")
    expect(page.locator(f"#chat-list a[data-chat-id='{chat_id}']")).to_have_attribute("aria-current", "page")
    expect(page.locator("#chat-pane")).to_have_count(1)
    expect(page.locator(".topbar")).to_have_count(1)
    assert page.evaluate("window.__sameDocument") == "yes", "opening the chat navigated the whole page"
    assert [r.headers.get("hx-target") for r in requests] == ["chat-pane"]

    response = page.goto(f"/chats/{chat_id}")
    assert response.status == 200
    assert response.text().lstrip().lower().startswith("<!doctype html>")
    assert page.evaluate("window.__sameDocument") is None
    expect(page.locator(".topbar .who")).to_contain_text(f"@{alice.username}")
    expect(page.locator(f"#chat-list a[data-chat-id='{chat_id}']")).to_be_visible()
    expect(page.locator(f"#chat-pane.chat[data-chat-id='{chat_id}'] h2")).to_have_text("Swap me")
    expect(page.locator("#messages")).to_contain_text("a message to look for")


def test_without_javascript_a_person_logs_in_opens_a_chat_and_sends_with_the_plain_form(person, browser_context,
                                                                                         live_server):
    alice = person()
    chat_id = alice.create_group("No script")

    page = browser_context(java_script_enabled=False).new_page()
    page.goto("/login")
    page.locator("input[name=username]").fill(alice.username)
    page.locator("input[name=password]").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(live_server.url + "/")
    expect(page.locator(".topbar .who")).to_contain_text(f"@{alice.username}")

    page.locator(f"#chat-list a[data-chat-id='{chat_id}']").click()
    expect(page).to_have_url(f"{live_server.url}/chats/{chat_id}")
    expect(page.locator("#chat-pane.chat h2")).to_have_text("No script")

    page.locator("#composer textarea[name=body]").fill("sent without JavaScript")
    with page.expect_navigation():
        page.locator("#composer").get_by_role("button", name="Send").click()
    match = re.fullmatch(rf"{re.escape(live_server.url)}/chats/{chat_id}#(m-\d+)", page.url)
    assert match, page.url
    expect(page.locator(f"#messages > #{match.group(1)}")).to_contain_text("sent without JavaScript")
    expect(page.locator("#composer textarea[name=body]")).to_have_value("")


TOO_LONG = "word " * 800 + "x"  # 4001 characters; the limit is 4000


def test_without_the_socket_a_message_over_the_limit_is_marked_not_sent_and_the_composer_keeps_the_next_one(
        person, page_errors):
    page_errors.allow(r"Failed to load resource: .* 422", "the send this test makes too long is refused")
    alice = person()
    page = alice.page
    chat_id = alice.create_group("Too long")
    without_socket(page)
    page.goto(f"/chats/{chat_id}")
    before = page.locator(MESSAGES).count()
    assert len(TOO_LONG) == 4001

    alice.composer.fill(TOO_LONG)
    alice.composer.press("Enter")
    alice.composer.fill("the next one, half typed")  # the refusal must not take it away
    failed = page.locator("#messages > .pending--failed")
    expect(failed.locator(".pending-error")).to_contain_text("Not sent — That message is 4,001 characters long")
    expect(failed.locator(".pending-body")).to_have_text(TOO_LONG)
    expect(alice.composer).to_have_value("the next one, half typed")
    expect(page.locator("#flash")).to_be_empty()
    expect(page.locator(MESSAGES)).to_have_count(before)
    expect(page.locator("#connection")).not_to_have_attribute("data-state", "live")  # it went over HTTP

    # Shortened, it goes through and the line goes away.
    failed.get_by_role("button", name="Edit").click()
    expect(alice.composer).to_have_value(TOO_LONG)
    alice.composer.fill(TOO_LONG[:3990])
    alice.composer.press("Enter")
    expect(page.locator(MESSAGES)).to_have_count(before + 1)
    expect(page.locator("#messages > .pending")).to_have_count(0)
    expect(alice.composer).to_have_value("")


def test_over_the_socket_a_message_over_the_limit_is_marked_not_sent_with_the_error_and_its_text_kept(person):
    alice = person()
    page = alice.page
    alice.create_group("Too long live")
    expect_live(page)
    before = page.locator(MESSAGES).count()

    alice.composer.fill(TOO_LONG)
    alice.composer.press("Enter")
    failed = page.locator("#messages > .pending--failed")
    expect(failed.locator(".pending-error")).to_contain_text("Not sent — That message is 4,001 characters long")
    expect(failed.locator(".pending-body")).to_have_text(TOO_LONG)
    expect(page.locator(MESSAGES)).to_have_count(before)

    # "Edit" puts the text back in the composer to shorten it.
    failed.get_by_role("button", name="Edit").click()
    expect(alice.composer).to_have_value(TOO_LONG)
    expect(page.locator("#messages > .pending")).to_have_count(0)
    alice.composer.fill(TOO_LONG[:3990])
    alice.composer.press("Enter")
    expect(page.locator(MESSAGES)).to_have_count(before + 1)
    expect(page.locator("#messages > .pending")).to_have_count(0)
    expect(alice.composer).to_have_value("")


def test_scrolling_up_loads_older_messages_in_order_without_duplicates(person):
    alice = person()
    page = alice.page
    chat_id = alice.create_group("History")
    token = alice.csrf_token()
    for n in range(1, 81):
        response = alice.context.request.post(
            f"/chats/{chat_id}/messages", max_redirects=0,
            form={"csrf_token": token, "body": f"seed {n}", "client_id": uuid.uuid4().hex})
        assert response.status == 302, response.status

    page.goto(f"/chats/{chat_id}")
    expect(page.locator(MESSAGES)).to_have_count(50)
    expect(page.locator(MESSAGES).first).to_have_text(re.compile(r"\bseed 31\b"))
    expect(page.locator(MESSAGES).last).to_have_text(re.compile(r"\bseed 80\b"))
    expect(page.locator("#older")).to_be_attached()

    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    user_messages = page.locator("#messages > .msg--user")
    expect(user_messages).to_have_count(80)
    expect(page.locator("#older")).to_have_count(0)  # the whole history is shown: no more link

    ids = message_ids(page)
    assert ids == sorted(set(ids)), "messages out of order or duplicated"
    bodies = user_messages.locator(".msg-body").all_inner_texts()
    assert bodies == [f"seed {n}" for n in range(1, 81)]
    expect(page.locator("#messages > .msg--system")).to_have_count(1)  # "… created the chat"
    assert ids[0] == int(page.locator("#messages > .msg--system").get_attribute("data-id"))


@pytest.mark.parametrize("transport", ["socket", "polling"])
def test_a_sent_message_is_shown_once_after_two_polls(person, transport):
    alice = person()
    page = alice.page
    chat_id = alice.create_group(f"Once by {transport}")
    if transport == "socket":
        expect_live(page)
    else:
        without_socket(page)
        page.goto(f"/chats/{chat_id}")
    message_id = alice.send("only once, please").get_attribute("id")
    for _ in range(2):
        if transport == "socket":
            poll_now(page)  # the live page polls once a minute; run those polls now
        else:
            with poll_response(alice, chat_id):
                pass
    expect(page.locator(f"#{message_id}")).to_have_count(1)
    expect(page.locator(MESSAGES, has_text="only once, please")).to_have_count(1)
    expect(page.locator("#messages > .pending")).to_have_count(0)


def test_a_poll_answered_after_the_send_does_not_duplicate_the_message(person):
    """The race the de-duplication exists for: a poll asked before the send, answered after it."""
    alice = person()
    page = alice.page
    chat_id = alice.create_group("Race")
    # Leave the chat page first: it polls once a second after it loads (until its socket is live),
    # and a poll of that page, held below and then cancelled by the navigation, would never answer.
    page.goto("about:blank")
    without_socket(page)
    held = []

    def hold_first_poll(route):
        if held:
            route.continue_()
        else:
            held.append(route)
    page.route(re.compile(rf"/chats/{chat_id}/messages\?after="), hold_first_poll)
    page.goto(f"/chats/{chat_id}")
    deadline = time.monotonic() + 10
    while not held:  # the route handler runs while Playwright waits
        assert time.monotonic() < deadline, "the page did not poll"
        page.wait_for_timeout(50)

    message_id = alice.send("raced with a poll").get_attribute("id")
    # The held poll's own answer: on a slow machine the page's next poll (every second here)
    # can be answered first, and it rightly carries nothing new.
    with page.expect_response(lambda r: r.request == held[0].request) as late:
        held[0].continue_()
    assert "raced with a poll" in late.value.text(), "the held poll should have carried the message too"
    page.unroute(re.compile(rf"/chats/{chat_id}/messages\?after="))
    with poll_response(alice, chat_id):
        pass

    expect(page.locator(f"#{message_id}")).to_have_count(1)
    expect(page.locator(MESSAGES, has_text="raced with a poll")).to_have_count(1)
    ids = message_ids(page)
    assert ids == sorted(set(ids))


def test_a_live_preview_says_what_the_message_shows_and_the_server_lists_the_same(person):
    bob = person()
    alice = person()
    chat_id = alice.create_group("Plans", members=bob.username)
    expect_live(bob.page)
    preview = bob.page.locator(f"#chat-item-{chat_id} .preview")
    expect(preview).to_contain_text("added")

    # An event: its words, without the time its line ends in.
    alice.page.request.post(f"/chats/{chat_id}/rename", form={"name": "Trips", "csrf_token": alice.csrf_token()})
    said = f"{alice.display_name} renamed the chat to “Trips”"
    expect(preview).to_have_text(said)  # as it arrived over the socket
    refresh_chat_list(bob.page)
    expect(preview).to_have_text(said)  # as the server lists it

    # A message: the words it shows, not the Markdown typed.
    alice.send("the **big** news, `soon`")
    said = f"{alice.display_name}: the big news, soon"
    expect(preview).to_have_text(said)
    refresh_chat_list(bob.page)
    expect(preview).to_have_text(said)


def test_a_chat_list_poll_that_finds_nothing_changed_keeps_the_list_and_one_after_a_change_brings_it(person):
    bob = person()
    alice = person()
    chat_id = alice.create_group("Plans", members=bob.username)
    expect_live(bob.page)
    refresh_chat_list(bob.page)  # a list from the poll, which names its version (the socket's need not)

    def poll():
        bob.page.evaluate("document.getElementById('chat-list').dataset.before = 'poll'")
        with bob.page.expect_response(re.compile(r"/chats/list$")) as answer:
            bob.page.evaluate("htmx.trigger('#chat-list', 'poll')")
        return answer.value.status

    assert poll() == 204
    expect(bob.page.locator("#chat-list[data-before]")).to_have_count(1)  # nothing swapped

    alice.page.request.post(f"/chats/{chat_id}/rename", form={"name": "Trips", "csrf_token": alice.csrf_token()})
    assert poll() == 200
    expect(bob.page.locator("#chat-list[data-before]")).to_have_count(0)
    expect(bob.page.locator(f"#chat-item-{chat_id} .chat-title")).to_have_text("Trips")


def test_a_chat_list_counted_before_a_live_message_but_arriving_after_it_does_not_undo_it(person):
    bob = person()
    alice = person()
    chat_id = alice.create_group("Race", members=bob.username)
    expect_live(bob.page)
    badge, mentions = bob.page.locator(f"#unread-{chat_id}"), bob.page.locator(f"#mentions-{chat_id}")
    alice.send("one")
    expect(badge).to_have_text("1")

    # The list is answered now (one unread) but reaches the page only after the next message.
    held = HeldChatList(bob.page)
    alice.send(f"two, @{bob.username}")
    expect(badge).to_have_text("2")
    expect(mentions).to_have_text("@1")
    held.release()  # the older list is in

    expect(badge).to_have_text("2")
    expect(mentions).to_have_text("@1")
    expect(bob.page).to_have_title(re.compile(r"^\(2, @1\) "))
    # Reading the chat still clears both: the server's count then covers the live ones.
    bob.page.locator(f"#chat-item-{chat_id}").get_by_role("link").click()
    expect(badge).to_have_attribute("data-count", "0")
    expect(mentions).to_have_attribute("data-count", "0")


def test_a_chat_list_counted_before_the_chat_was_read_but_arriving_after_the_read_does_not_undo_it(person):
    bob = person()
    alice = person()
    chat_id = alice.create_group("Race", members=bob.username)
    expect_live(bob.page)
    badge, mentions = bob.page.locator(f"#unread-{chat_id}"), bob.page.locator(f"#mentions-{chat_id}")
    bob.page.locator(f"#chat-item-{chat_id}").get_by_role("link").click()
    expect(bob.page.locator("#messages")).to_have_attribute("data-chat-id", str(chat_id))
    bob.page.evaluate(HIDE_TAB)  # the chat is open but not seen: its messages stay unread
    alice.send("one")
    alice.send(f"two, @{bob.username}")
    expect(badge).to_have_text("2")
    expect(mentions).to_have_text("@1")

    # The list is answered now (two unread, one mention) but reaches the page only after bob read them.
    held = HeldChatList(bob.page)
    bob.page.evaluate(SHOW_TAB)
    expect(badge).to_have_attribute("data-count", "0")
    expect(mentions).to_have_attribute("data-count", "0")
    held.release()  # the older list is in

    expect(badge).to_have_attribute("data-count", "0")
    expect(badge).to_be_hidden()
    expect(mentions).to_have_attribute("data-count", "0")
    expect(bob.page).not_to_have_title(re.compile(r"^\("))
    expect(bob.page.locator(f"#chat-item-{chat_id}")).not_to_have_class(re.compile("chat-item--unread"))
    # New messages still count, on top of the read.
    bob.page.goto("/")
    expect_live(bob.page)
    alice.send("three")
    expect(badge).to_have_text("1")


def test_a_chat_list_made_before_a_live_message_but_arriving_after_it_keeps_its_preview_and_place(person):
    bob = person()
    alice = person()
    race = alice.create_group("Race", members=bob.username)
    other = alice.create_group("Other", members=bob.username)
    expect_live(bob.page)
    items = bob.page.locator("#chat-list .chat-item")
    expect(items.first).to_have_attribute("id", f"chat-item-{other}")
    preview = bob.page.locator(f"#chat-item-{race} .preview")

    # The list is answered now (Other on top, Race still "added") but reaches the page only later.
    held = HeldChatList(bob.page)
    alice.page.goto(f"/chats/{race}")
    alice.send("the live words")
    expect(preview).to_have_text(f"{alice.display_name}: the live words")
    expect(items.first).to_have_attribute("id", f"chat-item-{race}")
    held.release()  # the older list is in

    expect(preview).to_have_text(f"{alice.display_name}: the live words")
    expect(items.first).to_have_attribute("id", f"chat-item-{race}")
    # And a list made after the message says the same.
    refresh_chat_list(bob.page)
    expect(preview).to_have_text(f"{alice.display_name}: the live words")
    expect(items.first).to_have_attribute("id", f"chat-item-{race}")


@pytest.mark.parametrize("transport", ["socket", "polling"])
def test_the_unread_badge_counts_new_messages_and_clears_when_the_chat_is_opened(person, transport):
    bob = person()
    alice = person()
    if transport == "polling":
        without_socket(bob.page)
        bob.page.reload()
    chat_id = alice.create_group("Unread", members=bob.username)

    item = bob.page.locator(f"#chat-list #chat-item-{chat_id}")
    badge = item.locator(".badge")
    expect(item).to_contain_text("Unread")
    expect(badge).to_be_hidden()  # system messages ("created", "added") don't count

    alice.send("first")
    alice.send("second")
    expect(badge).to_be_visible()
    expect(badge).to_have_text("2")
    expect(item).to_have_class(re.compile(r"\bchat-item--unread\b"))
    expect(bob.page).to_have_title(re.compile(r"^\(2\) "))

    item.get_by_role("link").click()
    expect(bob.page.locator(f"#chat-pane.chat[data-chat-id='{chat_id}']")).to_be_visible()
    expect(bob.page.locator("#messages")).to_contain_text("second")
    expect(badge).to_be_hidden()
    expect(item).not_to_have_class(re.compile(r"\bchat-item--unread\b"))
    expect(bob.page).not_to_have_title(re.compile(r"^\("))

    # The server agrees: a fresh page has no badge either.
    bob.page.reload()
    expect(item).to_contain_text("second")
    expect(badge).to_be_hidden()

    if transport == "socket":
        # A chat opened by its address (a bookmark, a notification) is read too.
        bob.page.goto("/")
        alice.send("third")
        expect(badge).to_have_text("1")
        bob.page.goto(f"/chats/{chat_id}")
        expect(bob.page.locator("#messages")).to_contain_text("third")
        expect(badge).to_be_hidden()
        bob.page.goto("/")
        expect(item).to_contain_text("third")
        expect(badge).to_be_hidden()
