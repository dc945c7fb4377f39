"""Quote-replies: a channel message that shows a compact preview of the message it answers, which
follows the original when it is edited or deleted; quoting from the composer (htmx), from a page
of its own (no JavaScript) and over the socket; and the refusals.

Request tests against the app; the socket ones against the real server with real sockets.
"""
import io
import re
import uuid

import pytest

from .support.pages import form_error, parse, text_of
from .support.records import create_group, snapshot, stored_messages
from .support.wsclient import confirms, messages_in

CHANGES = re.compile(r"<template data-message-changes[^>]*>(.*?)</template>", re.S)


class Recorder:
    """A hub connection that keeps the text of what it is given."""

    def __init__(self):
        self.payloads = []

    def deliver(self, delivery):
        self.payloads.append(delivery.text)


def send(person, chat_id, body, reply_to=None, client_id=None, htmx=False):
    data = {"body": body, "client_id": client_id or str(uuid.uuid4())}
    if reply_to is not None:
        data["reply_to"] = str(reply_to)
    return person.post(f"/chats/{chat_id}/messages", data, htmx=htmx, trigger="composer")


def sent_id(response) -> int:
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rsplit("#m-", 1)[1])


def quote_of(html, message_id: int):
    """The quote preview shown in message message_id, or None."""
    article = parse(html).by_id(f"m-{message_id}")
    assert article is not None, f"m-{message_id} is not shown"
    return article.find(cls="quote")


def preview_text(node) -> str:
    return " ".join(node.text.split())


def changed_articles(payload: str) -> dict[int, str]:
    """The channel copies (m-<id>) of the messages in a change frame, by id."""
    return {m["id"]: m["html"] for inner in CHANGES.findall(payload) for m in messages_in(inner)}


# ----- sending and showing ---------------------------------------------------------------

def test_a_quote_reply_is_stored_with_what_it_quotes_and_shows_its_preview_above_its_text(app, trio):
    chat_id, alice, bob, carol = trio
    original = sent_id(send(alice, chat_id, "Shall we **ship** on Friday?\nSecond line"))

    answer = sent_id(send(bob, chat_id, "Yes, Friday", reply_to=original))

    assert {m.id: m.reply_to_id for m in stored_messages(app, chat_id)}[answer] == original
    page = carol.get(f"/chats/{chat_id}").get_data(as_text=True)
    quote = quote_of(page, answer)
    assert quote is not None and quote.get("data-quote") == str(original)
    assert quote.get("href") == f"/chats/{chat_id}/messages/{original}"
    assert quote.find(cls="quote-author").text == "Alice"
    assert "Shall we ship on Friday?" in preview_text(quote)
    article = page[page.index(f'id="m-{answer}"'):]
    assert article.index('class="quote"') < article.index('class="msg-body"')  # above its text
    assert quote_of(page, original) is None


def test_every_channel_message_offers_quote_and_the_thread_pane_does_not(trio):
    chat_id, alice, bob, _ = trio
    original = sent_id(send(alice, chat_id, "quote me"))

    page = parse(bob.get(f"/chats/{chat_id}"))
    action = page.by_id(f"m-{original}").find(cls="msg-action--quote")
    assert action is not None and action.get("href") == f"/chats/{chat_id}/messages/{original}/quote"
    thread = parse(bob.get(f"/chats/{chat_id}/threads/{original}"))
    assert thread.by_id("thread-pane").find(cls="msg-action--quote") is None


def test_quote_asked_by_htmx_gives_the_composers_preview_author_and_first_line(trio):
    chat_id, alice, bob, _ = trio
    original = sent_id(send(alice, chat_id, "First *line*\nand a second one"))

    response = bob.get(f"/chats/{chat_id}/messages/{original}/quote", htmx=True, target="composer-quote")

    assert response.status_code == 200
    fragment = parse(response)
    assert fragment.find("input", name="reply_to").get("value") == str(original)
    preview = fragment.find(cls="composer-quote")
    assert preview.find(cls="quote-author").text == "Alice"
    assert preview.find(cls="quote-text").text == "First line"
    assert preview.find(data_quote_cancel=True) is not None
    assert "<html" not in response.get_data(as_text=True)


