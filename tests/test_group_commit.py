"""Sends that arrive together are stored together (core.group_commit): one transaction, one
frame per chat, and still every message once, in order, each sender answered with their own."""
import threading
import time
import uuid

from sqlalchemy import select

from webchat.core import group_commit, messaging
from webchat.core.errors import ChatError
from webchat.extensions import db
from webchat.models import Chat, Membership, Mention, Message, User
from webchat.realtime.hub import chat_channel

from .support.records import create_group, post_messages, stored_messages
from .support.wsclient import confirms, message_ids, messages_in


class Recorder:
    """A hub connection that keeps the text of what it is given."""

    def __init__(self):
        self.payloads = []

    def deliver(self, delivery):
        self.payloads.append(delivery.text)


def drafts_for(app, sends):
    """(username, chat id, text) -> drafts, as the socket makes them (sender_in, draft_message)."""
    drafts = []
    for username, chat_id, text in sends:
        user_id = db.session.scalar(select(User.id).where(User.username == username))
        client_id = str(uuid.uuid4())
        sender = messaging.sender_in(chat_id, user_id, client_id)
        drafts.append(messaging.draft_message(sender, text, client_id))
    db.session.close()
    return drafts


def test_a_batch_stores_each_message_once_in_order_and_publishes_each_chat_once(app, actor):
    alice, bob, _carol = actor("alice"), actor("bob"), actor("carol")
    team = create_group(alice, "Team", "bob carol")
    other = create_group(bob, "Other", "alice")
    post_messages(app, team, "alice", ["before"])
    hub = app.extensions["webchat.hub"]
    team_pages, other_pages = Recorder(), Recorder()
    hub.subscribe(chat_channel(team), team_pages)
    hub.subscribe(chat_channel(other), other_pages)
    with app.test_request_context():
        drafts = drafts_for(app, [("bob", team, "first, for @carol"), ("alice", other, "elsewhere"),
                                  ("carol", team, "second"), ("bob", team, "third")])
        results = group_commit.store_drafts(drafts)
        db.session.remove()

    stored = [m for m in stored_messages(app, team) if m.kind == "user"]
    assert [(m.author, m.body) for m in stored] == [
        ("alice", "before"), ("bob", "first, for @carol"), ("carol", "second"), ("bob", "third")]
    assert [m.body for m in stored_messages(app, other) if m.kind == "user"] == ["elsewhere"]
    assert [r.message.id for r in results] == [stored[1].id, results[1].message.id, stored[2].id, stored[3].id]
    assert all(r.created for r in results)
    # Each sender is answered with their own message only; each chat's members get one frame of all of its.
    for result in results:
        assert message_ids(result.fragment) == [result.message.id]
    assert len(team_pages.payloads) == 1 and message_ids(team_pages.payloads[0]) == [m.id for m in stored[1:]]
    assert len(other_pages.payloads) == 1 and message_ids(other_pages.payloads[0]) == [results[1].message.id]
    assert "first, for" in team_pages.payloads[0] and 'data-author="carol"' in team_pages.payloads[0]

    with app.app_context():
        seqs = db.session.scalars(select(Message.seq).where(Message.chat_id == team).order_by(Message.id)).all()
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))  # no gap, no repeat: catch-up relies on it
        chat = db.session.get(Chat, team)
        assert (chat.last_message_id, chat.last_seq) == (stored[-1].id, seqs[-1])
        read = dict(db.session.execute(select(User.username, Membership.last_read_message_id)
                                       .join(Membership).where(Membership.chat_id == team)).all())
        assert read["bob"] == stored[3].id and read["carol"] == stored[2].id  # up to their own newest
        mentioned = db.session.execute(select(Mention.message_id, User.username).join(User)).all()
        assert [tuple(row) for row in mentioned] == [(stored[1].id, "carol")]


def serve_together(app, sends):
    """(username, chat id, text, client id or None) -> the outcome of each, handled as one batch."""
    with app.test_request_context():
        ids = dict(db.session.execute(select(User.username, User.id)).all())
        db.session.close()
        turns = [group_commit._Turn(group_commit.SendRequest(chat_id, ids[username], text,
                                                             client_id or str(uuid.uuid4())))
                 for username, chat_id, text, client_id in sends]
        group_commit._serve(turns)
        db.session.remove()
    return turns


