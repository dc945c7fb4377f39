"""Mentions over plain requests: the composer's @ suggestions (who is offered, to whom) and the
chat list's "@2" count of unread messages that mention you."""
import pytest
from sqlalchemy import select, update

from webchat.extensions import db
from webchat.models import Membership, User

from .support.hostile import find_class, parse_fragment, squash, text_of
from .support.pages import chat_list, message_id_from, parse
from .support.records import create_group


@pytest.fixture
def trio(actor):
    """alice, bob and carol, each signed in in their own browser."""
    return actor("alice"), actor("bob"), actor("carol")


def suggestions(response) -> list[str]:
    """The usernames the @ list offers, in order."""
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [li.get("data-username") for li in parse(response).find_all("li", cls="mention-option")]


def ask(actor, chat_id, typed):
    return actor.get(f"/chats/{chat_id}/mentions", query_string={"q": typed}, htmx=True)


def entry(actor, chat_id, path="/") -> dict:
    [found] = [e for e in chat_list(actor.get(path)) if e["id"] == chat_id]
    return found


def mark_read(actor, chat_id, upto):
    return actor.post(f"/chats/{chat_id}/read", {"upto": str(upto)})


# ----- suggestions -------------------------------------------------------------------------------

def test_typing_at_bo_offers_the_members_whose_username_or_display_name_starts_with_it(actor, make_user):
    alice = actor("alice")
    make_user("bob", "Bob Baker")
    make_user("bonnie", "Bonnie Lee")
    make_user("aross", "Ross Bonham")  # a word of the display name starts with "bo"
    make_user("carol", "Carol")
    make_user("boris", "Boris Outsider")  # not in the chat
    chat_id = create_group(alice, "Team", "bob bonnie aross carol")

    # Usernames that start with the letters first, then display names.
    assert suggestions(ask(alice, chat_id, "bo")) == ["bob", "bonnie", "aross"]
    assert suggestions(ask(alice, chat_id, "BON")) == ["bonnie", "aross"]
    assert suggestions(ask(alice, chat_id, "@bob")) == ["bob"]
    page = parse(ask(alice, chat_id, "bob"))
    option = page.find("li", cls="mention-option")
    assert " ".join(option.text.split()) == "Bob Baker @bob"
    assert option.get("role") == "option" and option.get("aria-selected") == "true"


def test_two_people_of_one_display_name_are_offered_each_with_their_username_and_the_name_isolated(actor, make_user):
    bob = actor("bob")
    make_user("alice", "Alice Archer")
    make_user("aiice", "Alice \u202eArcher")  # made before lookalikes and bidi controls were refused
    chat_id = create_group(bob, "Team", "alice aiice")

    options = parse_fragment(ask(bob, chat_id, "ali").get_data(as_text=True)).iter("li")

    shown = []
    for option in options:
        [name] = find_class(option, "mention-option-name")
        assert name.get("dir") == "auto"  # a bidi control in the name can't reverse the @username
        shown.append((text_of(name), squash(text_of(option)).rsplit(" ", 1)[-1]))
    assert shown == [("Alice Archer", "@alice"), ("Alice \u202eArcher", "@aiice")]  # usernames that start with it first


def test_a_bare_at_offers_every_other_member_and_never_yourself_or_a_non_member(trio, make_user):
    alice, bob, _ = trio
    make_user("dave")
    chat_id = create_group(alice, "Team", "bob carol")
    create_group(alice, "Other", "dave")

    assert suggestions(ask(alice, chat_id, "")) == ["bob", "carol"]
    assert suggestions(ask(bob, chat_id, "")) == ["alice", "carol"]
    assert suggestions(ask(alice, chat_id, "da")) == []
    assert "dave" not in ask(alice, chat_id, "d").get_data(as_text=True)


def test_a_name_nobody_has_says_so_with_the_typed_text_escaped(trio):
    alice, _, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    response = ask(alice, chat_id, '<img src=x onerror=alert(1)>"')
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert parse(html).find("img") is None
    assert suggestions(response) == []
    assert "No one else in this chat is called" in parse(html).find("li", cls="mention-none").text


