"""Editing and deleting messages: who may, what is stored, what every page shows, and catch-up.

Request tests (a browser without JavaScript, or htmx) against the app; the live parts (the
other member's open socket, a page that was away) against the real server with real sockets.
"""
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from webchat.extensions import db
from webchat.models import Message, utcnow

from .support.pages import chat_list, form_error, message_body, parse, text_of
from .support.records import create_group, snapshot
from .support.wsclient import messages_in

CHANGES = re.compile(r'<template data-message-changes data-chat="(\d+)"(?: data-changes="(\d+)")?>(.*?)</template>',
                     re.S)


def stored(app, message_id: int) -> Message:
    with app.app_context():
        message = db.session.get(Message, message_id)
        db.session.expunge(message)
        return message


def edit(actor, chat_id, message_id, body, htmx=True):
    return actor.post(f"/chats/{chat_id}/messages/{message_id}/edit", {"body": body}, htmx=htmx)


def delete(actor, chat_id, message_id, htmx=True):
    return actor.post(f"/chats/{chat_id}/messages/{message_id}/delete", {}, htmx=htmx)


def changed_messages(html: str) -> list[dict]:
    """The messages of the change templates in a response or frame, with each template's cursor."""
    found = []
    for _chat, cursor, inner in CHANGES.findall(html):
        for message in messages_in(inner):
            found.append({**message, "cursor": int(cursor) if cursor else None,
                          "rev": int(re.search(rf'id="m-{message["id"]}"[^>]*data-rev="(\d+)"', inner).group(1))})
    return found


@pytest.fixture
def team(actor):
    """alice (admin) and bob in a group; bob has said something: (chat id, alice, bob, bob's message id)."""
    alice, bob = actor("alice"), actor("bob")
    chat_id = create_group(alice, "Team", "bob")
    bob.send(chat_id, "the first **draft**")
    with alice.app.app_context():
        message_id = db.session.scalar(select(Message.id).where(Message.chat_id == chat_id, Message.kind == "user"))
    return chat_id, alice, bob, message_id


# ----- editing -----------------------------------------------------------------------------

def test_the_author_edits_a_message_and_every_page_shows_the_new_text_marked_edited(team):
    chat_id, alice, bob, message_id = team

    response = edit(bob, chat_id, message_id, "the *final* text @alice")

    assert response.status_code == 200
    [changed] = changed_messages(response.get_data(as_text=True))
    assert changed["id"] == message_id and changed["rev"] > 0
    message = stored(bob.app, message_id)
    assert message.body == "the *final* text @alice"
    assert message.html == '<p>the <em>final</em> text <span class="mention" data-user="alice">@alice</span></p>'
    assert message.mentions == "alice"
    assert message.edited_at is not None
    page = alice.get(f"/chats/{chat_id}")
    body = message_body(page, message_id)
    assert " ".join(body.text.split()) == "the final text @alice"
    article = parse(page).find("article", id=f"m-{message_id}")
    assert "(edited)" in article.text
    assert "draft" not in page.get_data(as_text=True)


def test_an_edit_is_cleaned_like_a_new_message(team):
    chat_id, _, bob, message_id = team

    edit(bob, chat_id, message_id, '<img src=x onerror="alert(1)"> [x](javascript:alert(1))')

    html = parse(stored(bob.app, message_id).html)
    assert html.find_all("img") == []
    assert [a for a in html.find_all("a") if "javascript" in (a.get("href") or "")] == []
    assert "<img src=x" in html.text  # kept as the text it is


def test_saving_the_same_text_changes_nothing_and_marks_nothing_edited(team):
    chat_id, _, bob, message_id = team
    before = snapshot(bob.app)

    response = edit(bob, chat_id, message_id, "the first **draft**")

    assert response.status_code == 200
    assert snapshot(bob.app) == before
    assert stored(bob.app, message_id).edited_at is None