def test_the_same_message_sent_twice_at_once_is_stored_once_and_both_are_answered_with_it(app, actor):
    alice, _bob = actor("alice"), actor("bob")
    team = create_group(alice, "Team", "bob")
    again = str(uuid.uuid4())  # a retry racing the original, from a second tab
    turns = serve_together(app, [("alice", team, "one", None), ("bob", team, "two", again),
                                 ("alice", team, "three", None), ("bob", team, "two", again)])

    outcomes = [turn.outcome() for turn in turns]
    assert [m.body for m in stored_messages(app, team) if m.kind == "user"] == ["one", "two", "three"]
    assert [o.created for o in outcomes] == [True, True, True, False]
    assert outcomes[3].message.id == outcomes[1].message.id


def test_in_a_batch_a_refused_send_and_an_outsiders_fail_alone_and_the_others_are_stored(app, actor):
    alice, _bob, _eve = actor("alice"), actor("bob"), actor("eve")
    team = create_group(alice, "Team", "bob")
    elsewhere = create_group(alice, "Elsewhere")
    before = snapshot_of(app, elsewhere)
    turns = serve_together(app, [("alice", team, "one", None), ("bob", team, "   ", None),
                                 ("eve", team, "let me in", None), ("bob", elsewhere, "not mine", None),
                                 ("bob", team, "x" * 10_001, None), ("bob", team, "two", None)])

    assert [m.body for m in stored_messages(app, team) if m.kind == "user"] == ["one", "two"]
    assert snapshot_of(app, elsewhere) == before
    assert turns[0].outcome().created and turns[5].outcome().created
    assert turns[2].outcome() is None and turns[3].outcome() is None  # "not available to you"
    assert isinstance(turns[1].error, ChatError) and "Type a message" in turns[1].error.message
    assert isinstance(turns[4].error, ChatError) and "the limit is" in turns[4].error.message


def snapshot_of(app, chat_id):
    return [(m.id, m.body) for m in stored_messages(app, chat_id)]


def read_until_seen(tab, chat: int, count: int, timeout: float = 10) -> None:
    """Read until the tab has been sent `count` different messages of the chat."""
    deadline = time.monotonic() + timeout
    while len(set(message_ids(tab.frames, chat))) < count:
        assert tab.recv(max(0.0, deadline - time.monotonic())) is not None, "messages went missing"


def test_members_sending_at_the_same_moment_each_see_every_message_once_and_in_order(people):
    senders = [people.new(f"burst{i}") for i in range(6)]
    chat = senders[0].create_chat("Burst", senders[1:])
    tabs = [person.open_tab() for person in senders]
    watcher = senders[0].open_tab()
    before = len(senders[0].stored_ids(chat))
    rounds = 4
    total = rounds * len(tabs)
    start = threading.Barrier(len(tabs))
    client_ids: dict[int, list[str]] = {i: [] for i in range(len(tabs))}

    def burst(index: int) -> None:
        for round_ in range(rounds):
            start.wait()  # every tab's send of a round leaves at the same moment
            client_ids[index].append(tabs[index].send(chat, f"from {index} round {round_}"))

    threads = [threading.Thread(target=burst, args=(i,)) for i in range(len(tabs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    read_until_seen(watcher, chat, total)
    stored = senders[0].stored_ids(chat)[before:]
    assert len(stored) == total
    assert message_ids(watcher.frames, chat) == stored  # every message once, in the order stored
    for index, tab in enumerate(tabs):
        for client_id in client_ids[index]:
            answer = tab.wait_for(lambda f, c=client_id: confirms(f, c), timeout=5)
            (own,) = messages_in(answer)  # the sender's answer carries their own message, no other
            assert own["author"] == senders[index].username and own["id"] in stored
        read_until_seen(tab, chat, total)
        seen = list(dict.fromkeys(message_ids(tab.frames, chat)))  # as the page shows them: copies dropped
        assert seen == stored
