"""Threads on the delivery spine: a reply is a message of its chat, stored, rendered and published
once, and every page catches up on replies and on their parents' summaries after a cut exactly as
on messages: nothing lost, duplicated or out of order, the counts agreeing with the database.

Request tests (a browser without JavaScript, or htmx) against the app; catch-up after a cut and
concurrent replies against the real server with real sockets (on PostgreSQL when
WEBCHAT_TEST_DATABASE_URL is set). `Page` below reads frames the way static/webchat.js applies
them, so a test can say what a page that was away shows once it has caught up.
"""
import contextlib
import os
import re
import threading
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from webchat.extensions import db
from webchat.models import Message

from .support import services
from .support.browser import BrowserPeople, expect_live
from .support.pages import chat_list, parse
from .support.records import create_group, stored_messages
from .support.records import message_sent as send
from .support.records import reply_sent as reply
from .support.stored import LiveDatabase
from .support.wsclient import Closed, People, Person, is_chat_list

CHANGES = re.compile(r'<template data-message-changes data-chat="(\d+)"(?: data-changes="(\d+)")?>', re.S)


def summary_of(app, message_id):
    with app.app_context():
        m = db.session.get(Message, message_id)
        rows = db.session.scalar(select(func.count()).select_from(Message).where(Message.thread_id == message_id))
        newest = db.session.scalar(select(func.max(Message.id)).where(Message.thread_id == message_id))
        return {"count": m.reply_count, "rows": rows, "last": m.last_reply_id, "newest": newest or 0,
                "repliers": m.thread_repliers}


def thread_copies(html, message_id):
    """The thread-place copies (t-<id>) of a message in a page, frame or change template."""
    return parse(html).find_all("article", id_=f"t-{message_id}")


def changed(html):
    """{element id: article} of the change templates in a response (their channel and thread copies)."""
    found = {}
    for template in parse(html).find_all("template"):
        if "data-message-changes" in template.attrs:
            for article in template.find_all("article"):
                found[article.id] = article
    return found


def reply_texts(html, parent_id):
    box = parse(html).by_id(f"thread-{parent_id}-replies")
    return [a.find(cls="msg-body").text.strip() if a.find(cls="msg-body") else a.find(cls="msg-deleted").text.strip()
            for a in box.find_all("article")]


# ----- storing, ordering, counts ----------------------------------------------------------------

def test_replies_are_counted_and_the_summary_names_the_last_three_repliers_newest_first(app, trio, actor):
    _, alice, bob, carol = trio
    dave = actor("dave")
    chat_id = create_group(alice, "Four", "bob carol dave")
    parent = send(alice, chat_id, "Release plan?")
    ids = [reply(p, chat_id, parent, f"reply {i}") for i, p in enumerate([bob, carol, bob, dave, alice, bob])]

    summary = summary_of(app, parent)
    assert summary["count"] == summary["rows"] == 6
    assert summary["last"] == summary["newest"] == ids[-1]
    with app.app_context():
        from webchat.models import User
        names = [db.session.get(User, int(i)).username for i in summary["repliers"].split()]
    assert names == ["bob", "alice", "dave"]
    page = carol.get(f"/chats/{chat_id}").get_data(as_text=True)
    link = parse(page).by_id(f"m-{parent}").find(cls="thread-summary")
    assert "6 replies" in link.text
    assert len(link.find(cls="thread-repliers").find_all(cls="avatar")) == 3


def test_replies_show_in_their_thread_in_the_order_they_were_sent_and_the_channel_shows_none(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    for i in range(12):
        reply([bob, carol, alice][i % 3], chat_id, parent, f"number {i}")
    between = send(carol, chat_id, "a channel message between")
    reply(bob, chat_id, parent, "number 12")

    thread = bob.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)
    assert reply_texts(thread, parent) == [f"number {i}" for i in range(13)]
    channel = parse(bob.get(f"/chats/{chat_id}").get_data(as_text=True)).by_id("messages")
    shown = [a for a in channel.find_all("article") if "msg--placeholder" not in a.classes]
    assert [a.id for a in shown if a.get("data-id") and int(a.get("data-id")) >= parent] == [f"m-{parent}",
                                                                                           f"m-{between}"]
    assert "number" not in channel.text


