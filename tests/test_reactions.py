"""Reactions over plain requests: toggling one's own, counts and who reacted, what is refused
(and that nothing changes then), the page without JavaScript, and catch-up by polling."""
import pytest
from sqlalchemy import select

from webchat.core.reactions import MAX_DISTINCT_EMOJI, QUICK_REACTIONS, ReactionGroup
from webchat.extensions import db
from webchat.models import Chat, Message, Reaction, User

from .support.pages import message_id_from, parse, text_of
from .support.records import create_group, snapshot


class Recorder:
    """A hub connection that keeps the text of what it is given."""

    def __init__(self):
        self.payloads = []

    def deliver(self, payload):
        self.payloads.append(getattr(payload, "text", payload))


@pytest.fixture
def room(actor):
    """alice and bob in a group, with a message of alice's: (chat id, message id, alice, bob)."""
    alice, bob = actor("alice"), actor("bob")
    chat_id = create_group(alice, "Team", "bob")
    message_id = message_id_from(alice.send(chat_id, "lunch at noon?"))
    return chat_id, message_id, alice, bob


def react(actor, chat_id, message_id, emoji, htmx=True):
    return actor.post(f"/chats/{chat_id}/messages/{message_id}/reactions", {"emoji": emoji}, htmx=htmx)


def shown_reactions(html, message_id) -> list[dict]:
    """The reaction buttons of message message_id as a person sees them, in order."""
    article = parse(html).by_id(f"m-{message_id}")
    assert article is not None, f"message m-{message_id} is not there"
    return [{"emoji": b.get("data-emoji"), "text": " ".join(b.text.split()), "who": b.get("title"),
             "by": b.get("data-by")} for b in article.find_all("button", cls="reaction")]


def stored_reactions(app, message_id) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(User.username, Reaction.emoji).join(Reaction, Reaction.user_id == User.id)
                                  .where(Reaction.message_id == message_id).order_by(Reaction.id))
        return [tuple(row) for row in rows]


def page(actor, chat_id):
    response = actor.get(f"/chats/{chat_id}")
    assert response.status_code == 200
    return response


def rev(html, message_id) -> int:
    return int(parse(html).by_id(f"m-{message_id}").get("data-rev"))


# ----- toggling ----------------------------------------------------------------------------------

def test_a_reaction_shows_on_the_message_with_its_count_and_who_reacted(room):
    chat_id, message_id, alice, bob = room

    answer = react(bob, chat_id, message_id, "👍")

    assert answer.status_code == 200
    # The answer is the changed message for the page to swap in, as for an edit.
    assert parse(answer).find("template", data_message_changes=True) is not None
    assert shown_reactions(answer, message_id) == [{"emoji": "👍", "text": "👍 1", "who": "Bob", "by": "bob"}]
    assert stored_reactions(alice.app, message_id) == [("bob", "👍")]
    for viewer in (alice, bob):
        assert shown_reactions(page(viewer, chat_id), message_id) == [
            {"emoji": "👍", "text": "👍 1", "who": "Bob", "by": "bob"}]


def test_a_second_person_with_the_same_emoji_adds_to_its_count_and_names(room):
    chat_id, message_id, alice, bob = room
    react(bob, chat_id, message_id, "👍")

    answer = react(alice, chat_id, message_id, "👍")

    assert shown_reactions(answer, message_id) == [
        {"emoji": "👍", "text": "👍 2", "who": "Bob and Alice", "by": "bob alice"}]


def test_reacting_again_with_the_same_emoji_takes_ones_own_back_and_leaves_the_others(room):
    chat_id, message_id, alice, bob = room
    react(bob, chat_id, message_id, "👍")
    react(alice, chat_id, message_id, "👍")
    before = rev(page(alice, chat_id), message_id)

    answer = react(bob, chat_id, message_id, "👍")

    assert shown_reactions(answer, message_id) == [{"emoji": "👍", "text": "👍 1", "who": "Alice", "by": "alice"}]
    assert stored_reactions(alice.app, message_id) == [("alice", "👍")]
    assert rev(answer, message_id) > before  # a newer version: pages holding the old one take it


def test_the_last_reaction_taken_back_leaves_no_reaction_row_on_the_message(room):
    chat_id, message_id, alice, bob = room
    react(bob, chat_id, message_id, "🎉")

    answer = react(bob, chat_id, message_id, "🎉")

    assert shown_reactions(answer, message_id) == []
    assert parse(answer).by_id(f"m-{message_id}").find("div", cls="reactions") is None
    assert stored_reactions(alice.app, message_id) == []


