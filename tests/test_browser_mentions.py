"""Mentions in a real browser: the composer's @ list (keys and clicks), the "@1" badge live on the
other person's page, the highlight when they open the chat, notifications by the chat's setting,
and a page that was cut off converging to the same badge after it reconnects or polls.

Like test_browser_live.py, this module runs its own server whose pages poll only every 120 s
while the socket is up (every 2 s while it is down), so whatever appears within a test while a
page is live came over the socket.
"""
import re

import pytest
from playwright.sync_api import expect

from .support import pages
from .support.browser import RECORD_NOTIFICATIONS, BrowserPeople, expect_live, notified, post_messages

pytestmark = pytest.mark.browser

MENTION_BG = "rgb(255, 247, 219)"  # --mention-bg in app.css
NO_BG = "rgba(0, 0, 0, 0)"


@pytest.fixture
def person(chromium, server):
    """person() or person("bob", **context options) -> a page of a new signed-in user, live."""
    made = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    yield made
    made.close()


def create_group(owner, *others, name: str) -> int:
    owner.goto("/")
    expect_live(owner)
    owner.fill("input[name=name]", name)
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def open_from_list(page, chat_id: int) -> None:
    page.click(f"#chat-list a[data-chat-id='{chat_id}']")
    expect(page.locator("#messages")).to_have_attribute("data-chat-id", str(chat_id))
    expect_live(page)


def composer(page):
    return page.locator("#composer textarea")


def options(page) -> list[str]:
    return page.eval_on_selector_all("#mention-list .mention-option", "els => els.map(e => e.dataset.username)")


def chosen(page) -> str | None:
    return page.eval_on_selector_all(
        "#mention-list .mention-option[aria-selected=true]", "els => els.map(e => e.dataset.username)[0] || null")


def background(page, message_id: int) -> str:
    return page.evaluate("id => getComputedStyle(document.getElementById('m-' + id)).backgroundColor", message_id)


def from_server(page, chat_id: int) -> dict:
    """The chat's list entry as the server has it now (the dashboard, with the page's cookies)."""
    response = page.request.get("/")
    assert response.ok
    (entry,) = [e for e in pages.chat_list(response.text()) if e["id"] == chat_id]
    return entry


def send_mention(page, prefix: str, text: str) -> int:
    """Type "@" and a prefix, pick the first suggestion with Enter, add text, send; the message id."""
    box = composer(page)
    box.click()
    box.press_sequentially("@" + prefix)
    expect(page.locator("#mention-list")).to_be_visible()
    box.press("Enter")
    box.press_sequentially(text)
    box.press("Enter")
    message = page.locator("#messages > .msg", has_text=text)
    expect(message).to_have_count(1)
    return int(message.get_attribute("data-id"))


# ----- choosing from the list ------------------------------------------------------------------

def test_alice_picks_bob_with_enter_and_bob_sees_at_1_live_then_the_highlight_and_the_badge_clears(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob, name="Plans")
    elsewhere = create_group(bob, name="Bob's notes")  # bob looks at another chat
    badge = bob.locator(f"#mentions-{chat_id}")
    expect(badge).to_be_hidden()

    box = composer(alice)
    box.press_sequentially("@bo")
    expect(alice.locator("#mention-list")).to_be_visible()
    expect(alice.locator("#mention-list .mention-option")).to_have_text([f"Bob {bob.username[3:]} @{bob.username}"])
    assert chosen(alice) == bob.username
    box.press("Enter")  # chooses: does not send
    expect(box).to_have_value(f"@{bob.username} ")
    expect(alice.locator("#mention-list")).to_be_hidden()
    alice.wait_for_timeout(300)
    expect(alice.locator("#messages > .msg--user")).to_have_count(0)
    expect(alice.locator(".pending")).to_have_count(0)

    box.press_sequentially("see this")
    box.press("Enter")
    sent = alice.locator("#messages > .msg", has_text="see this")
    expect(sent).to_have_count(1)
    expect(sent.locator(f".mention[data-user='{bob.username}']")).to_have_text(f"@{bob.username}")
    message_id = int(sent.get_attribute("data-id"))
    assert background(alice, message_id) == NO_BG  # a mention of bob is not highlighted for alice

    # Bob's page, on another chat: "@1" beside the unread count, and in the tab title.
    expect(badge).to_have_text("@1")
    expect(badge).to_be_visible()
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("1")
    expect(bob).to_have_title(re.compile(r"^\(1, @1\) "))
    assert bob.locator("#messages").get_attribute("data-chat-id") == str(elsewhere)
    assert from_server(bob, chat_id)["mentions"] == 1

    open_from_list(bob, chat_id)
    message = bob.locator(f"#m-{message_id}")
    expect(message).to_be_visible()
    assert background(bob, message_id) == MENTION_BG
    expect(badge).to_have_attribute("data-count", "0")
    expect(badge).to_be_hidden()
    expect(bob).not_to_have_title(re.compile(r"^\("))
    assert from_server(bob, chat_id)["mentions"] == 0


