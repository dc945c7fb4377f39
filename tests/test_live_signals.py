"""Live signals over real WebSockets: typing, presence, read state, unread counts and read receipts.

This module runs its own gunicorn server (pages would poll only every 120 s while live), so every
signal a test sees arrived over a socket. Each test registers fresh users, so tests never see
each other's chats; presence and typing state live in the server process and are keyed by user.
"""
import time

import pytest

from .support import pages
from .support.wsclient import (
    People,
    Person,
    Tab,
    confirms,
    is_error,
    message_ids,
    presence_signals,
    receipts_in,
    typists_in,
    unread_signal,
)

GRACE = 5  # webchat.core.broadcasts.PRESENCE_GRACE_SECONDS
TYPING_THROTTLE = 2.5  # webchat.socket.tab.TYPING_THROTTLE_SECONDS



@pytest.fixture
def people(server):
    """people.new("alice") -> a newly registered Person on the module's server; sockets closed afterwards."""
    made = People(server.url)
    yield made
    made.close()


def typing_frames(frames, chat: int) -> list[list[str]]:
    return [t for f in frames if (t := typists_in(f, chat)) is not None]


def unread_on_dashboard(person: Person, chat: int) -> int:
    page = person.get("/")
    assert page.status == 200, page
    (entry,) = [e for e in pages.chat_list(page.text) if e["id"] == chat]
    return entry["unread"]


def presence_of(frames, username: str) -> list[dict[str, str]]:
    return [s for f in frames for s in presence_signals(f, username)]


def wait_for_receipts(tab: Tab, chat: int, condition, timeout: float = 3) -> dict:
    """The first receipts-<chat> frame whose readers satisfy condition(readers)."""
    frame = tab.wait_for(lambda f: (r := receipts_in(f, chat)) is not None and condition(r), timeout)
    return receipts_in(frame, chat)


# ----- typing ------------------------------------------------------------------------------------

def test_typing_start_reaches_the_other_members_naming_the_typist_and_never_a_non_member(people):
    alice, bob, eve = people.new("alice"), people.new("bob"), people.new("eve")
    chat = alice.create_chat("Team", [bob])
    eve.create_chat("Eve's own")
    alice_tab, bob_tab, eve_tab = alice.open_tab(), bob.open_tab(), eve.open_tab()

    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    frame = bob_tab.wait_for(lambda f: typists_in(f, chat) is not None, timeout=1)
    assert typists_in(frame, chat) == [alice.username]
    assert f">{alice.username.title()}</span>" in frame  # the display name to show
    assert f'id="typing-{chat}"' in frame and 'hx-swap-oob="true"' in frame

    for frame in eve_tab.collect(0.7):
        assert f"typing-{chat}" not in frame and alice.username not in frame


def test_a_second_typing_start_within_the_throttle_publishes_nothing_and_stop_publishes_a_frame_without_them(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    alice_tab, bob_tab = alice.open_tab(), bob.open_tab()

    started = time.monotonic()
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    bob_tab.wait_for(lambda f: typists_in(f, chat) == [alice.username], timeout=1)
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    repeated = bob_tab.collect(1.0)
    assert time.monotonic() - started < TYPING_THROTTLE
    assert typing_frames(repeated, chat) == [], "a start within the throttle was published again"

    alice_tab.send_json({"type": "typing", "chat": chat, "state": "stop"})
    frame = bob_tab.wait_for(lambda f: typists_in(f, chat) is not None, timeout=1)
    assert typists_in(frame, chat) == []

    # A stop for someone no longer typing says nothing new.
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "stop"})
    assert typing_frames(bob_tab.collect(0.5), chat) == []

    # Once the throttle has passed, a start is published again (the page repeats it while typing).
    time.sleep(max(0.0, TYPING_THROTTLE + 0.1 - (time.monotonic() - started)))
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    bob_tab.wait_for(lambda f: typists_in(f, chat) == [alice.username], timeout=1)