def test_different_emoji_show_in_the_order_they_were_first_used(room, actor):
    chat_id, message_id, alice, bob = room
    carol = actor("carol")
    alice.post(f"/chats/{chat_id}/members", {"usernames": "carol"})
    for person, emoji in ((bob, "😂"), (carol, "👍"), (alice, "👍"), (alice, "😂"), (carol, "🫠")):
        assert react(person, chat_id, message_id, emoji).status_code == 200

    shown = shown_reactions(page(bob, chat_id), message_id)

    assert [(r["text"], r["who"], r["by"]) for r in shown] == [
        ("😂 2", "Bob and Alice", "bob alice"), ("👍 2", "Carol and Alice", "carol alice"), ("🫠 1", "Carol", "carol")]


def test_who_reacted_names_ten_people_then_counts_the_others():
    people = [User(username=f"user{i}", display_name=f"Person {i}") for i in range(13)]

    def title(n):
        return ReactionGroup("👍", people[:n]).title

    assert title(1) == "Person 0"
    assert title(3) == "Person 0, Person 1 and Person 2"
    assert title(11) == ", ".join(f"Person {i}" for i in range(10)) + " and 1 other"
    assert title(13) == ", ".join(f"Person {i}" for i in range(10)) + " and 3 others"


@pytest.mark.parametrize("emoji", ["👍🏽", "👨‍👩‍👧", "🇫🇷", "🏳️‍🌈", "1️⃣", "🫠", "🧑🏿‍🚀"],
                         ids=["skin tone", "family ZWJ", "flag", "rainbow flag", "keycap", "newer emoji", "astronaut"])
def test_any_single_emoji_can_be_a_reaction(room, emoji):
    chat_id, message_id, alice, bob = room

    answer = react(bob, chat_id, message_id, emoji)

    assert answer.status_code == 200
    assert shown_reactions(answer, message_id)[0]["text"] == f"{emoji} 1"
    assert stored_reactions(alice.app, message_id) == [("bob", emoji)]


def test_a_heart_typed_without_its_emoji_style_is_the_same_reaction_as_the_quick_heart(room):
    chat_id, message_id, alice, bob = room
    react(alice, chat_id, message_id, "❤️")

    answer = react(bob, chat_id, message_id, "❤")  # U+2764 alone, as some keyboards type it

    assert [r["text"] for r in shown_reactions(answer, message_id)] == ["❤️ 2"]
    react(bob, chat_id, message_id, "\u2764\ufe0f")
    assert stored_reactions(alice.app, message_id) == [("alice", "❤️")]


# ----- refusals ----------------------------------------------------------------------------------

REFUSED = [
    ("", "Pick an emoji to react with."),
    ("   ", "Pick an emoji to react with."),
    ("a", "Reactions are a single emoji"),
    ("yes!", "Reactions are a single emoji"),
    (":+1:", "Reactions are a single emoji"),
    ("👍👍", "React with one emoji at a time."),
    ("👍 🎉", "React with one emoji at a time."),
    ("👍a", "Reactions are a single emoji"),
    ("🏽", "Reactions are a single emoji"),  # a skin tone on its own is part of an emoji, not one
    ('"><script>alert(1)</script>', "Reactions are a single emoji"),
    ("👍" * 70, "That is too long for a reaction"),
    ("x" * 10_000, "That is too long for a reaction"),
    ("\x00", "Reactions are a single emoji"),
]


@pytest.mark.parametrize(("emoji", "message"), REFUSED, ids=[repr(e[:12]) for e, _ in REFUSED])
@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "page"])
def test_anything_but_one_emoji_is_refused_with_a_clear_message_and_nothing_changes(room, emoji, message, htmx):
    chat_id, message_id, alice, bob = room
    react(alice, chat_id, message_id, "👍")
    before = snapshot(alice.app)

    answer = react(bob, chat_id, message_id, emoji, htmx=htmx)

    assert answer.status_code == 422
    assert message in text_of(answer)
    if htmx:  # shown in the flash area, the message left as it is
        assert answer.headers["HX-Retarget"] == "#flash"
    assert "<script>" not in answer.get_data(as_text=True)
    assert snapshot(alice.app) == before


def test_a_hostile_emoji_on_the_reaction_page_is_refused_and_shown_as_text(room):
    chat_id, message_id, alice, bob = room

    answer = bob.get(f"/chats/{chat_id}/messages/{message_id}/reactions",
                     query_string={"emoji": '"><script>alert(1)</script>'})

    assert answer.status_code == 422
    assert "Reactions are a single emoji" in text_of(answer)
    assert parse(answer).find("input", name="emoji", maxlength="32").get("value") == '"><script>alert(1)</script>'
    assert "<script>alert" not in answer.get_data(as_text=True)


