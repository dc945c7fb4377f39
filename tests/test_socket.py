"""The WebSocket as a real client sees it: against gunicorn -k gevent, with session cookies and Origins.

Each test registers fresh users over HTTP on the shared live server, so tests do not see each
other's chats. Frames are read with tests/support/wsclient.py.
"""
import re
import threading
import time

import pytest
import websocket
from flask import Flask

from .support.wsclient import (
    Closed,
    Person,
    Reader,
    confirms,
    connect,
    is_chat_list,
    is_error,
    is_removed,
    message_ids,
    new_client_id,
    rss_kib,
    server_end_open,
    server_worker_pids,
    socket_option_small_receive_buffer,
)

POLICY_VIOLATION = 1008
UNSUPPORTED_DATA = 1003
INVALID_PAYLOAD = 1007
MESSAGE_TOO_BIG = 1009




@pytest.fixture(scope="module")
def loner(live_server):
    """A user alone in a chat of their own, for tests that only poke at the protocol."""
    person = Person.register(live_server.url, "loner")
    chat = person.create_chat("Notes to self")
    yield person, chat
    person.close_tabs()


def assert_serves_a_new_socket(person: Person, chat: int) -> None:
    """The server still accepts a socket and stores and confirms a send on it."""
    tab = person.open_tab()
    client_id = tab.send(chat, "still here?")
    frame = tab.wait_for(lambda f: confirms(f, client_id), timeout=2)
    assert message_ids(frame, chat)
    tab.close()


# ----- delivery ----------------------------------------------------------------------------------

def test_a_member_socket_receives_a_message_sent_over_http_within_a_second_and_an_outsider_nothing(people):
    alice, bob, eve = people.new("alice"), people.new("bob"), people.new("eve")
    chat = alice.create_chat("Team", [bob])
    bob_tab, eve_tab = bob.open_tab(), eve.open_tab()

    started = time.monotonic()
    message_id = alice.send(chat, "hello over http")
    frame = bob_tab.wait_for_message(message_id, timeout=1)
    assert time.monotonic() - started < 1
    assert message_ids(frame) == [message_id]
    assert f'data-chat="{chat}"' in frame and "hello over http" in frame

    for frame in eve_tab.collect(0.5):
        assert not message_ids(frame) and "hello over http" not in frame and f'data-chat="{chat}"' not in frame


