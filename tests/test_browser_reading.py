"""Where the reader is, in a real browser: older history loads without moving the message being
read, live messages follow a reader at the bottom and wait behind "N new messages ↓" for one who
scrolled up, a chat opens at its first unread message, a permalink centred, and the open chat is
marked in the list and named in the tab's title.

This module runs its own server whose pages poll only every 120 s while the socket is up, so
whatever appears within a test came over the socket.
"""
import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .support.browser import BrowserPeople, expect_live, post_messages

pytestmark = pytest.mark.browser

USER_MESSAGES = "#messages > .msg--user"


@pytest.fixture
def person(chromium, server):
    """person() or person("bob", **context options) -> a page of a new signed-in user, live."""
    made = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    yield made
    made.close()


def create_group(owner, *others, name: str | None = None) -> int:
    """The owner creates a group with the others from the welcome pane and lands in it."""
    if urlsplit(owner.url).path != "/":
        owner.goto("/")
    owner.fill("input[name=name]", name or f"room {uuid.uuid4().hex[:4]}")
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def open_chat(page, chat_id: int) -> None:
    page.goto(f"/chats/{chat_id}")
    expect_live(page)


def open_from_list(page, chat_id: int) -> None:
    """Click the chat in the sidebar (htmx navigation, as a person does)."""
    page.click(f"#chat-list a[data-chat-id='{chat_id}']")
    expect(page.locator("#messages")).to_have_attribute("data-chat-id", str(chat_id))


def send(page, text: str) -> int:
    """Type and send a message; its id once the page shows it stored."""
    page.fill("#composer textarea", text)
    page.keyboard.press("Enter")
    message = page.locator("#messages > .msg", has_text=text)
    expect(message).to_have_count(1)
    return int(message.get_attribute("data-id"))