def test_who_reacted_is_shown_as_text_whatever_a_display_name_holds(room, actor):
    chat_id, message_id, alice, _ = room
    hostile = '"><img src=x onerror=alert(1)> & <b>'
    with alice.app.app_context():
        db.session.scalar(select(User).where(User.username == "alice")).display_name = hostile
        db.session.commit()

    answer = react(alice, chat_id, message_id, "👍")

    assert shown_reactions(answer, message_id) == [{"emoji": "👍", "text": "👍 1", "who": hostile, "by": "alice"}]
    assert parse(answer).find("img") is None and parse(answer).find("b") is None


def test_a_deleted_message_takes_no_reactions_and_its_old_ones_are_gone(room):
    chat_id, message_id, alice, bob = room
    react(bob, chat_id, message_id, "👍")
    assert alice.post(f"/chats/{chat_id}/messages/{message_id}/delete", htmx=True).status_code == 200
    before = snapshot(alice.app)

    answer = react(bob, chat_id, message_id, "🎉")

    assert answer.status_code == 409
    assert "That message was deleted; it can't take reactions." in text_of(answer)
    assert snapshot(alice.app) == before
    assert stored_reactions(alice.app, message_id) == []
    assert shown_reactions(page(bob, chat_id), message_id) == []


def test_chat_events_take_no_reactions(room):
    chat_id, _, alice, bob = room
    with alice.app.app_context():
        event = db.session.scalar(select(Message.id).where(Message.chat_id == chat_id, Message.kind == "system"))
    before = snapshot(alice.app)

    answer = react(bob, chat_id, event, "👍")

    assert answer.status_code == 403
    assert "Chat events can't be reacted to." in text_of(answer)
    assert snapshot(alice.app) == before


def test_a_message_takes_at_most_twenty_different_emoji_but_more_people_on_each(room):
    chat_id, message_id, alice, bob = room
    many = ["😀", "😁", "😃", "😄", "😅", "😆", "😉", "😊", "😋", "😎", "😍", "😘", "🥰", "😗", "😙", "🥲", "😚",
            "🙂", "🤗", "🤩"]
    assert len(set(many)) == MAX_DISTINCT_EMOJI
    for emoji in many:
        assert react(alice, chat_id, message_id, emoji).status_code == 200
    before = snapshot(alice.app)

    refused = react(bob, chat_id, message_id, "🤔")

    assert refused.status_code == 409
    assert "already has 20 different reactions; add yours to one of them instead" in text_of(refused)
    assert snapshot(alice.app) == before
    added = react(bob, chat_id, message_id, "😀")
    assert shown_reactions(added, message_id)[0]["text"] == "😀 2"


def test_an_outsider_can_neither_react_nor_open_the_picker_and_nothing_is_stored(room, actor):
    chat_id, message_id, alice, _ = room
    mallory = actor("mallory")
    before = snapshot(alice.app)

    for answer in (react(mallory, chat_id, message_id, "👍"), react(mallory, chat_id, message_id, "👍", htmx=False),
                   mallory.get(f"/chats/{chat_id}/messages/{message_id}/reactions"),
                   mallory.get(f"/chats/{chat_id}/messages/{message_id}/reactions", htmx=True)):
        assert answer.status_code == 404
        assert "lunch at noon" not in answer.get_data(as_text=True)
    assert snapshot(alice.app) == before


def test_a_message_of_another_chat_cannot_be_reacted_to_through_a_chat_one_is_in(room):
    chat_id, message_id, alice, bob = room
    elsewhere = create_group(alice, "Alice alone")
    before = snapshot(alice.app)

    assert react(alice, elsewhere, message_id, "👍").status_code == 404
    assert react(bob, chat_id, message_id + 10_000, "👍").status_code == 404
    assert react(bob, chat_id, 2**63, "👍").status_code == 404
    assert snapshot(alice.app) == before


def test_a_reaction_without_a_csrf_token_is_refused(room):
    chat_id, message_id, alice, bob = room

    answer = bob.post(f"/chats/{chat_id}/messages/{message_id}/reactions", {"emoji": "👍"}, csrf=False)

    assert answer.status_code == 400
    assert stored_reactions(alice.app, message_id) == []


# ----- one rendering for everyone, published once ------------------------------------------------

def test_the_reacted_message_is_the_same_html_for_every_viewer(room):
    chat_id, message_id, alice, bob = room
    react(bob, chat_id, message_id, "👍")
    react(alice, chat_id, message_id, "🎉")

    def article(actor):
        html = actor.get(f"/chats/{chat_id}/messages?after={message_id - 1}").get_data(as_text=True)
        start = html.index(f'<article id="m-{message_id}"')
        return html[start:html.index("</article>", start)]

    assert article(alice) == article(bob)
    # Whose reaction is whose is left to each page's own style rule.
    assert '.reaction[data-by~="alice"]' in page(alice, chat_id).get_data(as_text=True)
    assert '.reaction[data-by~="bob"]' in page(bob, chat_id).get_data(as_text=True)