def test_arrows_move_tab_and_click_choose_escape_closes_and_then_enter_sends(person):
    alice, bob, bonnie = person("alice"), person("bob"), person("bonnie")
    create_group(alice, bob, bonnie, name="Trio")
    box = composer(alice)
    listbox = alice.locator("#mention-list")

    box.press_sequentially("hi @bo")
    expect(alice.locator("#mention-list .mention-option")).to_have_count(2)
    assert options(alice) == [bob.username, bonnie.username]
    assert chosen(alice) == bob.username
    box.press("ArrowDown")
    assert chosen(alice) == bonnie.username
    assert alice.evaluate("document.querySelector('#composer textarea').getAttribute('aria-activedescendant')") \
        == f"mention-option-{bonnie.username}"
    box.press("ArrowDown")  # wraps around
    assert chosen(alice) == bob.username
    box.press("ArrowUp")
    assert chosen(alice) == bonnie.username
    box.press("Tab")
    expect(box).to_have_value(f"hi @{bonnie.username} ")
    expect(listbox).to_be_hidden()
    assert alice.evaluate("document.activeElement.name") == "body"

    # A click chooses too, and the caret stays in the composer.
    box.press_sequentially("and @b")
    expect(alice.locator("#mention-list .mention-option")).to_have_count(2)
    alice.click(f"#mention-option-{bob.username}")
    expect(box).to_have_value(f"hi @{bonnie.username} and @{bob.username} ")
    box.press_sequentially("x")
    expect(box).to_have_value(f"hi @{bonnie.username} and @{bob.username} x")

    # Escape closes the list; Enter then sends as usual.
    box.press_sequentially(" @bon")
    expect(listbox).to_be_visible()
    box.press("Escape")
    expect(listbox).to_be_hidden()
    box.press("Enter")
    sent = alice.locator("#messages > .msg--user")
    expect(sent).to_have_count(1)
    expect(sent.locator(".mention")).to_have_count(2)
    expect(box).to_have_value("")

    # An "@" inside a word (an address) asks nothing; a name nobody has says so and Enter still sends.
    box.press_sequentially("mail me at me@bo")
    alice.wait_for_timeout(400)
    expect(listbox).to_be_hidden()
    box.fill("")
    box.press_sequentially("@nobody")
    expect(listbox).to_contain_text("No one else in this chat is called “@nobody…”")
    box.press("Enter")
    expect(alice.locator("#messages > .msg--user")).to_have_count(2)
    expect(listbox).to_be_hidden()


# ----- notifications ---------------------------------------------------------------------------

