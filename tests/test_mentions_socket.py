"""The @ count over real WebSockets: a tab that comes back gets it with its catch-up, and reading a
chat clears it in every tab and browser of the reader (and tells nobody else)."""
import re

from .support.wsclient import is_chat_list

MENTION_BADGE = re.compile(r'<span id="mentions-(\d+)" class="mention-badge" data-count="(\d+)"[^>]*>@(\d+)</span>')



def mention_count(frame: str, chat: int) -> int | None:
    """The @ count a frame gives the chat (a chat list or an unread signal); None when it gives none."""
    for chat_id, count, shown in MENTION_BADGE.findall(frame):
        if int(chat_id) == chat:
            assert count == shown
            return int(count)
    return None


def test_a_tab_that_reconnects_gets_the_at_count_of_mentions_made_while_it_was_away(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    away = bob.open_tab()
    away.ws.close()
    alice.send(chat, f"@{bob.username} while you were away")
    alice.send(chat, "no name here")

    back = bob.open_tab(ready=False)
    back.view(None)  # what a page says first on every (re)connect
    listing = back.wait_for(is_chat_list, timeout=5)
    assert mention_count(listing, chat) == 1
    assert 'hx-swap-oob="true"' in listing


def test_reading_clears_the_at_count_in_every_tab_of_the_reader_and_tells_no_one_else(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    first = alice.send(chat, f"@{bob.username} one")
    newest = alice.send(chat, f"@{bob.username} two")
    reading, other = bob.open_tab(), bob.open_tab()
    elsewhere = people.keep(bob.another_browser()).open_tab()
    alice_tab = alice.open_tab()

    reading.send_json({"type": "read", "chat": chat, "upto": first})
    for tab in (reading, other, elsewhere):
        assert mention_count(tab.wait_for(lambda f: mention_count(f, chat) is not None, timeout=2), chat) == 1
    reading.send_json({"type": "read", "chat": chat, "upto": newest})
    for tab in (reading, other, elsewhere):
        assert mention_count(tab.wait_for(lambda f: mention_count(f, chat) == 0, timeout=2), chat) == 0
    assert all(mention_count(f, chat) is None for f in alice_tab.collect(0.3))