def test_each_toggle_is_published_once_to_the_chat_as_a_change_and_a_refusal_publishes_nothing(app, room):
    chat_id, message_id, alice, bob = room
    recorder = Recorder()
    app.extensions["webchat.hub"].subscribe(f"chat:{chat_id}", recorder)

    react(bob, chat_id, message_id, "👍")
    react(bob, chat_id, message_id, "not an emoji")
    react(bob, chat_id, message_id, "👍")

    assert len(recorder.payloads) == 2
    added, removed = recorder.payloads
    assert "data-message-changes" in added and "data-message-changes" in removed
    assert [r["text"] for r in shown_reactions(added, message_id)] == ["👍 1"]
    assert shown_reactions(removed, message_id) == []
    assert rev(removed, message_id) > rev(added, message_id)


def test_a_page_that_polls_with_its_change_cursor_gets_the_reacted_message(room):
    chat_id, message_id, alice, bob = room
    shown = page(bob, chat_id)
    cursor = int(parse(shown).by_id("messages").get("data-changes"))

    react(alice, chat_id, message_id, "😮")
    polled = bob.get(f"/chats/{chat_id}/messages?after={message_id}&changes={cursor}", htmx=True)

    assert polled.status_code == 200
    assert [r["text"] for r in shown_reactions(polled, message_id)] == ["😮 1"]
    changes = parse(polled).find("template", data_message_changes=True)
    assert int(changes.get("data-changes")) > cursor


# ----- without JavaScript ------------------------------------------------------------------------

def test_without_javascript_a_reaction_is_picked_on_a_page_and_leads_back_to_the_message(room):
    chat_id, message_id, alice, bob = room
    picker = bob.get(f"/chats/{chat_id}/messages/{message_id}/reactions")
    assert picker.status_code == 200
    assert "lunch at noon?" in text_of(picker)
    quick = parse(picker).find("form", cls="reaction-quick")
    assert quick.get("method") == "post" and quick.find("input", name="csrf_token") is not None
    assert [b.get("value") for b in quick.find_all("button")] == list(QUICK_REACTIONS)

    answer = react(bob, chat_id, message_id, "🎉", htmx=False)

    assert answer.status_code == 302
    assert answer.headers["Location"] == f"/chats/{chat_id}#m-{message_id}"
    assert stored_reactions(alice.app, message_id) == [("bob", "🎉")]


def test_without_javascript_a_reaction_button_asks_once_more_with_the_emoji_chosen(room):
    chat_id, message_id, alice, bob = room
    react(alice, chat_id, message_id, "👍")
    button = parse(page(bob, chat_id)).by_id(f"m-{message_id}").find("form", cls="reaction-form")
    # A page without JavaScript submits this form as a GET: the page below, with the emoji chosen.
    assert button.get("method") == "get"

    confirm = bob.get(button.get("action"), query_string={"emoji": "👍"})
    assert "React with 👍" in text_of(confirm)
    assert "Alice" in text_of(confirm)
    react(bob, chat_id, message_id, "👍", htmx=False)
    again = bob.get(button.get("action"), query_string={"emoji": "👍"})
    assert "Take back your 👍" in text_of(again)


def test_the_picker_htmx_loads_marks_the_viewers_own_reactions(room):
    chat_id, message_id, alice, bob = room
    react(bob, chat_id, message_id, "😂")

    choices = bob.get(f"/chats/{chat_id}/messages/{message_id}/reactions", htmx=True)

    assert choices.status_code == 200
    pressed = {b.get("value"): b.get("aria-pressed") for b in parse(choices).find_all("button", name="emoji")}
    assert pressed == {emoji: "true" if emoji == "😂" else "false" for emoji in QUICK_REACTIONS}
    assert "<html" not in choices.get_data(as_text=True)


def test_the_picker_of_a_deleted_message_says_why_there_is_nothing_to_pick(room):
    chat_id, message_id, alice, bob = room
    alice.post(f"/chats/{chat_id}/messages/{message_id}/delete")

    answer = bob.get(f"/chats/{chat_id}/messages/{message_id}/reactions")

    assert answer.status_code == 409
    assert "That message was deleted" in text_of(answer)
    assert parse(answer).find("form", cls="reaction-quick") is None


def test_a_change_number_is_taken_by_each_toggle(room):
    chat_id, message_id, alice, bob = room
    with alice.app.app_context():
        start = db.session.get(Chat, chat_id).last_change_seq
    react(bob, chat_id, message_id, "👍")
    react(bob, chat_id, message_id, "👍")
    react(bob, chat_id, message_id, "")
    with alice.app.app_context():
        assert db.session.get(Chat, chat_id).last_change_seq == start + 2
        assert db.session.get(Message, message_id).change_seq == start + 2