def test_a_broadcast_reply_shows_in_the_channel_and_in_the_thread_and_counts_once(app, trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    echoed = reply(bob, chat_id, parent, "for everyone", broadcast=True)
    page = parse(alice.get(f"/chats/{chat_id}").get_data(as_text=True))
    article = page.by_id(f"m-{echoed}")
    assert "msg--placeholder" not in article.classes and "for everyone" in article.text
    assert article.find(cls="quote").get("data-quote") == str(parent)
    assert summary_of(app, parent)["count"] == 1
    thread = bob.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)
    assert reply_texts(thread, parent) == ["for everyone"]


def test_the_same_client_id_sent_twice_stores_one_reply_and_counts_one(app, trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    first = reply(bob, chat_id, parent, "only once", client_id="twice-0001")
    again = reply(bob, chat_id, parent, "only once", client_id="twice-0001")
    assert first == again
    assert summary_of(app, parent)["count"] == summary_of(app, parent)["rows"] == 1


def test_the_chat_list_previews_the_channel_not_a_thread_even_behind_a_hidden_chat_event(trio):
    """The preview is the chat's newest message; for someone who hides chat events and whose chat
    ends with one, its newest person's message, which a reply kept in its thread is not."""
    chat_id, alice, bob, _ = trio
    bob.post("/settings", {"action": "preferences", "send_read_receipts": "1", "hide_system_messages": "1"})
    parent = send(alice, chat_id, "the parent says hello")
    reply(alice, chat_id, parent, "a reply in the thread")
    assert alice.post(f"/chats/{chat_id}/rename", {"name": "Renamed"}).status_code in (200, 302)

    for person in (alice, bob):
        (entry,) = [e for e in chat_list(person.get("/").get_data(as_text=True)) if e["id"] == chat_id]
        assert "a reply in the thread" not in entry["preview"]
    (entry,) = [e for e in chat_list(bob.get("/").get_data(as_text=True)) if e["id"] == chat_id]
    assert "the parent says hello" in entry["preview"]


# ----- edits, deletions and reactions in threads ------------------------------------------------

def _cursor(actor, chat_id):
    page = parse(actor.get(f"/chats/{chat_id}").get_data(as_text=True))
    newest = max(int(a.get("data-id")) for a in page.by_id("messages").find_all("article"))
    return newest, int(page.by_id("messages").get("data-changes"))


def test_an_edit_of_a_reply_reaches_a_catching_up_page_as_its_thread_copy(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    answer = reply(bob, chat_id, parent, "frist")
    newest, cursor = _cursor(alice, chat_id)

    response = bob.post(f"/chats/{chat_id}/messages/{answer}/edit", {"body": "first"}, htmx=True)
    assert response.status_code == 200
    poll = alice.get(f"/chats/{chat_id}/messages?after={newest}&changes={cursor}", htmx=True).get_data(as_text=True)
    copies = changed(poll)
    assert "first" in copies[f"t-{answer}"].find(cls="msg-body").text
    assert "msg--placeholder" in copies[f"m-{answer}"].classes  # in the channel it stays out of sight
    thread = alice.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)
    assert reply_texts(thread, parent) == ["first"]


def test_a_reaction_on_a_reply_reaches_its_thread_copy(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    answer = reply(bob, chat_id, parent, "nice")
    newest, cursor = _cursor(alice, chat_id)
    assert alice.post(f"/chats/{chat_id}/messages/{answer}/reactions", {"emoji": "👍"}, htmx=True).status_code == 200
    poll = alice.get(f"/chats/{chat_id}/messages?after={newest}&changes={cursor}", htmx=True).get_data(as_text=True)
    assert "👍" in changed(poll)[f"t-{answer}"].text


def test_deleting_a_reply_keeps_the_count_and_the_thread_shows_it_deleted(app, trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "keep me")
    gone = reply(carol, chat_id, parent, "oops, wrong thread")
    assert carol.post(f"/chats/{chat_id}/messages/{gone}/delete", {}).status_code == 302

    assert summary_of(app, parent)["count"] == 2
    thread = alice.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)
    assert reply_texts(thread, parent) == ["keep me", "This message was deleted."]
    assert "wrong thread" not in thread
    summary = parse(alice.get(f"/chats/{chat_id}").get_data(as_text=True)).by_id(f"m-{parent}")
    assert "2 replies" in summary.find(cls="thread-summary").text


@pytest.mark.parametrize("change", ["edit", "delete"])
def test_editing_or_deleting_the_parent_keeps_its_summary(app, trio, change):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "one")
    reply(bob, chat_id, parent, "two")
    newest, cursor = _cursor(bob, chat_id)
    if change == "edit":
        response = alice.post(f"/chats/{chat_id}/messages/{parent}/edit", {"body": "the parent, reworded"})
    else:
        response = alice.post(f"/chats/{chat_id}/messages/{parent}/delete", {})
    assert response.status_code == 302

    assert summary_of(app, parent)["count"] == 2
    page = parse(bob.get(f"/chats/{chat_id}").get_data(as_text=True))
    assert "2 replies" in page.by_id(f"m-{parent}").find(cls="thread-summary").text
    poll = bob.get(f"/chats/{chat_id}/messages?after={newest}&changes={cursor}", htmx=True).get_data(as_text=True)
    assert "2 replies" in changed(poll)[f"m-{parent}"].find(cls="thread-summary").text
    # The thread stays open to read; its replies are all there.
    thread = bob.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)
    assert reply_texts(thread, parent) == ["one", "two"]