def test_a_mention_notifies_with_all_and_mentions_only_but_never_in_a_muted_chat_where_it_still_counts(person):
    alice = person("alice")
    bob = person("bob", permissions=["notifications"])
    other = create_group(alice, bob, name="Other")
    chat_id = create_group(alice, bob, name="Plans")
    create_group(bob, name="Bob's notes")

    send_mention(alice, "bo", "with all")
    expect(bob.locator(f"#mentions-{chat_id}")).to_have_text("@1")
    note = notified(bob, f"@{bob.username} with all")
    assert note["chatId"] == chat_id

    for level, notifies in (("mentions", True), ("none", False)):
        assert bob.request.post(f"/chats/{chat_id}/notifications", form={
            "notify": level, "csrf_token": bob.input_value("#composer input[name=csrf_token]")}).ok
        bob.reload()  # (the list shows the level; the server decides by it)
        expect_live(bob)
        expect(bob.locator(f"#chat-item-{chat_id}")).to_have_attribute("data-notify", level)
        bob.evaluate(RECORD_NOTIFICATIONS)
        before = int(bob.locator(f"#mentions-{chat_id}").get_attribute("data-count"))
        send_mention(alice, "bo", f"with {level}")
        expect(bob.locator(f"#mentions-{chat_id}")).to_have_text(f"@{before + 1}")
        # Then a message of Other, which notifies: the server sends notices in the order of their
        # messages, so what was shown before it says whether the mention notified.
        post_messages(alice, other, [f"after {level}"])
        notified(bob, f"after {level}")
        expected = [chat_id, other] if notifies else [other]
        assert bob.evaluate("window.notified") == expected


def cut_socket(page):
    """Route the page's sockets through the test; returns controls to cut and restore them.

    Playwright runs the handler on its dispatcher: it may only start things, so sockets are
    closed from the test's own thread. While held, new sockets open and never answer.
    """
    sockets = {"held": False, "all": []}

    def route(ws):
        sockets["all"].append(ws)
        if not sockets["held"]:
            ws.connect_to_server()

    page.route_web_socket("**/socket", route)
    page.goto("/")
    expect_live(page)

    def cut():
        sockets["held"] = True
        sockets["all"][-1].close(code=1011, reason="cut by the test")
        expect(page.locator("#connection")).not_to_have_attribute("data-state", "live")

    def restore():
        sockets["held"] = False
        for ws in list(sockets["all"]):
            ws.close(code=1011, reason="cut by the test")  # the page reconnects, this time to the server

    return cut, restore


def test_a_page_whose_socket_was_cut_catches_up_to_at_1_when_it_reconnects(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob, name="Plans")
    cut, restore = cut_socket(bob)
    # Polls while away answer "nothing new" (204), so what bob gets comes from the reconnect.
    bob.route("**/chats/list", lambda route: route.fulfill(status=204))
    cut()

    send_mention(alice, "bo", "while you were away")
    bob.wait_for_timeout(2500)
    expect(bob.locator(f"#mentions-{chat_id}")).to_have_attribute("data-count", "0")

    restore()
    expect_live(bob)
    expect(bob.locator(f"#mentions-{chat_id}")).to_have_text("@1")
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("1")
    assert from_server(bob, chat_id) | {"preview": None} == {
        "id": chat_id, "title": "Plans", "preview": None, "unread": 1, "mentions": 1}

    # Live again: the next mention counts at once.
    send_mention(alice, "bo", "and now live")
    expect(bob.locator(f"#mentions-{chat_id}")).to_have_text("@2")


def test_a_page_without_its_socket_reaches_at_1_by_polling(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob, name="Plans")
    cut, _ = cut_socket(bob)
    cut()
    expect(bob.locator("#connection")).to_have_attribute("data-state", "polling", timeout=15_000)

    send_mention(alice, "bo", "by polling")
    expect(bob.locator(f"#mentions-{chat_id}")).to_have_text("@1", timeout=10_000)
    expect(bob).to_have_title(re.compile(r"^\(1, @1\) "))
    assert from_server(bob, chat_id)["mentions"] == 1
    expect(bob.locator("#connection")).to_have_attribute("data-state", "polling")