@pytest.mark.parametrize(("body", "error"), [
    ("   ", "Type a message before sending."),
    ("x" * 4001, "the limit is 4,000"),
])
def test_an_empty_or_overlong_edit_is_refused_the_editor_keeps_the_text_and_nothing_changes(team, body, error):
    chat_id, _, bob, message_id = team
    before = snapshot(bob.app)

    response = edit(bob, chat_id, message_id, body)

    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == f"#edit-m-{message_id}"
    assert error in form_error(response)
    assert parse(response).find("textarea").text == body
    assert snapshot(bob.app) == before


def test_nobody_edits_someone_elses_message_not_even_an_admin(team):
    chat_id, alice, bob, message_id = team
    before = snapshot(bob.app)

    for attempt in (alice.get(f"/chats/{chat_id}/messages/{message_id}/edit", htmx=True),
                    edit(alice, chat_id, message_id, "alice was here")):
        assert attempt.status_code == 403
        assert "You can only edit your own messages." in text_of(attempt)
        assert attempt.headers["HX-Retarget"] == "#flash"
    assert snapshot(bob.app) == before


def test_a_message_older_than_the_edit_window_cannot_be_edited(team):
    chat_id, _, bob, message_id = team
    bob.app.config["MESSAGE_EDIT_WINDOW_SECONDS"] = 15 * 60
    with bob.app.app_context():
        db.session.execute(update(Message).where(Message.id == message_id)
                           .values(created_at=utcnow() - timedelta(minutes=16)))
        db.session.commit()
    before = snapshot(bob.app)

    response = edit(bob, chat_id, message_id, "too late")

    assert response.status_code == 403
    assert "Messages can be edited for 15 minutes after sending" in text_of(response)
    assert snapshot(bob.app) == before


def test_chat_events_cannot_be_edited_or_deleted(team):
    chat_id, alice, _, _ = team
    with alice.app.app_context():
        event_id = db.session.scalar(select(Message.id).where(Message.chat_id == chat_id, Message.kind == "system"))
    before = snapshot(alice.app)

    assert edit(alice, chat_id, event_id, "rewritten history").status_code == 403
    assert delete(alice, chat_id, event_id).status_code == 403
    assert snapshot(alice.app) == before


def test_a_message_of_another_chat_is_not_found_through_this_one(team, actor):
    chat_id, _, bob, message_id = team
    other_chat = create_group(bob, "Elsewhere")
    before = snapshot(bob.app)

    assert edit(bob, other_chat, message_id, "moved?").status_code == 404
    assert delete(bob, other_chat, message_id).status_code == 404
    assert edit(bob, chat_id, 2**40, "huge id").status_code == 404
    assert snapshot(bob.app) == before


def test_editing_works_without_javascript_through_a_page_of_its_own(team):
    chat_id, _, bob, message_id = team

    form_page = bob.get(f"/chats/{chat_id}/messages/{message_id}/edit")
    assert form_page.status_code == 200
    assert parse(form_page).find("textarea").text == "the first **draft**"

    response = edit(bob, chat_id, message_id, "fixed without js", htmx=False)

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/chats/{chat_id}#m-{message_id}")
    assert stored(bob.app, message_id).body == "fixed without js"



@pytest.mark.parametrize("script_root", ["", "/team"])
def test_each_messages_action_links_lead_to_that_message_under_the_apps_root(team, script_root):
    chat_id, alice, bob, first_id = team
    bob.send(chat_id, "a second one")
    with alice.app.app_context():
        second_id = db.session.scalar(select(func.max(Message.id)).where(Message.chat_id == chat_id))

    page = parse(alice.get(f"/chats/{chat_id}", base_url=f"http://localhost{script_root}"))

    for message_id in (first_id, second_id):
        actions = page.by_id(f"m-{message_id}").find("div", cls="msg-actions")
        base = f"{script_root}/chats/{chat_id}/messages/{message_id}"
        assert actions.find("a", cls="msg-action--edit").get("href") == f"{base}/edit"
        assert actions.find("a", cls="msg-action--edit").get("hx-get") == f"{base}/edit"
        assert actions.find("a", cls="msg-action--delete").get("hx-post") == f"{base}/delete"
        assert actions.find("div", cls="reaction-picker-panel").get("hx-get") == f"{base}/reactions"
        assert actions.find("div", cls="reaction-picker-panel").find("a").get("href") == f"{base}/reactions"
        assert actions.find("a", cls="msg-action--link").get("href") == base
    assert bob.get(f"/chats/{chat_id}/messages/{second_id}/edit").status_code == 200