# ----- catch-up over HTTP (a page whose socket is down polls) -----------------------------------

def test_a_poll_after_a_cut_brings_every_reply_once_and_the_newest_summary(app, trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    newest, cursor = _cursor(alice, chat_id)
    ids = [reply([bob, carol][i % 2], chat_id, parent, f"while away {i}") for i in range(5)]

    poll = alice.get(f"/chats/{chat_id}/messages?after={newest}&changes={cursor}", htmx=True).get_data(as_text=True)
    tree = parse(poll)
    frame = tree.find("div", hx_swap_oob=f"beforeend:#thread-{parent}-replies")
    assert [int(a.get("data-id")) for a in frame.find_all("article")] == ids
    placeholders = [a for a in tree.find_all("article", data_thread=str(parent)) if a.id.startswith("m-")]
    assert [int(a.get("data-id")) for a in placeholders] == ids
    assert all("msg--placeholder" in a.classes for a in placeholders)
    assert "5 replies" in changed(poll)[f"m-{parent}"].find(cls="thread-summary").text


def test_the_poll_cap_leaves_a_long_thread_for_the_next_poll_without_losing_a_reply(app, trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    newest, _ = _cursor(alice, chat_id)
    cap = app.config["PAGE_SIZE"] * 4
    with app.test_request_context():  # a long thread, stored without 230 HTTP round trips
        from webchat.core import messaging, service
        from webchat.models import User
        bob_id = db.session.scalar(select(User.id).where(User.username == "bob"))
        membership = service.membership_or_404(chat_id, db.session.get(User, bob_id))
        for i in range(cap + 30):
            messaging.send_message(membership, f"long {i}", str(uuid.uuid4()), thread_id=parent)
    seen, after, polls = [], newest, 0
    while True:
        response = alice.get(f"/chats/{chat_id}/messages?after={after}", htmx=True)
        ids = [int(a.get("data-id")) for a in parse(response.get_data(as_text=True)).find_all("article")
               if a.id.startswith("m-")]
        polls += 1
        if not ids:
            break
        seen.extend(ids)
        after = ids[-1]
        assert ("messages-behind" in response.headers.get("HX-Trigger", "")) == (len(ids) == cap)
    assert polls == 3
    assert seen == sorted(set(seen)) and len(seen) == cap + 30


# ----- the channel page's catch-up cursor ---------------------------------------------------------

def resume_after(html) -> int:
    """Where static/webchat.js resumes "everything after N" on a page's #messages."""
    return resume_point(parse(html).by_id("messages").find_all("article"))


def resume_point(articles) -> int:
    """The end of the unbroken run of the articles' sequence numbers (a gap placeholder stands for
    data-seq..data-seq-last), as static/webchat.js's resumeAfterId finds it: its message id."""
    shown = sorted((int(a.get("data-seq")), int(a.get("data-seq-last") or a.get("data-seq")), int(a.get("data-id")))
                   for a in articles if a.get("data-seq"))
    end, newest = shown[0][1], shown[0][2]
    for first, last, message_id in shown[1:]:
        if first > end + 1:
            break
        if last > end:
            end, newest = last, message_id
    return newest


def test_a_channel_page_resumes_after_the_replies_that_follow_its_newest_message(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    last = [reply(bob, chat_id, parent, f"r{i}") for i in range(3)][-1]
    assert resume_after(alice.get(f"/chats/{chat_id}").get_data(as_text=True)) == last


def test_a_message_stored_while_the_page_is_built_is_not_covered_by_its_gap(app, trio):
    """The newest page reads its messages, then where the chat ends: a channel message stored in
    between must stay after the page's cursor, or the page would never show it."""
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "in the thread")
    from webchat.core import messaging, service
    from webchat.models import User
    with app.test_request_context():
        alice_user = db.session.scalar(select(User).where(User.username == "alice"))
        messages = messaging.latest_messages(chat_id, alice_user, 50)
        membership = service.membership_or_404(chat_id, alice_user)
        late = messaging.send_message(membership, "stored meanwhile", str(uuid.uuid4())).message.id
        page = messaging.with_gaps(messages, *messaging.chat_end(chat_id, messages[-1]))
        assert max(item.id for item in page) < late


# ----- search -----------------------------------------------------------------------------------

def test_search_finds_a_reply_and_its_hit_opens_it_in_its_thread(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    answer = reply(bob, chat_id, parent, "the zanzibar rollout is done")
    results = parse(alice.get("/search?q=zanzibar").get_data(as_text=True))
    [hit] = results.find_all(cls="search-hit")
    assert hit.get("data-message-id") == str(answer)
    link = hit.find("a")
    assert link.get("href") == f"/chats/{chat_id}/threads/{parent}#t-{answer}"
    opened = alice.get(link.get("href").split("#")[0]).get_data(as_text=True)
    assert "the zanzibar rollout is done" in parse(opened).by_id(f"t-{answer}").text


def test_a_replys_own_address_opens_its_thread_at_the_reply(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    answer = reply(bob, chat_id, parent, "here")
    response = alice.get(f"/chats/{chat_id}/messages/{answer}")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/chats/{chat_id}/threads/{parent}#t-{answer}")
    # A broadcast reply is in the channel too: its address opens the channel at it.
    echoed = reply(bob, chat_id, parent, "everyone", broadcast=True)
    shown = alice.get(f"/chats/{chat_id}/messages/{echoed}")
    assert shown.status_code == 200 and parse(shown.get_data(as_text=True)).by_id(f"m-{echoed}") is not None


def test_no_message_becomes_a_reply_unasked(app, trio):
    chat_id, alice, bob, _ = trio
    for i in range(3):
        send(bob, chat_id, f"plain {i}")
    assert all(m.thread_id is None and not m.broadcast and m.reply_count == 0 for m in stored_messages(app, chat_id))


# ----- live, over real sockets ------------------------------------------------------------------

class Page:
    """A chat page with one thread's pane open, applying frames as static/webchat.js does: an
    article already shown is dropped, a change replaces a copy only when newer (data-rev)."""

    def __init__(self, html: str, thread: int) -> None:
        tree = parse(html)
        self.thread = thread
        self.channel = {a.id: a for a in tree.by_id("messages").find_all("article")}
        self.replies: dict[str, object] = {}  # the open pane's replies, in the order placed
        self.parent = None  # its copy of the parent (t-<parent>)
        self.duplicates = 0
        self.changes = int(tree.by_id("messages").get("data-changes"))

    def open_thread(self, html: str) -> None:
        tree = parse(html)
        self.parent = tree.by_id(f"t-{self.thread}")
        self.replies = {a.id: a for a in tree.by_id(f"thread-{self.thread}-replies").find_all("article")}

    def apply(self, frame: str) -> None:
        for node in parse(frame).children:
            if isinstance(node, str):
                continue
            target = node.get("hx-swap-oob") or ""
            if target == "beforeend:#messages":
                self._append(self.channel, node)
            elif target == f"beforeend:#thread-{self.thread}-replies":
                self._append(self.replies, node)
            elif node.tag == "template" and "data-message-changes" in node.attrs:
                for article in node.find_all("article"):
                    self._replace(article)
                if node.get("data-changes"):
                    self.changes = max(self.changes, int(node.get("data-changes")))

    def _append(self, box: dict, node) -> None:
        for article in node.find_all("article"):
            if article.parent is not node:
                continue
            if article.id in box:
                self.duplicates += 1
            else:
                box[article.id] = article

    def _replace(self, fresh) -> None:
        for box in (self.channel, self.replies):
            current = box.get(fresh.id)
            if current is not None and int(current.get("data-rev") or 0) < int(fresh.get("data-rev") or 0):
                box[fresh.id] = fresh
        if self.parent is not None and fresh.id == self.parent.id and \
                int(self.parent.get("data-rev")) < int(fresh.get("data-rev") or 0):
            self.parent = fresh

    def resume_after(self) -> int:
        return resume_point(self.channel.values())

    def reply_ids(self) -> list[int]:
        return [int(a.get("data-id")) for a in self.replies.values()]

    def summary(self) -> str:
        link = self.channel[f"m-{self.thread}"].find(cls="thread-summary")
        return link.text if link is not None else ""


def live_reply(person, chat_id, parent_id, body, broadcast=False):
    form = {"body": body, "client_id": uuid.uuid4().hex}
    if broadcast:
        form["broadcast"] = "1"
    response = person.post(f"/chats/{chat_id}/threads/{parent_id}/replies", form)
    assert response.status == 302, response
    return int(response.location.rsplit("#t-", 1)[1])


def replies_from(person, chat_id, parent_id, bodies, threads=4) -> list[int]:
    """Reply with these bodies from several connections at once; the replies' ids."""
    chunks = [bodies[i::threads] for i in range(threads)]
    ids, errors = [], []

    def run(chunk, twin):
        try:
            ids.extend(live_reply(twin, chat_id, parent_id, body) for body in chunk)
        except BaseException as e:  # noqa: BLE001 - reported below, not lost in the thread
            errors.append(e)
        finally:
            twin.close_tabs()
    # (Cloned here: a clone reads the CSRF token over the person's own connection.)
    workers = [threading.Thread(target=run, args=(chunk, person.clone())) for chunk in chunks]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors, errors[:3]
    return sorted(ids)


def catch_up(person, page: Page, chat_id: int) -> list[str]:
    """Open a socket and view the chat after the page's cursors, as the page does after a cut."""
    tab = person.open_tab(ready=False)
    tab.send_json({"type": "view", "chat": chat_id, "after": page.resume_after(), "changes": page.changes})
    frames = tab.collect_until(is_chat_list, timeout=60)
    for frame in frames:
        page.apply(frame)
    return frames


def test_replies_sent_while_a_pages_socket_was_cut_arrive_on_view_once_in_order(people, stored):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("cut", [bob, carol])
    parent = alice.send(chat, "the parent")
    before = live_reply(bob, chat, parent, "before the cut")
    page = Page(carol.get(f"/chats/{chat}").text, parent)
    page.open_thread(carol.get(f"/chats/{chat}/threads/{parent}").text)
    tab = carol.open_tab()
    tab.close()  # the cut

    during = [live_reply(p, chat, parent, f"during {i}", broadcast=i == 2) for i, p in
              enumerate([alice, bob, alice, bob])]
    channel = alice.send(chat, "a channel message during the cut")
    during.append(live_reply(bob, chat, parent, "after that"))
    catch_up(carol, page, chat)

    assert page.reply_ids() == [before, *during]
    assert page.duplicates == 0
    assert f"m-{channel}" in page.channel
    assert "msg--placeholder" not in page.channel[f"m-{during[2]}"].classes  # the broadcast one
    assert page.resume_after() == during[-1]
    rows = stored_thread(stored, parent)
    assert f"{rows['count']} replies" in page.summary() and rows["count"] == rows["rows"] == 6


def stored_thread(stored, parent_id):
    messages = stored.metadata.tables["messages"]
    with stored.engine.connect() as conn:
        count = conn.scalar(select(messages.c.reply_count).where(messages.c.id == parent_id))
        rows = conn.scalar(select(func.count()).select_from(messages).where(messages.c.thread_id == parent_id))
        newest = conn.scalar(select(func.max(messages.c.id)).where(messages.c.thread_id == parent_id))
        last = conn.scalar(select(messages.c.last_reply_id).where(messages.c.id == parent_id))
    return {"count": count, "rows": rows, "newest": newest, "last": last}


def test_a_page_away_during_a_300_reply_thread_catches_up_past_it_and_its_gaps_close(people, stored):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("long thread", [bob])
    parent = alice.send(chat, "the parent")
    page = Page(bob.get(f"/chats/{chat}").text, parent)
    page.open_thread(bob.get(f"/chats/{chat}/threads/{parent}").text)

    ids = replies_from(alice, chat, parent, [f"reply {i}" for i in range(300)])
    catch_up(bob, page, chat)

    assert page.reply_ids() == ids and page.duplicates == 0
    assert page.resume_after() == ids[-1]  # the cursor ends past them: no hole in the sequence
    assert "300 replies" in page.summary()
    assert int(page.parent.get("data-rev")) >= int(page.channel[f"m-{parent}"].get("data-rev"))
    # And a page loaded afresh now covers them with gaps and resumes after the newest.
    fresh = Page(bob.get(f"/chats/{chat}").text, parent)
    assert fresh.resume_after() == ids[-1]


def race(people, stored, per_connection: int, connections: int) -> None:
    """Three people reply to one thread at once, each from `connections` connections, while a
    fourth watches the channel over a socket and a fifth page is cut off: the count is the
    number of rows, the newest summary the watcher got says so, and the cut page catches up on
    every reply once, in order."""
    alice, bob, carol, dave, erin = (people.new(name) for name in ("alice", "bob", "carol", "dave", "erin"))
    chat = alice.create_chat("race", [bob, carol, dave, erin])
    parent = alice.send(chat, "race me")
    away = Page(erin.get(f"/chats/{chat}").text, parent)
    away.open_thread(erin.get(f"/chats/{chat}/threads/{parent}").text)
    tab = dave.open_tab()
    tab.view(chat, Page(dave.get(f"/chats/{chat}").text, parent).resume_after())
    got: list[str] = []
    stop = threading.Event()

    def read():
        with contextlib.suppress(Closed):  # closed at the end of a failing test
            while not stop.is_set():
                frame = tab.recv(0.2)
                if isinstance(frame, str):
                    got.append(frame)
    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    results: list[list[int]] = []

    def replier(person):
        bodies = [f"{person.username} {i}" for i in range(per_connection * connections)]
        results.append(replies_from(person, chat, parent, bodies, threads=connections))
    repliers = [threading.Thread(target=replier, args=(p,)) for p in (alice, bob, carol)]
    for worker in repliers:
        worker.start()
    for worker in repliers:
        worker.join(180)
    ids = sorted(i for r in results for i in r)
    total = 3 * per_connection * connections
    rows = stored_thread(stored, parent)
    assert len(ids) == rows["rows"] == rows["count"] == total
    assert rows["last"] == rows["newest"] == ids[-1]

    # Every reply's frame is published after its commit: the newest change the watcher got
    # carries the final count (pages keep the copy with the highest data-rev).
    def settled():
        return f"{total} replies" in _newest_summary(got, parent)
    for _ in range(100):
        if settled():
            break
        stop.wait(0.1)
    stop.set()
    reader.join(5)
    assert settled(), _newest_summary(got, parent)

    catch_up(erin, away, chat)
    assert away.reply_ids() == ids and away.duplicates == 0
    assert f"{total} replies" in away.summary() and away.resume_after() == ids[-1]


def test_concurrent_replies_are_all_counted_and_the_newest_summary_agrees(people, stored):
    """On the shared server (PostgreSQL when WEBCHAT_TEST_DATABASE_URL is set)."""
    race(people, stored, per_connection=5, connections=2)


POSTGRES_URL = os.environ.get("WEBCHAT_TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = os.environ.get("WEBCHAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """gunicorn -k gevent -w 2 on PostgreSQL and Redis: replies committed by two processes at once."""
    problem = services.redis_reachable(REDIS_URL)
    if problem:
        services.unavailable(f"Redis at {REDIS_URL} is not reachable: {problem}")
    scratch = tmp_path_factory.mktemp("threads-race")
    with services.postgres_database(POSTGRES_URL, "threads_race") as url, \
            services.LiveServer(url, scratch, workers=2, extra_env={"REDIS_URL": REDIS_URL}) as server:
        database = LiveDatabase(server)
        yield server, database
        database.close()


def test_replies_from_two_worker_processes_on_postgresql_are_all_counted_once(two_workers):
    server, database = two_workers
    made = People(server.url)
    try:
        race(made, database, per_connection=5, connections=4)
    finally:
        made.close()


def _newest_summary(frames, parent_id) -> str:
    """The parent's summary in the change with the highest number among these frames."""
    best, text = -1, ""
    for frame in list(frames):
        for article in parse(frame).find_all("article", id_=f"m-{parent_id}"):
            rev = int(article.get("data-rev") or -1)
            link = article.find(cls="thread-summary")
            if rev > best and link is not None:
                best, text = rev, link.text
    return text


def test_an_edit_a_reaction_and_a_deletion_of_a_reply_reach_open_pages_as_its_thread_copy(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("changes in threads", [bob])
    parent = alice.send(chat, "the parent")
    answer = live_reply(alice, chat, parent, "teh answer")
    tab = bob.open_tab()

    def change_of(frame):
        return f'id="t-{answer}"' in frame and "data-message-changes" in frame

    assert alice.post(f"/chats/{chat}/messages/{answer}/edit", {"body": "the answer"}).status == 302
    edited = parse(tab.wait_for(change_of, 5)).by_id(f"t-{answer}")
    assert "the answer" in edited.find(cls="msg-body").text
    assert bob.post(f"/chats/{chat}/messages/{answer}/reactions", {"emoji": "🎉"}).status in (200, 302)
    reacted = parse(tab.wait_for(change_of, 5)).by_id(f"t-{answer}")
    assert "🎉" in reacted.text and int(reacted.get("data-rev")) > int(edited.get("data-rev"))
    assert alice.post(f"/chats/{chat}/messages/{answer}/delete", {}).status == 302
    deleted = parse(tab.wait_for(change_of, 5)).by_id(f"t-{answer}")
    assert "This message was deleted." in deleted.text and "the answer" not in deleted.text
    # The parent's summary still counts it: one reply, deleted or not.
    assert "1 reply" in parse(alice.get(f"/chats/{chat}").text).by_id(f"m-{parent}").find(cls="thread-summary").text


# ----- in a browser: the chat list hears of a chat's messages, not of its threads ---------------

@pytest.mark.browser
def test_a_reply_kept_in_its_thread_neither_counts_unread_nor_previews_in_an_open_chat_list(chromium, server):
    """connection.js counts and previews each message a frame brings for the chat list: a reply
    kept in its thread comes as a placeholder and as its thread's copy, and must count as neither.
    (A server of the module's own: its pages poll every 120 s while live, so the badge is the
    socket's doing.)"""
    pages = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    alice = Person.register(server.url, "alice")
    try:
        bob = pages("bob")
        chat = alice.create_chat("threads and lists", [bob.username])
        parent = alice.send(chat, "the parent")
        bob.goto("/")
        expect_live(bob)
        badge, item = bob.locator(f"#unread-{chat}"), bob.locator(f"#chat-item-{chat}")
        expect(badge).to_have_text("1")

        live_reply(alice, chat, parent, "a quiet reply in the thread")
        alice.send(chat, "a message for the channel")
        expect(item.locator(".preview")).to_contain_text("a message for the channel")
        # The reply's frame came before the message's, on the same socket: it would have counted by now.
        assert badge.inner_text() == "2"
        assert "quiet reply" not in item.inner_text()
        assert unread_on_server(alice, bob, chat) == 2
    finally:
        alice.close_tabs()
        pages.close()


def unread_on_server(alice, bob, chat) -> int:
    """The chat's unread count for bob as the server has it (his dashboard, with his cookies)."""
    response = bob.request.get("/")
    assert response.ok
    (entry,) = [e for e in chat_list(response.text()) if e["id"] == chat]
    return entry["unread"]