def test_a_socket_send_is_stored_once_reaches_every_member_and_a_repeat_stores_nothing(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    sender, alice_other = alice.open_tab(), alice.open_tab()
    bob_tab, carol_tab = bob.open_tab(), carol.open_tab()
    before = alice.stored_ids(chat)

    client_id = sender.send(chat, "hello over the socket")
    answer = sender.wait_for(lambda f: confirms(f, client_id))
    (message_id,) = message_ids(answer)
    for tab in (alice_other, bob_tab, carol_tab):
        assert "hello over the socket" in tab.wait_for_message(message_id, timeout=1)
    assert alice.stored_ids(chat) == [*before, message_id]
    assert bob.stored_ids(chat) == [*before, message_id]

    sender.send(chat, "hello over the socket", client_id=client_id)
    again = sender.wait_for(lambda f: confirms(f, client_id))
    assert message_ids(again) == [message_id]
    assert alice.stored_ids(chat) == [*before, message_id]
    for tab in (alice_other, bob_tab, carol_tab):  # a repeat is answered, not broadcast
        assert message_ids(tab.collect(0.3)) == []


def test_a_socket_send_reusing_a_client_id_of_another_chat_is_refused_and_changes_neither_chat(people):
    alice, bob = people.new("alice"), people.new("bob")
    first, second = alice.create_chat("First", [bob]), alice.create_chat("Second", [bob])
    tab = alice.open_tab()
    client_id = tab.send(first, "in the first chat")
    (message_id,) = message_ids(tab.wait_for(lambda f: confirms(f, client_id)))
    before = alice.stored_ids(first), alice.stored_ids(second)

    tab.send(second, "same id, other chat", client_id=client_id)
    refused = tab.wait_for(lambda f: f'id="pending-{client_id}"' in f)
    assert "This message id was already used in another chat." in refused
    assert not message_ids(refused)
    assert (alice.stored_ids(first), alice.stored_ids(second)) == before
    assert message_id in before[0]

def test_catch_up_replays_exactly_the_messages_sent_while_away_in_order(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Busy", [bob])
    alice.send(chat, "before bob left")

    tab = bob.open_tab()
    tab.view(chat, after=0)
    seen = message_ids(tab.collect_until(is_chat_list), chat)
    assert seen, "the first view replays the chat"
    tab.close()

    sent = alice.send_many(chat, [f"while away {i}" for i in range(500)])

    tab = bob.open_tab()
    tab.view(chat, after=seen[-1])
    frames = tab.collect_until(is_chat_list, timeout=15)
    replayed = message_ids(frames, chat)
    assert replayed == sent  # all of them, in id order, each once
    assert all(len(message_ids(f)) <= 200 for f in frames), "replayed in pages"
    assert is_chat_list(frames[-1]) and not message_ids(frames[-1])


def test_a_replay_after_an_edit_shows_the_edited_message_to_the_next_page_asking_the_same(people):
    """Pages reconnecting after the same id share a rendered replay: an edit in between is not
    replayed in its old version (nor a message sent in between left out)."""
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Shared replay", [bob, carol])
    start = alice.send(chat, "before")
    first = alice.send(chat, "the tpyo version")

    tab = bob.open_tab()
    tab.view(chat, after=start)
    assert "the tpyo version" in "".join(tab.collect_until(is_chat_list))
    tab.close()

    assert alice.post(f"/chats/{chat}/messages/{first}/edit", {"body": "the fixed version"}).status < 400
    later = alice.send(chat, "one more")
    tab = carol.open_tab()
    tab.view(chat, after=start)
    frames = tab.collect_until(is_chat_list)
    assert message_ids(frames, chat) == [first, later]
    assert "the fixed version" in "".join(frames) and "the tpyo version" not in "".join(frames)


def test_replay_and_live_messages_overlapping_never_lose_one(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Overlap", [bob])
    alice.send_many(chat, [f"history {i}" for i in range(300)])
    tab = bob.open_tab()

    live_sender = alice.clone()
    live_ids: list[int] = []
    started = threading.Event()
    failure: list[BaseException] = []

    def send_live():
        try:
            for i in range(20):
                live_ids.append(live_sender.send(chat, f"live {i}"))
                started.set()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test's thread
            failure.append(e)
            started.set()

    thread = threading.Thread(target=send_live)
    thread.start()
    try:
        started.wait(5)
        tab.view(chat, after=0)
        tab.collect_until(is_chat_list, timeout=10)
    finally:
        thread.join(20)
        live_sender.close_tabs()
    assert not failure, failure
    assert len(live_ids) == 20

    stored = set(bob.stored_ids(chat))
    assert set(live_ids) <= stored
    received = set(message_ids(tab.frames, chat))
    deadline = time.monotonic() + 3
    while not stored <= received and time.monotonic() < deadline:
        tab.collect(0.2)
        received = set(message_ids(tab.frames, chat))
    assert sorted(stored - received) == [], "stored messages this socket never got"
    assert received <= stored
    end_of_replay = [i for i, f in enumerate(tab.frames) if is_chat_list(f)][1]
    during = set(message_ids(tab.frames[:end_of_replay], chat)) & set(live_ids)
    wire = message_ids(tab.frames, chat)
    print(f"\nreplay/live overlap: {len(during)} of 20 live messages arrived before the replay ended; "
          f"{len(wire) - len(set(wire))} duplicates on the wire")


# ----- who may connect -------------------------------------------------------------------------

def _tampered_signature(cookie: str) -> str:
    # Change a character in the middle of the signature: the last one carries padding bits.
    index = len(cookie) - 5
    return cookie[:index] + ("A" if cookie[index] != "A" else "B") + cookie[index + 1:]


def _signed_with_another_key(cookie: str) -> str:
    """The same session contents, signed by someone who does not know the server's secret."""
    forger = Flask("forger")
    forger.secret_key = "not-the-live-server-secret"
    serializer = forger.session_interface.get_signing_serializer(forger)
    valid, contents = serializer.loads_unsafe(cookie)
    assert not valid and contents.get("_user_id")
    return serializer.dumps(contents)


REFUSALS = [
    # (case, cookie, origin(url, port) or None for no Origin header, status)
    ("no cookie", None, lambda url, port: url, 401),
    ("tampered signature", _tampered_signature, lambda url, port: url, 401),
    ("signed with another key", _signed_with_another_key, lambda url, port: url, 401),
    ("foreign origin", "valid", lambda url, port: "https://evil.example", 403),
    ("null origin", "valid", lambda url, port: "null", 403),
    ("no origin", "valid", None, 403),
    ("origin with our host as a prefix", "valid", lambda url, port: "http://127.0.0.1.evil.com", 403),
    ("origin with our host and port as a prefix", "valid", lambda url, port: f"http://127.0.0.1:{port}.evil.com", 403),
    ("same host, https", "valid", lambda url, port: f"https://127.0.0.1:{port}", 403),
    ("same host, another port", "valid", lambda url, port: f"http://127.0.0.1:{port + 1}", 403),
    ("same machine, another name", "valid", lambda url, port: f"http://localhost:{port}", 403),
    ("our origin with a path", "valid", lambda url, port: f"{url}/chats", 403),
    ("our origin with credentials", "valid", lambda url, port: f"http://user@127.0.0.1:{port}", 403),
]


@pytest.mark.parametrize(("cookie", "origin", "status"), [case[1:] for case in REFUSALS],
                         ids=[case[0] for case in REFUSALS])
def test_the_handshake_is_refused(loner, live_server, cookie, origin, status):
    person, chat = loner
    if cookie == "valid":
        cookie = person.session_cookie
    elif callable(cookie):
        cookie = cookie(person.session_cookie)
    options = {"suppress_origin": True} if origin is None else {"origin": origin(live_server.url, live_server.port)}
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(live_server.url, cookie=cookie, **options)
    assert refused.value.status_code == status
    # The real cookie with the real Origin still gets in.
    assert_serves_a_new_socket(person, chat)


# ----- membership --------------------------------------------------------------------------------

def test_an_outsider_cannot_view_or_send_to_a_chat(people):
    alice, bob, eve = people.new("alice"), people.new("bob"), people.new("eve")
    chat = alice.create_chat("Private", [bob])
    alice.send(chat, "secret plans")
    before = alice.stored_ids(chat)
    eve_tab = eve.open_tab()

    eve_tab.view(chat, after=0)
    assert "not available to you" in eve_tab.wait_for(is_error)
    eve_tab.send(chat, "let me in")
    assert "not available to you" in eve_tab.wait_for(is_error)
    eve_tab.send_json({"type": "read", "chat": chat, "upto": before[-1]})
    assert "not available to you" in eve_tab.wait_for(is_error)

    alice.send(chat, "more secrets")
    eve_tab.collect(0.5)
    assert message_ids(eve_tab.frames, chat) == []
    assert not any("secret" in frame for frame in eve_tab.frames)
    assert len(alice.stored_ids(chat)) == len(before) + 1
    assert "let me in" not in alice.get(f"/chats/{chat}/messages?after=0").text


def test_a_removed_member_stops_receiving_the_chat_and_the_open_pane_says_so(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("Team", [bob, carol])
    newest = alice.send(chat, "before the removal")
    showing = bob.open_tab()  # bob's tab showing the chat
    showing.view(chat, after=newest)
    showing.collect_until(is_chat_list)
    elsewhere = bob.open_tab()  # bob's tab showing the dashboard
    carol_tab = carol.open_tab()

    response = alice.remove_member(chat, bob.username)
    assert response.status == 200, response
    removed = showing.wait_for(is_removed, timeout=1)
    assert f'<li id="chat-item-{chat}" hx-swap-oob="delete">' in removed
    elsewhere.wait_for(is_chat_list, timeout=1)  # its chat list, without the chat

    after_removal = alice.send(chat, "after the removal")
    carol_tab.wait_for_message(after_removal, timeout=1)
    for tab in (showing, elsewhere):
        tab.collect(0.5)
        assert after_removal not in message_ids(tab.frames)
        assert not any("after the removal" in frame for frame in tab.frames)
    assert not any(is_removed(frame) for frame in elsewhere.frames)
    assert f'id="chat-item-{chat}"' not in [f for f in elsewhere.frames if is_chat_list(f)][-1]

    # Nor can bob send to it any more; his socket stays usable for the chats he is still in.
    stored = alice.stored_ids(chat)
    showing.send(chat, "can I still post?")
    assert "not available to you" in showing.wait_for(is_error)
    assert alice.stored_ids(chat) == stored

    other = alice.create_chat("Another", [bob])
    showing.wait_for(is_chat_list, timeout=1)
    fresh = alice.send(other, "still friends")
    showing.wait_for_message(fresh, timeout=1)


# ----- signing out --------------------------------------------------------------------------------

def test_logging_out_closes_that_browsers_sockets_with_1008_and_no_others(people):
    alice = people.new("alice")
    first, second = alice.open_tab(), alice.open_tab()
    elsewhere = people.second_browser(alice).open_tab()

    response = alice.logout()
    assert response.status == 302
    started = time.monotonic()
    assert first.wait_closed(timeout=1) == POLICY_VIOLATION
    assert second.wait_closed(timeout=1) == POLICY_VIOLATION
    assert time.monotonic() - started < 1
    elsewhere.assert_open()


def test_logging_out_of_a_browser_signed_in_again_by_remember_me_closes_its_sockets(people):
    alice = people.new("alice")
    phone = people.keep(Person(alice.base_url, alice.username).login(remember=True))
    phone.restart_browser()  # signed back in from the remember-me cookie, in a new session
    phone_tab, desk_tab = phone.open_tab(), alice.open_tab()

    assert phone.logout().status == 302
    assert phone_tab.wait_closed(timeout=1) == POLICY_VIOLATION
    desk_tab.assert_open()


def test_changing_the_password_closes_all_the_users_sockets_with_1008(people):
    alice, bob = people.new("alice"), people.new("bob")
    laptop = people.second_browser(alice)
    tabs = [alice.open_tab(), alice.open_tab(), laptop.open_tab()]
    bob_tab = bob.open_tab()
    old_laptop_cookie = laptop.session_cookie

    response = alice.change_password("a brand new password")
    assert response.status == 302, response
    for tab in tabs:
        assert tab.wait_closed(timeout=1) == POLICY_VIOLATION
    bob_tab.assert_open()

    # The browser that changed it carries on; the other one is signed out.
    alice.open_tab().assert_open()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(laptop.base_url, cookie=old_laptop_cookie)
    assert refused.value.status_code == 401


# ----- malformed frames ----------------------------------------------------------------------------

MALFORMED = {
    "not json": lambda chat: "not json",
    "a list": lambda chat: "[]",
    "unknown type": lambda chat: '{"type":"nope"}',
    "no type": lambda chat: "{}",
    "chat not a number": lambda chat: '{"type":"send","chat":"x"}',
    "negative chat": lambda chat: f'{{"type":"view","chat":-{chat}}}',
    "boolean chat": lambda chat: '{"type":"view","chat":true}',
    "view with an extra field": lambda chat: f'{{"type":"view","chat":{chat},"extra":1}}',
    "body a number": lambda chat: f'{{"type":"send","chat":{chat},"body":5,"client_id":"{new_client_id()}"}}',
    "no client id": lambda chat: f'{{"type":"send","chat":{chat},"body":"hi"}}',
    "read without upto": lambda chat: f'{{"type":"read","chat":{chat}}}',
}


@pytest.mark.parametrize("make_frame", list(MALFORMED.values()), ids=list(MALFORMED))
def test_a_malformed_frame_gets_an_error_and_the_socket_stays_usable(loner, make_frame):
    person, chat = loner
    tab = person.open_tab()
    tab.ws.send(make_frame(chat))
    assert is_error(tab.wait_for(lambda f: is_error(f) or bool(message_ids(f)), timeout=2))

    client_id = tab.send(chat, "a proper message")
    assert message_ids(tab.wait_for(lambda f: confirms(f, client_id)), chat)
    tab.close()
    assert_serves_a_new_socket(person, chat)


def _send_binary(tab):
    tab.ws.send_binary(b"\x00\x01binary")


def _send_too_big(tab):
    tab.ws.send("x" * (20 * 1024))


def _send_invalid_utf8(tab):
    tab.ws.send(b"\xff\xfe", opcode=websocket.ABNF.OPCODE_TEXT)


@pytest.mark.parametrize(("send", "code"), [
    (_send_binary, UNSUPPORTED_DATA),
    (_send_too_big, MESSAGE_TOO_BIG),
    (_send_invalid_utf8, INVALID_PAYLOAD),
], ids=["binary", "20 KiB text", "invalid UTF-8"])
def test_a_frame_the_server_cannot_take_closes_the_socket_with_its_code(loner, send, code):
    person, chat = loner
    tab = person.open_tab()
    send(tab)
    assert tab.wait_closed(timeout=2) == code
    assert_serves_a_new_socket(person, chat)


def test_a_nearly_16_kib_frame_is_read_whole_and_answered(loner):
    person, chat = loner
    tab = person.open_tab()
    tab.ws.send('{"type":"view","chat":null,"after":0,"pad":"' + "z" * (15 * 1024) + '"}')
    assert "Unexpected fields: pad" in tab.wait_for(is_error)
    tab.assert_open()
    tab.close()


def test_the_longest_message_fits_in_one_frame_even_in_four_byte_characters(loner, live_server):
    person, chat = loner
    tab = person.open_tab()
    client_id = new_client_id()
    body = "\U0001f600" * 4000  # the longest message the app takes, 16,000 bytes of UTF-8
    tab.send_json({"type": "send", "chat": chat, "body": body, "client_id": client_id, "after": "0",
                   "csrf_token": "t" * 91,  # what htmx's ws extension adds to the composer's fields
                   "HEADERS": {"HX-Request": "true", "HX-Trigger": "composer", "HX-Trigger-Name": None,
                               "HX-Target": "composer", "HX-Current-URL": f"{live_server.url}/chats/{chat}"}})
    (message_id,) = message_ids(tab.wait_for(lambda f: confirms(f, client_id)), chat)
    assert message_id in person.stored_ids(chat)
    tab.close()


def test_a_send_the_server_refuses_marks_the_pending_line_failed_keeps_the_text_and_stores_nothing(loner):
    person, chat = loner
    before = person.stored_ids(chat)
    tab = person.open_tab()

    client_id = tab.send(chat, "<img src=x onerror=alert(1)> " + "z" * 4000)
    failed = tab.wait_for(lambda f: f'id="pending-{client_id}"' in f)
    assert "pending--failed" in failed and "the limit is 4,000" in failed
    assert "&lt;img src=x onerror=alert(1)&gt;" in failed and "<img" not in failed  # the text, kept as text

    hostile_id = '"><script>alert(1)</script>'
    tab.send(chat, "hello", client_id=hostile_id)
    refused = tab.wait_for(lambda f: is_error(f) and "malformed" in f)
    assert "<script>" not in refused and 'id="pending-' not in refused  # the id the page did not make is not echoed

    assert person.stored_ids(chat) == before
    tab.assert_open()
    tab.close()


# ----- load ------------------------------------------------------------------------------------------

LATENCY_MARK = re.compile(r"lat-(\w+)-(\d+) ")
NOTICE = "<template data-notify"  # a desktop notification (core/notifier.py, send_desktop)
FILLER = ("lorem ipsum dolor sit amet consectetur " * 60)[:2000]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * (len(ordered) - 1) + 0.5))]


def _deliver_and_measure(sender: Person, chat: int, tabs, label: str, count: int = 300) -> list[float]:
    """Send count ~2 KB messages over HTTP; each tab's delivery latency of each (send start to receipt)."""
    # (Not the desktop notices the notifier sends each member, which quote the message too.)
    readers = [Reader(tab, count_if=lambda frame: f"lat-{label}-" in frame and not frame.startswith(NOTICE))
               for tab in tabs]
    sent_at = {}
    try:
        for i in range(count):
            sent_at[i] = time.monotonic()
            sender.send(chat, f"lat-{label}-{i} {FILLER}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(r.counts < count for r in readers):
            time.sleep(0.05)
    finally:
        for reader in readers:
            reader.stop()
    latencies = []
    for reader in readers:
        # Once per frame: a message's frame names it in its body and in its chat list preview.
        got = [(stamp, i) for stamp, frame in reader.received if not frame.startswith(NOTICE)
               for i in {int(m.group(2)) for m in LATENCY_MARK.finditer(frame) if m.group(1) == label}]
        assert sorted(i for _, i in got) == list(range(count)), f"{label}: a normal socket missed messages"
        latencies.extend(stamp - sent_at[i] for stamp, i in got)
    return latencies


def test_a_client_that_never_reads_does_not_slow_the_others(people, live_server):
    sender, reader, idle = people.new("sender"), people.new("reader"), people.new("idle")
    chat = sender.create_chat("Busy", [reader, idle])
    tabs = [reader.open_tab() for _ in range(5)]
    (worker,) = server_worker_pids(live_server.process.pid)

    without = _deliver_and_measure(sender, chat, tabs, "without")

    stalled = idle.open_tab(sockopt=socket_option_small_receive_buffer(4096))  # reads its first frame, no more
    rss_before = rss_kib(worker)
    with_stalled = _deliver_and_measure(sender, chat, tabs, "with")
    rss_after = rss_kib(worker)

    for label, values in (("without a stalled client", without), ("with a stalled client", with_stalled)):
        print(f"\nlatency {label}: p50 {_percentile(values, 0.5) * 1000:.1f} ms, "
              f"p99 {_percentile(values, 0.99) * 1000:.1f} ms, max {max(values) * 1000:.1f} ms "
              f"({len(values)} deliveries to 5 sockets)")
        assert _percentile(values, 0.99) < 2, f"{label}: p99 is not even within 2 s"
    print(f"server worker RSS: {rss_before / 1024:.1f} MiB before, {rss_after / 1024:.1f} MiB after "
          f"the stalled phase ({(rss_after - rss_before) / 1024:+.1f} MiB)")
    assert rss_after - rss_before < 200 * 1024

    # 300 messages fit in the kernel's buffers. Now the stalled client asks for the whole chat
    # again and again (~1.5 MB each) and still reads nothing: the server must cut it off.
    assert server_end_open(stalled, live_server.port)
    for _ in range(8):
        stalled.view(chat, after=0)
    deadline = time.monotonic() + 15
    while server_end_open(stalled, live_server.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not server_end_open(stalled, live_server.port), "the server still serves a socket that reads nothing"
    rss_flooded = rss_kib(worker)
    drained = 0
    with pytest.raises(Closed) as cut:
        while stalled.recv(2) is not None:
            drained += 1
    print(f"stalled socket asking for 8 replays of {len(sender.stored_ids(chat))} messages without reading: "
          f"cut off ({cut.value.code}) after {drained} frames; worker RSS {rss_flooded / 1024:.1f} MiB")
    assert cut.value.code == 1006  # hung up without a close frame: its page reconnects and catches up
    assert rss_flooded - rss_before < 200 * 1024
    for tab in tabs:
        tab.assert_open()


def test_one_user_may_hold_twenty_sockets_all_receiving(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Many tabs", [bob])
    tabs = [bob.open_tab() for _ in range(20)]
    message_id = alice.send(chat, "to every tab")
    for tab in tabs:
        tab.wait_for_message(message_id, timeout=2)


def test_sockets_beyond_the_per_user_cap_are_refused_with_429(people, live_server):
    alice = people.new("alice")
    tabs = [alice.open_tab(ready=False) for _ in range(50)]
    tabs[-1].ready()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(live_server.url, cookie=alice.session_cookie)
    assert refused.value.status_code == 429
    tabs.pop().close()
    time.sleep(0.2)
    alice.open_tab().assert_open()


def test_a_stopping_server_tells_every_open_socket_to_reconnect_with_1012(tmp_path):
    """SIGTERM (a deploy, a restart): every page is told "service restart" and reconnects at once,
    rather than seeing a dropped connection (the sockets are no longer requests gunicorn waits for)."""
    from .support import services

    with services.LiveServer(f"sqlite:///{tmp_path / 'stopping.db'}", tmp_path) as server:
        tabs = [Person.register(server.url, "leaving").open_tab() for _ in range(3)]
        server.stop()
        for tab in tabs:
            with pytest.raises(Closed) as closed:
                tab.wait_for(lambda frame: False, timeout=10)
            assert (closed.value.code, closed.value.reason) == (1012, "server restarting")


def test_a_peer_that_stops_answering_pings_is_cut_and_one_that_answers_stays_hearing_heartbeats(tmp_path):
    """A laptop that sleeps with the page open leaves a socket nobody reads: the server pings a
    quiet socket after one interval and hangs up after another without an answer. A socket it
    has nothing to send on gets a heartbeat the page can see (pings it cannot)."""
    from .support import services

    with services.LiveServer(f"sqlite:///{tmp_path / 'pings.db'}", tmp_path, extra_env={
            "WEBCHAT_SOCKET_PING_SECONDS": "1", "WEBCHAT_SOCKET_HEARTBEAT_SECONDS": "1"}) as server:
        person = Person.register(server.url, "sleeper")
        asleep, awake = person.open_tab(), person.open_tab()
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            awake.recv(0.2)  # reading answers the server's pings
        assert not awake.closed
        assert awake.heartbeats >= 2
        awake.ready()  # and it is still served
        with pytest.raises(Closed) as closed:
            asleep.wait_for(lambda frame: False, timeout=3)
        assert closed.value.code == 1006  # dropped without a close frame: the page reconnects