# ----- deleting ----------------------------------------------------------------------------

def test_the_author_deletes_a_message_and_its_text_is_gone_from_the_database(team):
    chat_id, alice, bob, message_id = team

    response = delete(bob, chat_id, message_id)

    assert response.status_code == 200
    [changed] = changed_messages(response.get_data(as_text=True))
    assert "This message was deleted." in changed["html"]
    message = stored(bob.app, message_id)
    assert (message.body, message.html, message.mentions) == ("", "", "")
    assert message.deleted_at is not None
    page = alice.get(f"/chats/{chat_id}").get_data(as_text=True)
    assert "draft" not in page
    assert "This message was deleted." in parse(page).find("article", id=f"m-{message_id}").text


def test_a_chat_admin_may_delete_anyones_message_a_member_only_their_own(team, actor):
    chat_id, alice, bob, _ = team
    alice.send(chat_id, "alice speaks")
    with alice.app.app_context():
        alices = db.session.scalar(select(Message.id).where(Message.body == "alice speaks"))
    before = snapshot(alice.app)

    refused = delete(bob, chat_id, alices)
    assert refused.status_code == 403
    assert "Only the author or a chat admin can delete a message." in text_of(refused)
    assert snapshot(alice.app) == before

    _, _, _, bobs = team
    assert delete(alice, chat_id, bobs).status_code == 200
    assert stored(alice.app, bobs).deleted_at is not None