def test_without_javascript_quote_is_the_chat_page_whose_composer_sends_the_quote_reply(app, trio):
    chat_id, alice, bob, _ = trio
    original = sent_id(send(alice, chat_id, "plain pages too"))

    page = parse(bob.get(f"/chats/{chat_id}/messages/{original}/quote"))

    composer = page.by_id("composer")
    assert composer.get("action") == f"/chats/{chat_id}/messages"
    assert composer.find("input", name="reply_to").get("value") == str(original)
    assert "plain pages too" in preview_text(composer.find(cls="composer-quote"))
    cancel = composer.find(data_quote_cancel=True)
    assert cancel.get("href") == f"/chats/{chat_id}"  # without the quote

    answer = sent_id(send(bob, chat_id, "answered from a plain page", reply_to=original))
    assert quote_of(bob.get(f"/chats/{chat_id}").get_data(as_text=True), answer).get("data-quote") == str(original)


def test_a_quote_reply_sent_twice_with_one_client_id_is_stored_once(app, trio):
    chat_id, alice, bob, _ = trio
    original = sent_id(send(alice, chat_id, "once"))
    client_id = str(uuid.uuid4())

    first = sent_id(send(bob, chat_id, "only once", reply_to=original, client_id=client_id))
    second = sent_id(send(bob, chat_id, "only once", reply_to=original, client_id=client_id))

    assert first == second
    assert [m.body for m in stored_messages(app, chat_id)].count("only once") == 1


def test_after_a_quote_reply_the_htmx_composer_comes_back_fresh_without_the_quote(trio):
    chat_id, alice, bob, _ = trio
    original = sent_id(send(alice, chat_id, "fresh"))

    response = send(bob, chat_id, "answered", reply_to=original, htmx=True)

    assert response.status_code == 200
    composer = parse(response).by_id("composer")
    assert composer.get("hx-swap-oob") == "true"
    assert composer.find("input", name="reply_to") is None


def test_files_sent_with_a_quote_carry_it(app, trio, tmp_path):
    chat_id, alice, bob, _ = trio
    app.config["UPLOAD_DIR"] = str(tmp_path / "uploads")
    original = sent_id(send(alice, chat_id, "send me the notes"))

    response = bob.post(f"/chats/{chat_id}/attachments", {
        "body": "", "client_id": str(uuid.uuid4()), "reply_to": str(original),
        "files": [(io.BytesIO(b"the notes"), "notes.txt")]}, content_type="multipart/form-data")

    answer = sent_id(response)
    assert {m.id: m.reply_to_id for m in stored_messages(app, chat_id)}[answer] == original
    quote = quote_of(alice.get(f"/chats/{chat_id}").get_data(as_text=True), answer)
    assert "send me the notes" in preview_text(quote)


# ----- the preview follows the original ----------------------------------------------------

def test_editing_the_original_publishes_its_quotes_again_with_the_new_text(app, trio):
    chat_id, alice, bob, carol = trio
    original = sent_id(send(alice, chat_id, "meet at 10"))
    answers = [sent_id(send(person, chat_id, f"ok from {person.username}", reply_to=original))
               for person in (bob, carol)]
    unrelated = sent_id(send(bob, chat_id, "unrelated"))
    recorder = Recorder()
    app.extensions["webchat.hub"].subscribe(f"chat:{chat_id}", recorder)

    response = alice.post(f"/chats/{chat_id}/messages/{original}/edit", {"body": "meet at 11"}, htmx=True)
    assert response.status_code == 200

    [frame] = recorder.payloads  # one publication: the original and its quotes
    changed = changed_articles(frame)
    assert set(changed) == {original, *answers}
    for answer in answers:
        assert "meet at 11" in changed[answer] and "meet at 10" not in changed[answer]
    page = carol.get(f"/chats/{chat_id}").get_data(as_text=True)
    assert "meet at 11" in preview_text(quote_of(page, answers[0]))
    assert quote_of(page, unrelated) is None
    revs = {int(el.get("data-id")): int(el.get("data-rev")) for el in parse(page).by_id("messages").find_all("article")
            if el.get("data-rev")}
    assert revs[answers[0]] > 0 and revs[answers[1]] > revs[answers[0]]  # changes of their own, in order


