"""What people see of each other live, in a real browser: typing, presence, "Seen", unread badges
and the tab title across tabs, the "New messages" divider, desktop notifications, and hidden tabs.

Like test_browser_realtime.py, this module runs its own server whose pages poll only every 120 s
while the socket is up, so whatever appears within a test came over the socket.
"""
import re
import time
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .support import pages
from .support.browser import (
    HIDE_TAB,
    RECORD_NOTIFICATIONS,
    SHOW_TAB,
    BrowserPeople,
    expect_live,
    notified,
    post_messages,
)

pytestmark = pytest.mark.browser



@pytest.fixture
def person(chromium, server):
    """person() or person("bob", **context options) -> a page of a new signed-in user, live."""
    made = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    yield made
    made.close()


def another_tab(page, path: str = "/"):
    """A second page in the same browser context: the same user, the same cookies."""
    tab = page.context.new_page()
    tab.goto(path)
    tab.username, tab.name = page.username, page.name
    expect_live(tab)
    return tab


def to_dashboard(page) -> None:
    if urlsplit(page.url).path != "/":
        page.goto("/")
        expect_live(page)


def create_group(owner, *others, name: str | None = None) -> int:
    """The owner creates a group with the others from the welcome pane and lands in it."""
    to_dashboard(owner)
    owner.fill("input[name=name]", name or f"room {uuid.uuid4().hex[:4]}")
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def open_dm(owner, other) -> int:
    to_dashboard(owner)
    owner.fill("form[action$='/dm'] input[name=username]", other.username)
    owner.click("text=Open conversation")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def open_from_list(page, chat_id: int) -> None:
    """Click the chat in the sidebar (htmx navigation, as a person does)."""
    page.click(f"#chat-list a[data-chat-id='{chat_id}']")
    expect(page.locator("#messages")).to_have_attribute("data-chat-id", str(chat_id))
    expect_live(page)


def send(page, text: str) -> int:
    """Type and send a message; its id once the page shows it stored."""
    page.fill("#composer textarea", text)
    page.keyboard.press("Enter")
    message = page.locator("#messages > .msg", has_text=text)
    expect(message).to_have_count(1)
    expect(page.locator(".pending")).to_have_count(0)
    return int(message.get_attribute("data-id"))


def typing_words(page, chat_id: int) -> str:
    """The words the typing line shows: text in its live region, which screen readers announce."""
    return page.locator(f'.typing-words[aria-live="polite"][data-typing-for="{chat_id}"]').inner_text()


def unread_from_server(page, chat_id: int) -> int:
    """The chat's unread count as the server has it (the dashboard, fetched with the page's cookies)."""
    response = page.request.get("/")
    assert response.ok
    (entry,) = [e for e in pages.chat_list(response.text()) if e["id"] == chat_id]
    return entry["unread"]


# ----- typing ------------------------------------------------------------------------------------

def test_the_other_member_sees_who_is_typing_until_they_send_and_a_lost_stop_fades_after_six_seconds(person):
    alice, bob = person(), person()
    # Alice's page loses every "stop" it sends, as when a frame is dropped on the way.
    dropped = []

    def route(ws):
        server = ws.connect_to_server()

        def to_server(message):
            if '"typing"' in str(message) and '"stop"' in str(message):
                dropped.append(message)
            else:
                server.send(message)
        ws.on_message(to_server)

    alice.route_web_socket("**/socket", route)
    chat_id = create_group(alice, bob)
    open_from_list(bob, chat_id)
    typing = bob.locator(f"#typing-{chat_id}")

    alice.locator("#composer textarea").press_sequentially("hello th")
    typed = time.monotonic()
    expect(typing).to_have_attribute("data-words", f"{alice.name} is typing…", timeout=3_000)
    assert typing_words(bob, chat_id) == f"{alice.name} is typing…"
    assert typing_words(alice, chat_id) == "", "the typist sees themself typing"
    # Alice stops; her page's "stop" (5 s later) is lost: Bob's line fades by itself ~6 s after the signal.
    expect(typing).to_have_attribute("data-words", "", timeout=9_000)
    faded = time.monotonic() - typed
    assert 5.0 < faded < 8.5, f"the typing line faded after {faded:.1f} s"
    assert dropped, "alice's page sent no stop"
    assert typing_words(bob, chat_id) == ""

    alice.locator("#composer textarea").press_sequentially("ere bob")
    expect(typing).to_have_attribute("data-words", f"{alice.name} is typing…", timeout=3_000)
    alice.keyboard.press("Enter")
    expect(bob.locator("#messages > .msg", has_text="hello there bob")).to_have_count(1)
    expect(typing).to_have_attribute("data-words", "", timeout=1_500)  # at once, not after 6 s
    assert typing_words(bob, chat_id) == ""


