"""Threads: replies stored as messages of their chat with a parent, the parent's summary, what the
channel shows of them (a placeholder), the thread's own page, and the refusals."""
import re

import pytest

from .support.pages import parse
from .support.records import create_group, stored_messages
from .support.records import message_sent as send
from .support.records import post_reply as reply


def test_a_reply_is_counted_on_its_parent_and_kept_out_of_the_channel(app, trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "Shall we ship on Friday?")
    assert reply(bob, chat_id, parent, "Friday works for me").status_code == 302
    assert reply(carol, chat_id, parent, "Thursday would be safer").status_code == 302

    page = alice.get(f"/chats/{chat_id}").get_data(as_text=True)
    assert "Friday works for me" not in page and "Thursday would be safer" not in page
    summary = parse(page).by_id(f"m-{parent}").find(cls="thread-summary")
    assert summary is not None and "2 replies" in summary.text

    thread = alice.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)
    replies = [a.text for a in parse(thread).by_id(f"thread-{parent}-replies").find_all(cls="msg-body")]
    assert [r.strip() for r in replies] == ["Friday works for me", "Thursday would be safer"]
    rows = {m.body: m for m in stored_messages(app, chat_id)}
    assert rows["Friday works for me"].thread_id == parent
    assert rows["Shall we ship on Friday?"].reply_count == 2


def test_the_channel_page_covers_reply_sequence_numbers_with_gaps(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "one")
    reply(bob, chat_id, parent, "in the thread")
    reply(bob, chat_id, parent, "also in the thread")
    send(alice, chat_id, "two")
    reply(bob, chat_id, parent, "after two")
    tree = parse(alice.get(f"/chats/{chat_id}").get_data(as_text=True))
    seqs = []
    for el in tree.by_id("messages").find_all(cls="msg"):
        first = int(el.get("data-seq"))
        seqs.extend(range(first, int(el.get("data-seq-last") or first) + 1))
    assert seqs == list(range(1, len(seqs) + 1))  # no holes: catch-up resumes after the last


@pytest.mark.parametrize("target", ["reply", "deleted", "system", "other-chat"])
def test_replies_to_what_cannot_have_a_thread_are_refused(app, trio, actor, target):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    if target == "reply":
        reply(bob, chat_id, parent, "a reply")
        parent = [m.id for m in stored_messages(app, chat_id) if m.thread_id][0]
    elif target == "deleted":
        alice.post(f"/chats/{chat_id}/messages/{parent}/delete")
    elif target == "system":
        parent = [m.id for m in stored_messages(app, chat_id) if m.kind == "system"][0]
    else:
        other = create_group(alice, "Other", "")
        parent = send(alice, other, "elsewhere")
    before = len(stored_messages(app, chat_id))
    response = reply(bob, chat_id, parent, "answer")
    assert response.status_code in (404, 422)
    assert len(stored_messages(app, chat_id)) == before


def test_a_non_member_gets_404_on_the_thread(trio, actor):
    chat_id, alice, _, _ = trio
    parent = send(alice, chat_id, "private")
    mallory = actor("mallory")
    assert mallory.get(f"/chats/{chat_id}/threads/{parent}").status_code == 404
    assert reply(mallory, chat_id, parent, "hi").status_code == 404


def test_poll_catch_up_brings_the_placeholder_and_the_thread_copy(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    tree = parse(alice.get(f"/chats/{chat_id}").get_data(as_text=True))
    after = max(int(el.get("data-id")) for el in tree.by_id("messages").find_all(cls="msg"))
    reply(bob, chat_id, parent, "live reply")
    answer = alice.get(f"/chats/{chat_id}/messages?after={after}", htmx=True).get_data(as_text=True)
    assert re.search(r'<article id="m-\d+" class="msg msg--placeholder"[^>]*data-thread="' + str(parent) + '"', answer)
    assert f'hx-swap-oob="beforeend:#thread-{parent}-replies"' in answer and "live reply" in answer