def next_frames(page) -> None:
    """Let the page draw twice: scroll events, scroll anchoring and intersections have run."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def place_in_view(page, message_id: int) -> float:
    """Where message_id's text is, in px below the top of the visible part of the messages (its
    header may go when an older page brings a message of the same author just before it)."""
    return page.evaluate("""id => {
      const box = document.getElementById("messages").getBoundingClientRect();
      const msg = document.getElementById("m-" + id);
      return (msg.querySelector(".msg-body") || msg).getBoundingClientRect().top - box.top;
    }""", message_id)


def scroll_to_top(page, message_id: int) -> float:
    """Scroll the messages up to their top (as a reader does to see what came before): the
    "Load older messages" link comes into view. Where message_id is then, measured at once."""
    page.locator("#messages").evaluate("el => { el.scrollTop = 0; }")
    return place_in_view(page, message_id)


def scroll_to(page, message_id: int) -> float:
    """Scroll so message_id is at the top of the view; where it is then."""
    page.evaluate("id => document.getElementById('m-' + id).scrollIntoView({block: 'start'})", message_id)
    next_frames(page)
    return place_in_view(page, message_id)


def at_bottom(page) -> bool:
    return page.locator("#messages").evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight < 2")


def expect_at_bottom(page) -> None:
    page.wait_for_function("""() => {
      const el = document.getElementById("messages");
      return el.scrollHeight - el.scrollTop - el.clientHeight < 2;
    }""")


def in_view(page, message_id: int) -> bool:
    """Whether the message is wholly inside the visible part of the messages."""
    return page.evaluate("""id => {
      const box = document.getElementById("messages").getBoundingClientRect();
      const r = document.getElementById("m-" + id).getBoundingClientRect();
      return r.top >= box.top - 1 && r.bottom <= box.bottom + 1;
    }""", message_id)


# ----- older history ---------------------------------------------------------------------

def test_loading_older_history_keeps_the_message_read_in_place_for_its_writer_and_for_one_who_wrote_none(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    alice.goto("/")
    ids = post_messages(alice, chat_id, [f"message {n}" for n in range(1, 151)])
    number = dict(zip(range(1, 151), ids, strict=True))
    open_chat(bob, chat_id)  # bob has read them: the chat opens at its newest message
    expect(bob.locator(f"#unread-{chat_id}")).to_have_attribute("data-count", "0")

    for reader in (alice, bob):  # alice wrote all 150; bob wrote none of them
        open_chat(reader, chat_id)
        expect(reader.locator(USER_MESSAGES)).to_have_count(50)
        expect(reader.locator(USER_MESSAGES).first).to_have_id(f"m-{number[101]}")

        where = scroll_to_top(reader, number[101])  # reading #101, the link to older ones comes into view
        expect(reader.locator(USER_MESSAGES)).to_have_count(100)
        next_frames(reader)
        assert abs(place_in_view(reader, number[101]) - where) <= 2, reader.username
        assert not in_view(reader, number[51])  # not thrown to the first message loaded
        expect(reader.locator(USER_MESSAGES)).to_have_count(100)  # nor loading the next page at once

        where = scroll_to_top(reader, number[51])  # and again, the next page
        expect(reader.locator(USER_MESSAGES)).to_have_count(150)
        next_frames(reader)
        assert abs(place_in_view(reader, number[51]) - where) <= 2, reader.username
        texts = reader.locator(f"{USER_MESSAGES} .msg-body").all_inner_texts()
        assert texts == [f"message {n}" for n in range(1, 151)]


def test_older_history_loaded_while_reading_in_the_middle_of_the_view_keeps_that_message_in_place(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    ids = post_messages(alice, chat_id, [f"line {n}" for n in range(1, 81)])
    open_chat(alice, chat_id)
    expect(alice.locator(USER_MESSAGES)).to_have_count(50)

    alice.evaluate("id => document.getElementById('m-' + id).scrollIntoView({block: 'center'})", ids[39])
    next_frames(alice)
    where = place_in_view(alice, ids[39])  # line 40, in the middle of the view
    alice.locator("#older a").evaluate("a => a.click()")  # where it is, without scrolling to it
    expect(alice.locator(USER_MESSAGES)).to_have_count(80)
    next_frames(alice)
    assert abs(place_in_view(alice, ids[39]) - where) <= 2


def test_a_chat_with_more_unread_than_a_page_opens_at_its_first_unread_message(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    ids = post_messages(alice, chat_id, [f"unread {n}" for n in range(1, 81)])

    open_chat(bob, chat_id)  # 80 unread, more than the 50 a page holds: all of them are there
    expect(bob.locator(USER_MESSAGES)).to_have_count(80)
    next_frames(bob)
    assert bob.evaluate("document.getElementById('new-divider').nextElementSibling.id") == f"m-{ids[0]}"
    top, height = bob.evaluate("""() => {
      const box = document.getElementById("messages");
      return [document.getElementById("new-divider").getBoundingClientRect().top - box.getBoundingClientRect().top,
              box.clientHeight];
    }""")
    assert 0 <= top <= height / 4, (top, height)
    expect(bob.locator("#jump-latest")).to_be_visible()


# ----- live messages ---------------------------------------------------------------------

def test_a_live_message_follows_a_reader_at_the_bottom_and_waits_behind_a_control_for_one_scrolled_up(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    ids = post_messages(alice, chat_id, [f"earlier {n}" for n in range(1, 41)])
    open_chat(bob, chat_id)  # read once
    expect(bob.locator(f"#unread-{chat_id}")).to_have_attribute("data-count", "0")
    open_chat(bob, chat_id)
    jump = bob.locator("#jump-latest")
    expect_at_bottom(bob)  # no unread: the chat opens at its newest message
    expect(jump).to_be_hidden()
    bob.set_viewport_size({"width": 1100, "height": 520})  # less room (a phone's keyboard opening)
    expect_at_bottom(bob)

    at_the_bottom = send(alice, "while bob is at the bottom")
    expect(bob.locator(f"#m-{at_the_bottom}")).to_be_visible()
    expect_at_bottom(bob)
    expect(jump).to_be_hidden()

    where = scroll_to(bob, ids[20])  # bob reads back
    send(alice, "one while bob reads back")
    send(alice, "two while bob reads back")
    expect(jump).to_have_text("2 new messages ↓")
    expect(jump).to_be_visible()
    next_frames(bob)
    assert abs(place_in_view(bob, ids[20]) - where) <= 2  # the view did not move
    assert not at_bottom(bob)

    jump.click()
    expect_at_bottom(bob)
    expect(jump).to_be_hidden()

    # Reaching the bottom by scrolling also puts the control away.
    scroll_to(bob, ids[20])
    send(alice, "three while bob reads back")
    expect(jump).to_have_text("1 new message ↓")
    bob.locator("#messages").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    expect(jump).to_be_hidden()

    # One's own message always goes to the bottom, wherever one was reading.
    scroll_to(bob, ids[20])
    own = send(bob, "bob's own reply")
    expect_at_bottom(bob)
    assert in_view(bob, own)
    expect(jump).to_be_hidden()


# ----- opening a chat --------------------------------------------------------------------

def test_a_chat_with_thirty_unread_opens_at_the_new_messages_divider_near_the_top_with_jump_to_latest(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    post_messages(alice, chat_id, [f"read {n}" for n in range(1, 21)])
    open_chat(bob, chat_id)
    expect(bob.locator(f"#unread-{chat_id}")).to_have_attribute("data-count", "0")
    bob.goto("/")
    expect_live(bob)

    unread = post_messages(alice, chat_id, [f"unread {n}" for n in range(1, 31)])
    expect(bob.locator(f"#unread-{chat_id}")).to_have_text("30")
    open_from_list(bob, chat_id)

    divider = bob.locator("#new-divider")
    expect(divider).to_be_visible()
    assert bob.evaluate("document.getElementById('new-divider').nextElementSibling.id") == f"m-{unread[0]}"
    next_frames(bob)
    top, height = bob.evaluate("""() => {
      const box = document.getElementById("messages");
      return [document.getElementById("new-divider").getBoundingClientRect().top - box.getBoundingClientRect().top,
              box.clientHeight];
    }""")
    assert 0 <= top <= height / 4, (top, height)
    assert in_view(bob, unread[0])
    jump = bob.locator("#jump-latest")
    expect(jump).to_have_text("Jump to latest ↓")

    jump.click()
    expect_at_bottom(bob)
    assert in_view(bob, unread[-1])
    expect(jump).to_be_hidden()


def test_a_permalink_opens_with_its_message_centred_and_highlighted(person):
    alice, bob = person(), person()
    chat_id = create_group(alice, bob)
    ids = post_messages(alice, chat_id, [f"point {n}" for n in range(1, 61)])
    linked = ids[29]

    bob.goto(f"/chats/{chat_id}/messages/{linked}")
    expect_live(bob)
    message = bob.locator(f"#m-{linked}")
    expect(message).to_have_class(re.compile(r"\bmsg--highlight\b"))
    next_frames(bob)
    offset = bob.evaluate("""id => {
      const box = document.getElementById("messages").getBoundingClientRect();
      const r = document.getElementById("m-" + id).getBoundingClientRect();
      return (r.top + r.bottom) / 2 - (box.top + box.bottom) / 2;
    }""", linked)
    assert abs(offset) <= 2, offset
    expect(bob.locator("#jump-latest")).to_be_visible()  # newer messages are out of sight below


# ----- the open chat: list and title -----------------------------------------------------

def test_the_open_chat_is_marked_in_the_list_and_named_in_the_title_as_chats_are_switched(person):
    alice, bob = person(), person()
    design = create_group(alice, bob, name="design")
    ops = create_group(alice, bob, name="ops")  # alice is in ops now
    current = alice.locator("#chat-list a[aria-current='page']")

    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-chat-id", str(ops))
    expect(alice).to_have_title("ops · webchat")

    open_from_list(alice, design)
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-chat-id", str(design))
    expect(alice).to_have_title("design · webchat")
    alice.mouse.move(700, 5)  # not hovering any chat
    marked, other = (alice.locator(f"#chat-item-{c} a").evaluate("a => getComputedStyle(a).backgroundColor")
                     for c in (design, ops))
    assert marked != other  # seen, not only announced

    # A message elsewhere: the list is updated live, the mark stays, the unread count leads the title.
    open_chat(bob, ops)
    send(bob, "news in ops")
    expect(alice.locator(f"#unread-{ops}")).to_have_text("1")
    expect(alice).to_have_title("(1) design · webchat")
    expect(current).to_have_attribute("data-chat-id", str(design))

    open_from_list(alice, ops)
    expect(current).to_have_attribute("data-chat-id", str(ops))
    expect(alice).to_have_title("ops · webchat")

    # The members page belongs to its chat.
    alice.click("#chat-pane .chat-header a[href$='/members']")
    expect(alice.locator("#chat-pane.members")).to_be_visible()
    expect(current).to_have_attribute("data-chat-id", str(ops))
    expect(alice).to_have_title("ops · webchat")