# ----- presence ----------------------------------------------------------------------------------

def test_a_dm_header_shows_the_partner_online_and_last_seen_just_now_soon_after_they_close_their_page(person):
    alice, bob = person(), person()
    chat_id = open_dm(alice, bob)
    bob.goto(f"/chats/{chat_id}")
    expect_live(bob)
    alice_header = alice.locator(".chat-header .presence")
    expect(alice_header).to_have_text("online")
    expect(bob.locator(".chat-header .presence")).to_have_text("online")
    expect(alice.locator(f"#chat-item-{chat_id} .presence")).to_have_text("online")

    bob.close()
    closed = time.monotonic()
    expect(alice_header).to_have_text("last seen just now", timeout=10_000)
    print(f"alice saw bob offline {time.monotonic() - closed:.1f} s after he closed his page")
    expect(alice.locator(f"#chat-item-{chat_id} .presence")).to_have_text("last seen just now")

    # Back again (a new page in his browser): online at once, without alice reloading.
    bob_again = bob.context.new_page()
    bob_again.goto("/")
    expect(alice_header).to_have_text("online", timeout=3_000)


# ----- receipts ----------------------------------------------------------------------------------

def test_in_a_group_the_sender_sees_seen_by_the_reader_and_their_message_marked_seen(person):
    alice, bob, carol = person(), person(), person()
    chat_id = create_group(alice, bob, carol)
    message = send(alice, "did you read this?")
    mine = alice.locator(f"#m-{message}")
    receipt = mine.locator(".msg-receipt")
    # Bob's and Carol's pages got it over their sockets (on the dashboard): delivered, not seen.
    expect(mine).to_have_attribute("data-delivery", "delivered", timeout=4_000)
    expect(receipt).to_have_text("Delivered")

    open_from_list(bob, chat_id)
    expect(receipt).to_have_text(f"Seen by {bob.name}", timeout=4_000)
    expect(mine).to_have_attribute("data-delivery", "seen")
    expect(mine.locator(".msg-meta")).to_be_visible()
    mine.hover()  # its state is said once, in the words under it, not again beside its time
    mark = alice.evaluate(
        "id => getComputedStyle(document.querySelector('#m-' + id + ' .msg-meta'), '::after').content", message)
    assert mark == "none"

    open_from_list(carol, chat_id)
    both = re.compile(rf"^Seen by ({bob.name}, {carol.name}|{carol.name}, {bob.name})$")
    expect(receipt).to_have_text(both, timeout=4_000)
    # The readers have no message of theirs here: no receipt on their pages.
    expect(bob.locator(".msg-receipt")).to_have_count(0)


def test_last_seen_keeps_counting_in_the_servers_words_while_the_page_stays_open(person):
    alice, bob = person(), person()
    chat_id = open_dm(alice, bob)
    alice.clock.install()  # the page's time, moved on below; it runs on meanwhile
    alice.reload()
    expect_live(alice)
    header = alice.locator(".chat-header .presence")
    listed = alice.locator(f"#chat-item-{chat_id} .presence")
    expect(header).to_have_text("online")

    bob.close()
    expect(header).to_have_text("last seen just now", timeout=10_000)
    words = header.get_attribute("data-words")
    assert words and "last seen 1 min ago" in words  # the server's words for what comes next

    alice.clock.fast_forward("02:30")
    expect(header).to_have_text("last seen 2 min ago")
    expect(listed).to_have_text("last seen 2 min ago")


