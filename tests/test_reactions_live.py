"""Reactions over the live server: members' open sockets get the reacted message at once, the
same bytes for each; a socket that was away catches up with its change cursor; two toggles at
the same moment never fail. Real gunicorn, real WebSocket clients (tests/support/wsclient.py).
"""
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from .support.pages import parse
from .support.stored import LiveDatabase
from .support.wsclient import is_chat_list, message_ids

CHANGES = re.compile(r"<template data-message-changes\b[^>]*>.*?</template>", re.S)



@pytest.fixture
def stored(live_server):
    database = LiveDatabase(live_server)
    yield database
    database.close()


def react(person, chat_id, message_id, emoji):
    """Toggle a reaction as a page without JavaScript does; the answer (302 back to the chat)."""
    return person.post(f"/chats/{chat_id}/messages/{message_id}/reactions", {"emoji": emoji})


def reaction_buttons(html, message_id) -> list[tuple[str, str]]:
    """(text, who) of the message's reaction buttons, as a person sees them."""
    article = parse(html).by_id(f"m-{message_id}")
    assert article is not None, f"m-{message_id} is not in {html[:200]!r}"
    return [(" ".join(b.text.split()), b.get("title")) for b in article.find_all("button", cls="reaction")]


def name(person) -> str:
    """The display name Person.register gives."""
    return person.username.title()


def is_change_of(message_id):
    return lambda frame: "data-message-changes" in frame and message_id in message_ids(frame)


def change_cursor(person, chat_id) -> int:
    """The change cursor a freshly opened page of the chat holds."""
    page = person.get(f"/chats/{chat_id}")
    assert page.status == 200, page
    return int(parse(page.text).by_id("messages").get("data-changes"))


def test_every_members_open_tab_gets_the_reacted_message_live_the_same_bytes_for_each(people):
    alice, bob, carol, eve = people.new("alice"), people.new("bob"), people.new("carol"), people.new("eve")
    chat = alice.create_chat("Reacting", [bob, carol])
    message = alice.send(chat, "ship it?")
    tabs = {person: person.open_tab() for person in (alice, bob, carol, eve)}

    assert react(bob, chat, message, "👍").status == 302

    frames = {person: tabs[person].wait_for(is_change_of(message), timeout=2) for person in (alice, bob, carol)}
    assert reaction_buttons(frames[carol], message) == [("👍 1", name(bob))]
    # Rendered once and published: every member's socket gets the very same frame.
    assert frames[alice] == frames[bob] == frames[carol]
    for frame in tabs[eve].collect(0.5):
        assert message not in message_ids(frame) and "ship it?" not in frame

    assert react(carol, chat, message, "👍").status == 302
    both = f"{name(bob)} and {name(carol)}"
    assert reaction_buttons(tabs[alice].wait_for(is_change_of(message)), message) == [("👍 2", both)]
    assert react(bob, chat, message, "👍").status == 302
    assert reaction_buttons(tabs[alice].wait_for(is_change_of(message)), message) == [("👍 1", name(carol))]


def test_a_tab_that_was_closed_gets_the_reaction_it_missed_when_it_views_the_chat_again(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Away", [bob])
    message = alice.send(chat, "who is in?")
    cursor = change_cursor(bob, chat)
    tab = bob.open_tab()
    tab.close()

    assert react(alice, chat, message, "🎉").status == 302
    assert react(alice, chat, message, "😮").status == 302

    again = bob.open_tab(ready=False)
    again.send_json({"type": "view", "chat": chat, "after": message, "changes": cursor})
    frames = again.collect_until(is_chat_list, timeout=5)
    changes = [f for f in frames if is_change_of(message)(f)]
    assert len(changes) == 1, "one catch-up frame with the newest version of the message"
    assert reaction_buttons(changes[0], message) == [("🎉 1", name(alice)), ("😮 1", name(alice))]
    # The page's new cursor rides along, so the next catch-up does not send it again.
    template = CHANGES.search(changes[0]).group(0)
    newer = int(re.search(r'data-changes="(\d+)"', template).group(1))
    assert newer > cursor

    later = bob.open_tab(ready=False)
    later.send_json({"type": "view", "chat": chat, "after": message, "changes": newer})
    assert not [f for f in later.collect_until(is_chat_list, timeout=5) if is_change_of(message)(f)]


def test_two_toggles_of_one_reaction_at_the_same_moment_never_fail_and_the_page_shows_what_is_stored(
        people, stored):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Double click", [bob])
    message = alice.send(chat, "click me twice")
    browsers = [bob.clone(), bob.clone(), bob.another_browser()]

    statuses = []
    with ThreadPoolExecutor(len(browsers)) as pool:
        for _ in range(8):
            statuses += list(pool.map(lambda b: react(b, chat, message, "👍").status, browsers))

    assert set(statuses) == {302}, statuses
    reactions = stored.metadata.tables["reactions"]
    with stored.engine.connect() as conn:
        rows = conn.execute(select(reactions.c.emoji).where(reactions.c.message_id == message)).all()
    # 24 toggles, each seeing the one before: an even number cancels out.
    assert rows == []
    page = alice.get(f"/chats/{chat}/messages?after={message - 1}")
    assert reaction_buttons(page.text, message) == []
    for browser in browsers:
        browser.close_tabs()