def test_in_a_direct_message_neither_person_deletes_the_others_message_nor_is_offered_to(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.open_direct(bob)  # both are stored as the chat's admins
    alices, bobs = alice.send(chat, "alice's own words"), bob.send(chat, "bob's own words")

    for person in (alice, bob):  # the page grants neither the other's Delete (base.html's rule)
        assert "data-admin" not in parse(person.get(f"/chats/{chat}").text).by_id("messages").attrs
    asked = bob.get(f"/chats/{chat}/messages/{alices}/delete")
    refused = bob.post(f"/chats/{chat}/messages/{alices}/delete", {})
    assert (asked.status, refused.status) == (403, 403)
    assert "In a direct message only its author can delete a message." in text_of(refused.text)
    assert alice.post(f"/chats/{chat}/messages/{bobs}/delete", {}).status == 403
    page = alice.get(f"/chats/{chat}").text
    assert "alice's own words" in message_body(page, alices).text
    assert "bob's own words" in message_body(page, bobs).text

    assert bob.post(f"/chats/{chat}/messages/{bobs}/delete", {}).status == 302  # his own, as ever
    assert "This message was deleted." in alice.get(f"/chats/{chat}").text


def test_a_group_admins_page_offers_delete_on_every_message_a_members_only_on_their_own(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Moderated", [bob])
    assert "data-admin" in parse(alice.get(f"/chats/{chat}").text).by_id("messages").attrs
    assert "data-admin" not in parse(bob.get(f"/chats/{chat}").text).by_id("messages").attrs


def test_a_deleted_message_cannot_be_edited_and_deleting_again_changes_nothing(team):
    chat_id, _, bob, message_id = team
    delete(bob, chat_id, message_id)
    before = snapshot(bob.app)

    refused = edit(bob, chat_id, message_id, "resurrected")
    again = delete(bob, chat_id, message_id)

    assert refused.status_code == 409
    assert "deleted" in text_of(refused)
    assert again.status_code == 200
    assert snapshot(bob.app) == before


def test_a_deleted_message_no_longer_counts_as_unread_and_the_list_previews_it_as_deleted(team):
    chat_id, alice, bob, message_id = team
    bob.send(chat_id, "second thought")
    [entry] = [e for e in chat_list(alice.get("/chats/list")) if e["id"] == chat_id]
    assert entry["unread"] == 2

    delete(bob, chat_id, message_id)
    with bob.app.app_context():
        newest = db.session.scalar(select(Message.id).where(Message.body == "second thought"))
    delete(bob, chat_id, newest)

    [entry] = [e for e in chat_list(alice.get("/chats/list")) if e["id"] == chat_id]
    assert entry["unread"] == 0
    assert entry["preview"].endswith(": message deleted")


def test_deleting_works_without_javascript_after_a_confirmation_page(team):
    chat_id, _, bob, message_id = team

    confirm = bob.get(f"/chats/{chat_id}/messages/{message_id}/delete")
    assert "Delete this message?" in text_of(confirm)
    assert stored(bob.app, message_id).deleted_at is None

    response = delete(bob, chat_id, message_id, htmx=False)

    assert response.status_code == 302
    assert stored(bob.app, message_id).deleted_at is not None


# ----- catching up over HTTP -----------------------------------------------------------------

def test_polling_with_a_change_cursor_brings_each_changed_message_once_in_its_newest_version(team):
    chat_id, alice, bob, message_id = team
    page = parse(alice.get(f"/chats/{chat_id}"))
    cursor = int(page.find(id="messages").get("data-changes"))
    newest = max(int(a.get("data-id")) for a in page.find_all("article"))

    edit(bob, chat_id, message_id, "second version")
    edit(bob, chat_id, message_id, "third version")
    poll = alice.get(f"/chats/{chat_id}/messages?after={newest}&changes={cursor}", htmx=True)

    [changed] = changed_messages(poll.get_data(as_text=True))
    assert changed["id"] == message_id
    assert "third version" in changed["html"] and "second" not in changed["html"]
    again = alice.get(f"/chats/{chat_id}/messages?after={newest}&changes={changed['cursor']}", htmx=True)
    assert changed_messages(again.get_data(as_text=True)) == []


# ----- live, over real sockets ---------------------------------------------------------------


def test_an_edit_and_a_delete_reach_the_other_members_open_page_at_once_rendered_once(people):
    alice, bob, carol = people.new("alice"), people.new("bob"), people.new("carol")
    chat = alice.create_chat("live edits", [bob, carol])
    message_id = alice.send(chat, "typo in here")
    bob_tab, carol_tab = bob.open_tab(), carol.open_tab()

    response = alice.post(f"/chats/{chat}/messages/{message_id}/edit", {"body": "no typo"})
    assert response.status == 302
    bob_frame = bob_tab.wait_for(lambda f: "data-message-changes" in f)
    carol_frame = carol_tab.wait_for(lambda f: "data-message-changes" in f)
    assert bob_frame == carol_frame  # one rendering for every member
    [changed] = changed_messages(bob_frame)
    assert changed["id"] == message_id and "no typo" in changed["html"] and "typo in here" not in bob_frame

    alice.post(f"/chats/{chat}/messages/{message_id}/delete", {})
    deleted = bob_tab.wait_for(lambda f: "This message was deleted." in f)
    assert "no typo" not in deleted
    assert changed_messages(deleted)[0]["rev"] > changed["rev"]


def test_a_page_that_was_away_gets_the_edits_and_deletions_it_missed_when_it_catches_up(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("away", [bob])
    first = alice.send(chat, "first words")
    second = alice.send(chat, "second words")
    page = parse(bob.get(f"/chats/{chat}").text)
    cursor = int(page.find(id="messages").get("data-changes"))

    alice.post(f"/chats/{chat}/messages/{first}/edit", {"body": "first, reworded"})
    alice.post(f"/chats/{chat}/messages/{second}/delete", {})
    third = alice.send(chat, "third words")

    tab = bob.open_tab(ready=False)
    tab.send_json({"type": "view", "chat": chat, "after": second, "changes": cursor})
    frames = tab.collect_until(lambda f: "data-message-changes" in f, timeout=5)
    assert third in [m["id"] for f in frames for m in messages_in(f) if "data-message-changes" not in f]
    changed = {m["id"]: m for f in frames for m in changed_messages(f)}
    assert set(changed) == {first, second}
    assert "first, reworded" in changed[first]["html"]
    assert "This message was deleted." in changed[second]["html"] and "second words" not in changed[second]["html"]