def test_in_a_dm_the_sender_sees_seen_by_the_other(person):
    alice, bob = person(), person()
    chat_id = open_dm(alice, bob)
    message = send(alice, "just between us")
    receipt = alice.locator(f"#m-{message} .msg-receipt")
    expect(receipt).not_to_have_text(re.compile("Seen"))
    open_from_list(bob, chat_id)
    expect(receipt).to_have_text(f"Seen by {bob.name}", timeout=4_000)
    expect(alice.locator(f"#m-{message}")).to_have_attribute("data-delivery", "seen")


# ----- unread counts -----------------------------------------------------------------------------

def test_unread_badges_and_titles_agree_across_two_tabs_and_clear_in_both_when_one_opens_the_chat(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob, name="Budget")
    other_chat = create_group(bob, name="Bob's notes")  # where bob's first tab is
    first = bob
    second = another_tab(bob, "/")
    badges = [tab.locator(f"#unread-{chat_id}") for tab in (first, second)]
    for badge in badges:
        expect(badge).to_have_attribute("data-count", "0")

    second.evaluate("window.notReloaded = true")

    send(alice, "first of two")
    send(alice, "second of two")
    for tab, badge in zip((first, second), badges, strict=True):
        expect(badge).to_have_text("2")
        expect(badge).to_be_visible()
        expect(tab.locator(f"#chat-item-{chat_id}")).to_have_class("chat-item chat-item--unread")
        expect(tab).to_have_title(re.compile(r"^\(2\) "))
    assert first.locator("#messages").get_attribute("data-chat-id") == str(other_chat)
    assert unread_from_server(first, chat_id) == 2

    open_from_list(first, chat_id)
    for tab, badge in zip((first, second), badges, strict=True):
        expect(badge).to_have_attribute("data-count", "0")
        expect(badge).to_be_hidden()
        expect(tab.locator(f"#chat-item-{chat_id}")).to_have_class("chat-item")
    expect(second).to_have_title("webchat")
    expect(first).not_to_have_title(re.compile(r"^\("))
    assert unread_from_server(second, chat_id) == 0
    assert second.evaluate("window.notReloaded") is True