def test_deleting_the_original_makes_its_quotes_say_so_and_a_page_that_polls_catches_up(app, trio):
    chat_id, alice, bob, carol = trio
    original = sent_id(send(alice, chat_id, "secret plan"))
    answer = sent_id(send(bob, chat_id, "nice plan", reply_to=original))
    cursor = int(parse(carol.get(f"/chats/{chat_id}")).by_id("messages").get("data-changes"))

    alice.post(f"/chats/{chat_id}/messages/{original}/delete", {}, htmx=True)

    caught_up = carol.get(f"/chats/{chat_id}/messages?after={answer}&changes={cursor}", htmx=True)
    changed = changed_articles(caught_up.get_data(as_text=True))
    assert set(changed) == {original, answer}
    assert "secret plan" not in caught_up.get_data(as_text=True)
    assert "message deleted" in text_of(changed[answer])
    assert "nice plan" in text_of(changed[answer])


def test_editing_a_thread_parent_publishes_its_broadcast_replies_again(app, trio):
    chat_id, alice, bob, _ = trio
    parent = sent_id(send(alice, chat_id, "the parent, v1"))
    response = bob.post(f"/chats/{chat_id}/threads/{parent}/replies",
                        {"body": "to the channel too", "client_id": str(uuid.uuid4()), "broadcast": "1"})
    assert response.status_code == 302
    broadcast = [m.id for m in stored_messages(app, chat_id) if m.broadcast][0]
    recorder = Recorder()
    app.extensions["webchat.hub"].subscribe(f"chat:{chat_id}", recorder)

    alice.post(f"/chats/{chat_id}/messages/{parent}/edit", {"body": "the parent, v2"}, htmx=True)

    changed = changed_articles(recorder.payloads[0])
    assert broadcast in changed and "the parent, v2" in changed[broadcast]


def test_a_quote_of_a_reply_kept_in_its_thread_opens_the_thread_at_it(app, trio):
    chat_id, alice, bob, carol = trio
    parent = sent_id(send(alice, chat_id, "parent"))
    bob.post(f"/chats/{chat_id}/threads/{parent}/replies", {"body": "in the thread", "client_id": str(uuid.uuid4())})
    kept = [m.id for m in stored_messages(app, chat_id) if m.thread_id][0]

    answer = sent_id(send(carol, chat_id, "quoting a thread reply", reply_to=kept))

    quote = quote_of(carol.get(f"/chats/{chat_id}").get_data(as_text=True), answer)
    assert quote.get("href") == f"/chats/{chat_id}/threads/{parent}#t-{kept}"
    assert quote.get("data-thread-link") == str(parent)


# ----- refusals ------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "status", "words"), [
    ("other-chat", 404, "not in this chat"),
    ("deleted", 422, "was deleted"),
    ("system", 422, "Chat events can't be answered"),
    ("nonsense", 404, "not in this chat"),
])
def test_quoting_what_cannot_be_quoted_is_refused_the_text_kept_and_nothing_stored(app, trio, target, status, words):
    chat_id, alice, bob, _ = trio
    if target == "other-chat":
        quoted = sent_id(send(alice, create_group(alice, "Other", ""), "elsewhere"))
    elif target == "deleted":
        quoted = sent_id(send(alice, chat_id, "gone soon"))
        alice.post(f"/chats/{chat_id}/messages/{quoted}/delete", {})
    elif target == "system":
        quoted = [m.id for m in stored_messages(app, chat_id) if m.kind == "system"][0]
    else:
        quoted = "12abc"
    before = snapshot(app)

    response = send(bob, chat_id, "my answer", reply_to=quoted, htmx=True)

    assert response.status_code == status
    assert response.headers["HX-Retarget"] == "#composer"
    assert words in form_error(response)
    assert parse(response).find("textarea").text == "my answer"
    assert snapshot(app) == before

    page = send(bob, chat_id, "my answer", reply_to=quoted)  # and without JavaScript
    assert page.status_code == status and words in form_error(page)
    assert snapshot(app) == before