def test_percent_and_underscore_in_the_query_match_themselves_not_any_name(actor, make_user):
    alice = actor("alice")
    make_user("bob")
    make_user("b_x")
    chat_id = create_group(alice, "Team", "bob b_x")
    assert suggestions(ask(alice, chat_id, "%")) == []
    assert suggestions(ask(alice, chat_id, "b_")) == ["b_x"]
    assert suggestions(ask(alice, chat_id, "_")) == []


def test_at_most_eight_people_are_offered_usernames_that_start_with_the_letters_first(actor, make_user):
    alice = actor("alice")
    names = [f"mia{i:02d}" for i in range(12)]
    for name in names:
        make_user(name)
    make_user("zed", "Mia Zed")  # matches by display name only: after every username match
    chat_id = create_group(alice, "Crowd", " ".join([*names, "zed"]))
    assert suggestions(ask(alice, chat_id, "mia")) == names[:8]
    assert suggestions(ask(alice, chat_id, "mia1")) == ["mia10", "mia11"]
    assert suggestions(ask(alice, chat_id, "mia0")) == [f"mia0{i}" for i in range(8)]
    assert suggestions(ask(alice, chat_id, "z")) == ["zed"]


def test_a_deactivated_member_is_not_offered(trio, app):
    alice, _, _ = trio
    chat_id = create_group(alice, "Team", "bob carol")
    with app.app_context():
        db.session.execute(update(User).where(User.username == "carol").values(is_active_account=False))
        db.session.commit()
    assert suggestions(ask(alice, chat_id, "")) == ["bob"]


def test_non_members_get_404_and_anonymous_visitors_are_sent_to_sign_in(trio, anonymous):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob")
    assert ask(carol, chat_id, "bo").status_code == 404
    assert ask(carol, chat_id, "").status_code == 404
    assert ask(carol, 999_999, "bo").status_code == 404
    refused = anonymous.get(f"/chats/{chat_id}/mentions?q=bo")
    assert refused.status_code == 302 and "/login" in refused.headers["Location"]
    assert "bob" not in refused.get_data(as_text=True)
    # Once removed, bob is refused too.
    alice.post(f"/chats/{chat_id}/members/bob/remove")
    assert ask(bob, chat_id, "al").status_code == 404


def test_the_chat_page_composer_carries_the_suggestion_list_wired_to_the_route(trio):
    alice, _, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    page = parse(alice.get(f"/chats/{chat_id}"))
    listbox = page.by_id("composer").find("ul", id_="mention-list")
    assert listbox is not None and listbox.get("role") == "listbox" and "hidden" in listbox.attrs
    assert listbox.get("hx-get") == f"/chats/{chat_id}/mentions"
    assert page.by_id("composer").find("textarea").get("aria-controls") == "mention-list"


# ----- the @ count -------------------------------------------------------------------------------

def test_the_at_count_is_others_unread_messages_that_mention_you_on_the_dashboard_and_the_polled_list(trio):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob carol")
    bob.send(chat_id, "@alice can you look?")
    bob.send(chat_id, "no names here")
    carol.send(chat_id, "@alice and @bob: both of you")
    carol.send(chat_id, "@alice @alice twice in one message counts once")

    for path in ("/", "/chats/list"):
        assert entry(alice, chat_id, path) | {"preview": None} == {
            "id": chat_id, "title": "Team", "preview": None, "unread": 4, "mentions": 3}
    assert entry(bob, chat_id)["mentions"] == 1
    assert entry(carol, chat_id)["mentions"] == 0
    badge = parse(alice.get("/")).by_id(f"mentions-{chat_id}")
    assert badge.text == "@3" and badge.get("data-count") == "3"


def test_your_own_mentions_never_count_even_before_your_read_marker(trio, app):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    alice.send(chat_id, "note to self @alice")
    bob.send(chat_id, "@alice over to you")
    # Sending moves one's own marker past one's message; put it back to the start of the chat,
    # so only the author rule can keep "note to self" out of the count.
    with app.app_context():
        alice_id = db.session.scalar(select(User.id).where(User.username == "alice"))
        db.session.execute(update(Membership).where(Membership.chat_id == chat_id, Membership.user_id == alice_id)
                           .values(last_read_message_id=0))
        db.session.commit()
    assert entry(alice, chat_id)["unread"] == 1
    assert entry(alice, chat_id)["mentions"] == 1