def test_opening_a_chat_with_unread_messages_shows_the_new_messages_divider_at_the_first_unread(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    first = send(alice, "read on the first visit")
    open_from_list(bob, chat_id)  # everything but the system messages is new to bob
    expect(bob.locator("#new-divider")).to_have_count(1)
    assert bob.evaluate("document.getElementById('new-divider').nextElementSibling.id") == f"m-{first}"
    expect(bob.locator(f"#unread-{chat_id}")).to_have_attribute("data-count", "0")
    bob.goto("/")
    expect_live(bob)

    first_unread = send(alice, "new one")
    send(alice, "newer one")
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("2")
    open_from_list(bob, chat_id)
    divider = bob.locator("#new-divider")
    expect(divider).to_have_text("New messages")
    expect(divider).to_be_visible()
    assert bob.evaluate("document.getElementById('new-divider').nextElementSibling.id") == f"m-{first_unread}"
    assert bob.evaluate("document.getElementById('new-divider').previousElementSibling.id") == f"m-{first}"

    # Read now: opening the chat again shows no divider.
    expect(bob.locator(f"#unread-{chat_id}")).to_have_attribute("data-count", "0")
    bob.goto(f"/chats/{chat_id}")
    expect(bob.locator("#messages > .msg", has_text="newer one")).to_have_count(1)
    expect(bob.locator("#new-divider")).to_have_count(0)


# ----- notifications -----------------------------------------------------------------------------

def test_desktop_notifications_for_chats_not_in_view_and_with_mentions_only_just_mentions(person):
    alice = person()
    bob = person(permissions=["notifications"])
    assert bob.evaluate("Notification.permission") == "granted"
    other = create_group(alice, bob, name="Other")
    chat_id = create_group(alice, bob, name="Plans")
    elsewhere = create_group(bob, name="Bob's notes")
    bob.evaluate(RECORD_NOTIFICATIONS)

    # Bob is looking at another chat: a message of Plans notifies, naming Alice and the chat.
    assert bob.evaluate("window.webchat.lastNotification") is None
    send(alice, "lunch at noon?")
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("1")
    note = notified(bob, "lunch at noon?")
    assert note == {"chatId": chat_id, "threadId": None, "title": f"{alice.name} in Plans", "body": "lunch at noon?"}

    # With Plans in view, nothing notifies.
    open_from_list(bob, chat_id)
    send(alice, "see you there")
    expect(bob.locator("#messages > .msg", has_text="see you there")).to_have_count(1)
    post_messages(alice, other, ["and in Other"])
    notified(bob, "and in Other")
    assert bob.evaluate("window.notified") == [chat_id, other]

    # Mentions only: a plain message stays quiet, one naming Bob notifies.
    bob.click(f"a[href='/chats/{chat_id}/members']")
    bob.select_option("select[name=notify]", "mentions")
    bob.click("form[action$='/notifications'] button[type=submit]")
    expect(bob.locator("#chat-pane")).to_contain_text("Notification setting saved.")
    open_from_list(bob, elsewhere)
    send(alice, "nothing for bob here")
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("1")
    post_messages(alice, other, ["again in Other"])
    notified(bob, "again in Other")
    send(alice, f"@{bob.username} are you coming?")
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("2")
    note = notified(bob, f"@{bob.username} are you coming?")
    assert note["chatId"] == chat_id
    assert bob.evaluate("window.notified") == [chat_id, other, other, chat_id]


def test_a_visible_tab_on_the_chat_holds_back_the_notifications_of_the_persons_other_tabs(person):
    alice, bob = person(), person(permissions=["notifications"])
    other = create_group(alice, bob, name="Other")
    chat_id = create_group(alice, bob, name="Shared")
    open_from_list(bob, chat_id)  # seen here
    dashboard = another_tab(bob)
    dashboard.evaluate(RECORD_NOTIFICATIONS)

    send(alice, "seen in the first tab")
    post_messages(alice, other, ["in Other"])
    notified(dashboard, "in Other")
    assert dashboard.evaluate("window.notified") == [other]

    bob.evaluate(HIDE_TAB)  # the first tab goes to the background: now nothing shows Shared
    send(alice, "seen nowhere")
    assert notified(dashboard, "seen nowhere")["chatId"] == chat_id


# ----- hidden tabs -------------------------------------------------------------------------------

def test_a_hidden_tab_showing_the_chat_does_not_mark_new_messages_read_until_it_is_shown_again(person):
    alice, bob = person(), person(permissions=["notifications"])
    chat_id = create_group(alice, bob, name="Quiet")
    open_from_list(bob, chat_id)
    bob.evaluate(HIDE_TAB)
    assert bob.evaluate("document.visibilityState") == "hidden"

    send(alice, "while you were away")
    expect(bob.locator("#messages > .msg", has_text="while you were away")).to_have_count(1)
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("1")
    expect(bob).to_have_title(re.compile(r"^\(1\) "))
    bob.wait_for_timeout(800)  # longer than the page's read debounce
    assert unread_from_server(bob, chat_id) == 1
    # The chat is open but not seen: it notifies, as for a chat not in view.
    notified(bob, "while you were away")

    bob.evaluate(SHOW_TAB)
    expect(bob.locator(f"#unread-{chat_id}")).to_have_attribute("data-count", "0")
    expect(bob).not_to_have_title(re.compile(r"^\("))
    assert unread_from_server(bob, chat_id) == 0