def test_typing_in_a_chat_one_is_not_in_gets_an_error_and_publishes_nothing(people):
    alice, bob, eve = people.new("alice"), people.new("bob"), people.new("eve")
    chat = alice.create_chat("Team", [bob])
    bob_tab, eve_tab = bob.open_tab(), eve.open_tab()

    eve_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    assert "not available to you" in eve_tab.wait_for(is_error, timeout=1)
    eve_tab.send_json({"type": "typing", "chat": chat, "state": "sideways"})
    eve_tab.wait_for(is_error, timeout=1)
    assert typing_frames(bob_tab.collect(0.7), chat) == []
    assert typing_frames(eve_tab.frames, chat) == []


def test_a_bad_typing_state_from_a_member_gets_an_error_and_publishes_nothing(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    alice_tab, bob_tab = alice.open_tab(), bob.open_tab()
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "maybe"})
    assert "start or stop" in alice_tab.wait_for(is_error, timeout=1)
    assert typing_frames(bob_tab.collect(0.5), chat) == []


def test_sending_a_message_clears_the_senders_typing(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    alice_tab, bob_tab, carol_tab = alice.open_tab(), bob.open_tab(), carol.open_tab()
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    carol_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    bob_tab.wait_for(lambda f: typists_in(f, chat) == sorted([alice.username, carol.username]), timeout=1)

    client_id = alice_tab.send(chat, "done typing")
    alice_tab.wait_for(lambda f: confirms(f, client_id))
    frame = bob_tab.wait_for(lambda f: typists_in(f, chat) is not None, timeout=1)
    assert typists_in(frame, chat) == [carol.username], "the sender still shows as typing"


def test_closing_the_socket_of_someone_typing_in_the_chat_they_view_clears_their_typing(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    alice_tab, bob_tab = alice.open_tab(), bob.open_tab()
    alice_tab.view(chat)
    alice_tab.send_json({"type": "typing", "chat": chat, "state": "start"})
    bob_tab.wait_for(lambda f: typists_in(f, chat) == [alice.username], timeout=1)
    alice_tab.close()
    bob_tab.wait_for(lambda f: typists_in(f, chat) == [], timeout=2)


# ----- presence ----------------------------------------------------------------------------------

def test_a_users_first_socket_signals_them_online_to_a_dm_partner_and_their_last_closing_offline_5_s_later(people):
    alice, bob = people.new("alice"), people.new("bob")
    alice.open_direct(bob)
    alice_tab = alice.open_tab()

    bob_first = bob.open_tab()
    frame = alice_tab.wait_for(lambda f: presence_signals(f, bob.username), timeout=1)
    (signal,) = presence_signals(frame, bob.username)
    assert signal["data-online"] == "1" and "data-hidden" not in signal

    # A second tab is not a new arrival; closing one of two is not leaving, and the grace
    # period runs from the last tab's closing, not the first's.
    bob_second = bob.open_tab()
    bob_second.close()
    assert presence_of(alice_tab.collect(1.5), bob.username) == []

    bob_first.close()
    closed = time.monotonic()
    frame = alice_tab.wait_for(lambda f: presence_signals(f, bob.username), timeout=GRACE + 3)
    waited = time.monotonic() - closed
    (signal,) = presence_signals(frame, bob.username)
    assert signal["data-online"] == "0"
    assert signal["data-last-seen"].startswith(time.strftime("%Y-", time.gmtime()))
    assert GRACE - 0.5 < waited < GRACE + 2, f"offline said {waited:.1f} s after the last tab closed"

    # The DM's header, for a page loaded now, says the same.
    page = alice.get(f"/chats/{alice.open_direct(bob)}")
    header = pages.parse(page.text).find("header", cls="chat-header")
    presence = header.find("span", cls="presence")
    assert presence.get("data-online") == "0" and presence.text == "last seen just now"


def test_a_reload_closing_and_reopening_within_two_seconds_sends_no_offline_signal(people):
    alice, bob = people.new("alice"), people.new("bob")
    alice.open_direct(bob)
    alice_tab = alice.open_tab()
    bob_tab = bob.open_tab()
    alice_tab.wait_for(lambda f: presence_signals(f, bob.username), timeout=1)

    bob_tab.close()
    time.sleep(1.0)
    bob.open_tab()
    signals = presence_of(alice_tab.collect(GRACE + 0.5), bob.username)
    assert signals, "bob's return was not signalled"
    assert all(s.get("data-online") == "1" for s in signals), f"bob flickered offline: {signals}"


def test_a_user_who_hides_presence_is_signalled_hidden_with_no_online_state_or_last_seen(people):
    alice, bob = people.new("alice"), people.new("bob")
    alice.open_direct(bob)
    bob.set_preferences(hide_presence=True)  # receipts stay on, system messages shown
    alice_tab = alice.open_tab()

    bob.open_tab()
    frame = alice_tab.wait_for(lambda f: presence_signals(f, bob.username), timeout=1)
    (signal,) = presence_signals(frame, bob.username)
    assert signal.get("data-hidden") == "1"
    assert "data-online" not in signal and "data-last-seen" not in signal

    # The form posts the three checkboxes; the unchecked ones were saved as off.
    settings = pages.parse(bob.get("/settings").text)
    assert "checked" in settings.find("input", name="hide_presence").attrs
    assert "checked" in settings.find("input", name="send_read_receipts").attrs
    assert "checked" not in settings.find("input", name="hide_system_messages").attrs


def test_going_offline_is_signalled_hidden_for_a_user_who_hides_and_never_to_viewers_who_hide_or_non_members(people):
    alice, bob, dave = people.new("alice"), people.new("bob"), people.new("dave")
    carol, eve = people.new("carol"), people.new("eve")
    dave.set_preferences(hide_presence=True)
    carol.set_preferences(hide_presence=True)
    for partner in (bob, dave):
        alice.open_direct(partner)
        carol.open_direct(partner)
    eve.create_chat("Eve's own")  # eve shares no chat with bob or dave
    alice_tab, carol_tab, eve_tab = alice.open_tab(), carol.open_tab(), eve.open_tab()

    bob_tab, dave_tab = bob.open_tab(), dave.open_tab()
    alice_tab.wait_for(lambda f: (s := presence_signals(f, bob.username)) and s[0]["data-online"] == "1", timeout=1)
    bob_tab.close()
    dave_tab.close()
    alice_tab.wait_for(lambda f: (s := presence_signals(f, bob.username)) and s[0]["data-online"] == "0",
                       timeout=GRACE + 3)
    alice_tab.collect(0.3)
    dave_signals = presence_of(alice_tab.frames, dave.username)
    assert len(dave_signals) == 2, dave_signals  # came, went: both hidden, no time given away
    assert all(s == {"data-user": dave.username, "data-hidden": "1"} for s in dave_signals), dave_signals

    # Meanwhile carol, who hides her own presence, got none at all (not even her own), and eve
    # none of bob's or dave's.
    carol_tab.collect(0.1)
    eve_tab.collect(0.1)
    assert [s for f in carol_tab.frames for s in presence_signals(f)] == []
    assert presence_of(eve_tab.frames, bob.username) == presence_of(eve_tab.frames, dave.username) == []


# ----- read state and unread counts --------------------------------------------------------------

def test_a_read_frame_advances_the_marker_and_every_socket_of_the_reader_gets_the_new_unread_count(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    ids = [alice.send(chat, f"message {i}") for i in range(3)]
    assert unread_on_dashboard(bob, chat) == 3
    reading, other = bob.open_tab(), bob.open_tab()
    elsewhere = people.keep(bob.another_browser()).open_tab()
    alice_tab = alice.open_tab()

    reading.send_json({"type": "read", "chat": chat, "upto": ids[1]})
    for tab in (reading, other, elsewhere):
        frame = tab.wait_for(lambda f: unread_signal(f, chat) is not None, timeout=1)
        assert unread_signal(frame, chat) == 1
        assert 'hx-swap-oob="true"' in frame
    assert unread_on_dashboard(bob, chat) == 1

    reading.send_json({"type": "read", "chat": chat, "upto": ids[2]})
    for tab in (reading, other, elsewhere):
        assert unread_signal(tab.wait_for(lambda f: unread_signal(f, chat) is not None, timeout=1), chat) == 0
    assert unread_on_dashboard(bob, chat) == 0
    # The unread count is the reader's own business: nothing of it reaches the other member.
    assert all(unread_signal(f, chat) is None for f in alice_tab.collect(0.3))


def test_a_read_never_moves_backwards_and_a_read_beyond_the_newest_message_is_clamped(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    ids = [alice.send(chat, f"message {i}") for i in range(3)]
    reading, other = bob.open_tab(), bob.open_tab()

    reading.send_json({"type": "read", "chat": chat, "upto": ids[2]})
    other.wait_for(lambda f: unread_signal(f, chat) == 0, timeout=1)
    reading.send_json({"type": "read", "chat": chat, "upto": ids[0]})
    assert bob.mark_read(chat, ids[0]).status == 204
    assert all(unread_signal(f, chat) is None for f in other.collect(0.5)), "a backwards read was announced"
    assert unread_on_dashboard(bob, chat) == 0

    # Far beyond the newest message: read up to the newest, not past it, so the next one counts.
    reading.send_json({"type": "read", "chat": chat, "upto": 10**15})
    reading.ready()  # a round trip: that read is applied before the next message exists
    assert bob.mark_read(chat, 10**12).status == 204
    later = alice.send(chat, "after the clamped read")
    assert unread_on_dashboard(bob, chat) == 1
    reading.send_json({"type": "read", "chat": chat, "upto": later})
    other.wait_for(lambda f: unread_signal(f, chat) == 0, timeout=1)
    assert unread_on_dashboard(bob, chat) == 0


def test_only_an_explicit_read_advances_the_marker_not_polling_opening_the_chat_or_viewing_it(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    ids = [alice.send(chat, f"message {i}") for i in range(2)]
    tab = bob.open_tab()

    assert message_ids(bob.get(f"/chats/{chat}/messages?after=0").text)[-2:] == ids  # polling
    assert message_ids(bob.get(f"/chats/{chat}/messages?after={ids[0]}").text) == ids[1:]
    htmx = {"HX-Request": "true", "HX-Target": "chat-pane"}
    assert f'id="m-{ids[-1]}"' in bob.get(f"/chats/{chat}", headers=htmx).text  # opened over htmx
    assert bob.get(f"/chats/{chat}").status == 200  # a load the browser started by itself (no Sec-Fetch-User)
    tab.view(chat)  # the socket shows the chat
    tab.wait_for(lambda f: ids[-1] in message_ids(f), timeout=1)
    tab.send_json({"type": "delivered", "chat": chat, "upto": ids[-1]})  # reached the page: not read
    assert all(unread_signal(f, chat) is None for f in tab.collect(0.5))
    assert unread_on_dashboard(bob, chat) == 2

    assert bob.mark_read(chat, ids[0]).status == 204  # over HTTP, as a page without its socket does
    assert unread_signal(tab.wait_for(lambda f: unread_signal(f, chat) is not None, timeout=1), chat) == 1
    assert unread_on_dashboard(bob, chat) == 1
    assert bob.post(f"/chats/{chat}/read", {}).status == 400


def test_a_link_from_another_site_shows_the_chat_but_only_opening_it_here_or_by_address_marks_it_read(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    first = alice.send(chat, "followed from elsewhere")
    clicked = {"Sec-Fetch-User": "?1", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}

    for elsewhere in ("cross-site", "same-site"):  # a link on another site, or a sibling subdomain
        page = bob.get(f"/chats/{chat}", headers={**clicked, "Sec-Fetch-Site": elsewhere})
        assert page.status == 200 and first in pages.message_ids(page.text)
    assert unread_on_dashboard(bob, chat) == 1

    assert bob.get(f"/chats/{chat}", headers={**clicked, "Sec-Fetch-Site": "same-origin"}).status == 200
    assert unread_on_dashboard(bob, chat) == 0  # a link of the app's own
    alice.send(chat, "then typed in")
    assert unread_on_dashboard(bob, chat) == 1
    assert bob.get(f"/chats/{chat}", headers={**clicked, "Sec-Fetch-Site": "none"}).status == 200
    assert unread_on_dashboard(bob, chat) == 0  # the address bar or a bookmark


def test_a_read_frame_for_a_chat_one_is_not_in_gets_an_error_and_changes_nothing(people):
    alice, bob, eve = people.new("alice"), people.new("bob"), people.new("eve")
    chat = alice.create_chat("Team", [bob])
    message = alice.send(chat, "not for eve")
    alice_tab, bob_tab, eve_tab = alice.open_tab(), bob.open_tab(), eve.open_tab()

    for kind in ("read", "delivered"):
        eve_tab.send_json({"type": kind, "chat": chat, "upto": message})
        assert "not available to you" in eve_tab.wait_for(is_error, timeout=1)
    assert eve.mark_read(chat, message).status == 404
    for tab in (alice_tab, bob_tab):
        frames = tab.collect(1.5)  # longer than the receipts' one-second batching
        assert [f for f in frames if receipts_in(f, chat) is not None or unread_signal(f, chat) is not None] == []
    assert unread_on_dashboard(bob, chat) == 1
    assert all(e["id"] != chat for e in pages.chat_list(eve.get("/").text))


# ----- receipts ----------------------------------------------------------------------------------

def test_after_a_member_reads_the_others_get_a_receipts_frame_with_their_read_marker_within_two_seconds(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    first = alice.send(chat, "one")
    second = alice.send(chat, "two")
    alice_tab, carol_tab, bob_tab = alice.open_tab(), carol.open_tab(), bob.open_tab()

    started = time.monotonic()
    bob_tab.send_json({"type": "read", "chat": chat, "upto": second})
    readers = wait_for_receipts(alice_tab, chat, lambda r: bob.username in r, timeout=2.5)
    assert time.monotonic() - started < 2.2
    assert readers[bob.username] == {"read": second, "delivered": second, "name": bob.username.title()}
    assert readers[alice.username]["read"] == second  # her own send marks her read
    assert wait_for_receipts(carol_tab, chat, lambda r: bob.username in r)[bob.username]["read"] == second
    assert first < second


def test_reads_within_a_second_make_one_receipts_frame_per_chat(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    message = alice.send(chat, "hello both")
    alice_tab, bob_tab, carol_tab = alice.open_tab(), bob.open_tab(), carol.open_tab()

    bob_tab.send_json({"type": "read", "chat": chat, "upto": message})
    carol_tab.send_json({"type": "read", "chat": chat, "upto": message})
    frames = [r for f in alice_tab.collect(2.0) if (r := receipts_in(f, chat)) is not None]
    assert len(frames) == 1, f"{len(frames)} receipts frames for two reads within a second"
    assert frames[0][bob.username]["read"] == message and frames[0][carol.username]["read"] == message


def test_a_member_who_turned_read_receipts_off_is_absent_from_receipts_frames(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    carol.set_preferences(send_read_receipts=False)
    message = alice.send(chat, "who reads this?")
    alice_tab, bob_tab, carol_tab = alice.open_tab(), bob.open_tab(), carol.open_tab()

    carol_tab.send_json({"type": "read", "chat": chat, "upto": message})
    carol_tab.wait_for(lambda f: unread_signal(f, chat) == 0, timeout=1)  # her own read still counts for her
    assert [f for f in alice_tab.collect(1.5) if receipts_in(f, chat) is not None] == [], \
        "a private read published receipts"

    bob_tab.send_json({"type": "read", "chat": chat, "upto": message})
    readers = wait_for_receipts(alice_tab, chat, lambda r: bob.username in r)
    assert carol.username not in readers
    assert readers[bob.username]["read"] == message
    # Nor does a page loaded now list her.
    page = pages.parse(alice.get(f"/chats/{chat}").text)
    listed = [s.get("data-user") for s in page.by_id(f"receipts-{chat}").find_all("span")]
    assert bob.username in listed and carol.username not in listed


def test_a_delivered_frame_updates_the_delivered_marker_in_receipts_but_not_the_read_one(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    first = alice.send(chat, "one")
    second = alice.send(chat, "two")
    alice_tab, bob_tab = alice.open_tab(), bob.open_tab()
    bob_tab.send_json({"type": "read", "chat": chat, "upto": first})
    wait_for_receipts(alice_tab, chat, lambda r: r.get(bob.username, {}).get("read") == first)

    bob_tab.send_json({"type": "delivered", "chat": chat, "upto": second})
    readers = wait_for_receipts(alice_tab, chat, lambda r: r[bob.username]["delivered"] == second)
    assert readers[bob.username]["read"] == first
    assert unread_on_dashboard(bob, chat) == 1

    # Delivery never moves back either, and a delivery already covered publishes nothing.
    bob_tab.send_json({"type": "delivered", "chat": chat, "upto": first})
    assert [f for f in alice_tab.collect(1.5) if receipts_in(f, chat) is not None] == []