def test_mentions_of_someone_then_outside_the_chat_never_count_for_them_once_they_join(actor):
    alice, bob, dave = actor("alice"), actor("bob"), actor("dave")
    chat_id = create_group(alice, "Team", "bob")
    bob.send(chat_id, "@dave is not here yet")
    alice.post(f"/chats/{chat_id}/members", {"usernames": "dave"})
    assert entry(dave, chat_id)["unread"] == 1
    assert entry(dave, chat_id)["mentions"] == 0
    bob.send(chat_id, "@dave welcome")
    assert entry(dave, chat_id)["mentions"] == 1


def test_a_mention_counts_only_for_the_whole_name_never_a_longer_or_wildcard_alike_one(actor):
    alice, bob, bobby, b_b = actor("alice"), actor("bob"), actor("bobby"), actor("b_b")
    chat_id = create_group(alice, "Team", "bob bobby b_b")
    alice.send(chat_id, "@bobby only")
    alice.send(chat_id, "and @bob")
    assert entry(bobby, chat_id)["mentions"] == 1
    assert entry(bob, chat_id)["mentions"] == 1
    assert entry(b_b, chat_id)["mentions"] == 0  # "_" is no wildcard: "b_b" is not "bob"
    alice.send(chat_id, "now @b_b")
    assert entry(b_b, chat_id)["mentions"] == 1


def test_reading_the_chat_clears_the_at_count_and_a_later_mention_counts_again(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    first = message_id_from(bob.send(chat_id, "@alice one"))
    second = message_id_from(bob.send(chat_id, "@alice two"))
    assert entry(alice, chat_id)["mentions"] == 2
    assert mark_read(alice, chat_id, first).status_code == 204
    assert entry(alice, chat_id)["mentions"] == 1
    assert mark_read(alice, chat_id, second).status_code == 204
    assert entry(alice, chat_id)["mentions"] == 0
    assert parse(alice.get("/")).by_id(f"mentions-{chat_id}").get("data-count") == "0"
    bob.send(chat_id, "@alice three")
    assert entry(alice, chat_id)["mentions"] == 1
    # Replying marks what came before as read: the count clears.
    alice.send(chat_id, "on it")
    assert entry(alice, chat_id)["mentions"] == 0


def test_a_mention_in_a_muted_chat_still_counts_and_a_deleted_one_does_not(trio, app):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    assert alice.post(f"/chats/{chat_id}/notifications", {"notify": "none"}).status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Membership.notify).join(User).where(User.username == "alice")) == "none"
    kept = message_id_from(bob.send(chat_id, "@alice even when muted"))
    gone = message_id_from(bob.send(chat_id, "@alice soon deleted"))
    assert entry(alice, chat_id)["mentions"] == 2
    assert bob.post(f"/chats/{chat_id}/messages/{gone}/delete").status_code == 302
    assert entry(alice, chat_id)["mentions"] == 1
    assert kept < gone


def test_the_at_count_is_per_chat(trio):
    alice, bob, carol = trio
    team = create_group(alice, "Team", "bob carol")
    pair = create_group(bob, "Pair", "alice")
    bob.send(team, "@alice in team")
    bob.send(pair, "@alice in pair")
    bob.send(pair, "@alice again in pair")
    counts = {e["id"]: e["mentions"] for e in chat_list(alice.get("/"))}
    assert counts == {team: 1, pair: 2}


def test_editing_a_message_moves_the_at_count_to_whoever_it_names_now(trio):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob carol")
    message_id = message_id_from(bob.send(chat_id, "@alice can you look?"))
    assert (entry(alice, chat_id)["mentions"], entry(carol, chat_id)["mentions"]) == (1, 0)

    edited = bob.post(f"/chats/{chat_id}/messages/{message_id}/edit", {"body": "@carol can you look?"}, htmx=True)
    assert edited.status_code == 200
    assert (entry(alice, chat_id)["mentions"], entry(carol, chat_id)["mentions"]) == (0, 1)
    assert entry(alice, chat_id)["unread"] == 1  # still unread, no longer a mention of her

    bob.post(f"/chats/{chat_id}/messages/{message_id}/edit", {"body": "@carol and @alice, both"}, htmx=True)
    assert (entry(alice, chat_id)["mentions"], entry(carol, chat_id)["mentions"]) == (1, 1)