def test_a_refused_quote_reply_keeps_the_quote_in_the_composer_with_the_text(trio):
    chat_id, alice, bob, _ = trio
    original = sent_id(send(alice, chat_id, "keep me quoted"))

    response = send(bob, chat_id, "   ", reply_to=original, htmx=True)  # empty: refused

    assert response.status_code == 422
    composer = parse(response).by_id("composer")
    assert composer.find("input", name="reply_to").get("value") == str(original)


@pytest.mark.parametrize("target", ["deleted", "system"])
def test_the_quote_page_refuses_a_deleted_message_or_a_chat_event(app, trio, target):
    chat_id, alice, bob, _ = trio
    if target == "deleted":
        quoted = sent_id(send(alice, chat_id, "gone"))
        alice.post(f"/chats/{chat_id}/messages/{quoted}/delete", {})
    else:
        quoted = [m.id for m in stored_messages(app, chat_id) if m.kind == "system"][0]

    response = bob.get(f"/chats/{chat_id}/messages/{quoted}/quote")

    assert response.status_code == 422
    assert parse(response).by_id("composer").find("input", name="reply_to") is None
    assert "Nothing was sent" in form_error(response)


def test_a_non_member_cannot_quote_or_see_a_preview(trio, actor):
    chat_id, alice, _, _ = trio
    original = sent_id(send(alice, chat_id, "members only"))
    mallory = actor("mallory")

    assert mallory.get(f"/chats/{chat_id}/messages/{original}/quote").status_code == 404
    assert mallory.get(f"/chats/{chat_id}/messages/{original}/quote", htmx=True,
                       target="composer-quote").status_code == 404


# ----- over the socket -------------------------------------------------------------------

def test_a_quote_reply_over_the_socket_is_stored_shown_and_idempotent(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("socket quotes", [bob])
    original = alice.send(chat, "over the wire")
    tab = bob.open_tab()
    client_id = str(uuid.uuid4())

    tab.send_json({"type": "send", "chat": chat, "body": "quoted live", "client_id": client_id,
                   "reply_to": original})
    frame = tab.wait_for(lambda f: "quoted live" in f)
    [message] = [m for m in messages_in(frame) if "quoted live" in m["html"]]
    quote = parse(message["html"]).find(cls="quote")
    assert quote.get("data-quote") == str(original) and "over the wire" in preview_text(quote)

    tab.send_json({"type": "send", "chat": chat, "body": "quoted live", "client_id": client_id,
                   "reply_to": original})
    tab.wait_for(lambda f: confirms(f, client_id), timeout=5)  # answered as the message stored before
    assert bob.stored_ids(chat).count(message["id"]) == 1
    assert len(bob.stored_ids(chat)) == len(set(bob.stored_ids(chat)))


def test_a_refused_quote_over_the_socket_fails_its_line_and_stores_nothing(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("socket refusals", [bob])
    other = alice.create_chat("elsewhere", [])
    elsewhere = alice.send(other, "not here")
    tab = bob.open_tab()
    before = bob.stored_ids(chat)

    client_id = tab.send(chat, "x")  # warm up: a plain send works
    tab.wait_for(lambda f: confirms(f, client_id))
    tab.send_json({"type": "send", "chat": chat, "body": "answer", "client_id": str(uuid.uuid4()),
                   "reply_to": elsewhere})
    failed = tab.wait_for(lambda f: "pending--failed" in f)
    assert "not in this chat" in failed
    assert len(bob.stored_ids(chat)) == len(before) + 1  # the warm-up only
