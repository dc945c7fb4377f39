"""Following threads over real WebSockets: a reply in a followed thread brings every tab of each
follower their new Threads badge (and the notifier's desktop notice, core/notifier.py), a
"thread-read" frame clears it in every tab of the reader and tells no one else, and a tab that
was away gets the badge with its catch-up."""
import re

from .support.wsclient import is_chat_list, is_error, new_client_id

BADGE = re.compile(r'<span id="threads-badge" class="threads-badge" data-count="(\d+)" data-mentions="(\d+)"')
NOTICE = re.compile(r'<template data-notify data-chat="(\d+)" data-thread="(\d+)"')


def badge_in(frame: str) -> tuple[int, int] | None:
    found = BADGE.search(frame)
    return (int(found.group(1)), int(found.group(2))) if found else None


def reply(person, chat_id: int, parent: int, body: str) -> int:
    response = person.post(f"/chats/{chat_id}/threads/{parent}/replies", {"body": body, "client_id": new_client_id()})
    assert response.status == 302, response
    return int(response.location.rsplit("#t-", 1)[1])


def test_a_reply_brings_every_tab_of_each_follower_their_badge_and_a_notice_and_the_replier_none(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "Shall we?")
    reply(alice, chat, parent, "I start")  # alice follows from her own reply
    first, second = alice.open_tab(), alice.open_tab()
    elsewhere = people.keep(alice.another_browser()).open_tab()
    bobs = bob.open_tab()

    reply(bob, chat, parent, f"@{alice.username} yes")
    for tab in (first, second, elsewhere):
        tab.wait_for(lambda f: badge_in(f) == (1, 1), timeout=3)
        frame = tab.wait_for(lambda f: NOTICE.search(f) is not None, timeout=10)
        assert NOTICE.search(frame).groups() == (str(chat), str(parent))
    assert not any(NOTICE.search(f) for f in bobs.collect(0.3))


def test_thread_read_clears_the_badge_in_every_tab_of_the_reader_and_tells_no_one_else(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "Shall we?")
    reply(bob, chat, parent, "one")
    newest = reply(bob, chat, parent, "two")
    reading, other = alice.open_tab(), alice.open_tab()
    bobs = bob.open_tab()

    reading.send_json({"type": "thread-read", "chat": chat, "thread": parent, "upto": newest})
    for tab in (reading, other):
        assert badge_in(tab.wait_for(lambda f: badge_in(f) == (0, 0), timeout=3)) == (0, 0)
    assert all(badge_in(f) is None for f in bobs.collect(0.3))
    # Saying it again moves nothing, and sends nothing.
    reading.send_json({"type": "thread-read", "chat": chat, "thread": parent, "upto": newest})
    assert all(badge_in(f) is None for f in other.collect(0.3))


def test_thread_read_of_what_is_not_a_thread_of_ones_chat_is_an_error_and_changes_nothing(people):
    alice, bob, mallory = people.new("alice"), people.new("bob"), people.new("mallory")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "Shall we?")
    first = reply(bob, chat, parent, "one")
    tab = alice.open_tab()
    for frame in ({"type": "thread-read", "chat": chat, "thread": first, "upto": first},  # a reply
                  {"type": "thread-read", "chat": chat, "thread": parent},  # no upto
                  {"type": "thread-read", "chat": chat, "thread": parent, "upto": first, "extra": 1}):
        tab.send_json(frame)
        tab.wait_for(is_error, timeout=3)
    outsider = mallory.open_tab()
    outsider.send_json({"type": "thread-read", "chat": chat, "thread": parent, "upto": first})
    outsider.wait_for(is_error, timeout=3)
    assert badge_in(alice.get("/").text) == (1, 0)


def test_a_tab_that_was_away_gets_the_badge_with_its_catch_up(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    parent = alice.send(chat, "Shall we?")
    away = alice.open_tab()
    away.ws.close()
    reply(bob, chat, parent, "while you were away")

    back = alice.open_tab(ready=False)
    back.view(None)  # what a page says first on every (re)connect
    listing = back.wait_for(is_chat_list, timeout=5)
    assert badge_in(listing) == (1, 0)
