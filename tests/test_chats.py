"""Chats: the dashboard list, groups, direct messages, members, and who may see what."""
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from webchat.extensions import db
from webchat.models import User
from webchat.pages import views

from .support.pages import (
    chat_id_from,
    chat_list,
    form_error,
    message_id_from,
    parse,
    system_messages,
    text_of,
)
from .support.records import (
    attachment_ids,
    chat_ids,
    create_group,
    members_of,
    post_messages,
    set_user,
    snapshot,
    stored_messages,
)


@pytest.fixture
def trio(actor):
    """alice, bob and carol, each signed in in their own browser."""
    return actor("alice"), actor("bob"), actor("carol")


def titles(response) -> list[str]:
    return [entry["title"] for entry in chat_list(response)]


def entry_for(response, chat_id) -> dict:
    [entry] = [e for e in chat_list(response) if e["id"] == chat_id]
    return entry


# ----- the dashboard -------------------------------------------------------------------------

def test_the_dashboard_lists_only_your_chats_most_recent_activity_first(trio):
    alice, bob, carol = trio
    alpha = create_group(alice, "Alpha", "bob")
    bravo = create_group(bob, "Bravo", "alice")
    create_group(carol, "Secret", "bob")

    assert titles(alice.get("/")) == ["Bravo", "Alpha"]

    bob.send(alpha, "news in alpha")
    assert titles(alice.get("/")) == ["Alpha", "Bravo"]

    bob.send(bravo, "news in bravo")
    assert titles(alice.get("/")) == ["Bravo", "Alpha"]
    assert titles(alice.get("/chats/list")) == ["Bravo", "Alpha"]
    assert titles(bob.get("/")) == ["Bravo", "Alpha", "Secret"]


def test_the_dashboard_shows_a_preview_of_the_latest_message_in_the_words_it_shows(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    assert entry_for(alice.get("/"), chat_id)["preview"] == "Alice added Bob"

    bob.send(chat_id, "first")
    bob.send(chat_id, "the **latest** news")

    # The words as the message shows them, as a live page previews it: not the Markdown typed.
    assert entry_for(alice.get("/"), chat_id)["preview"] == "Bob: the latest news"

    bob.send(chat_id, "`a < b` & [docs](https://example.com)")
    assert entry_for(alice.get("/"), chat_id)["preview"] == "Bob: a < b & docs"


def test_a_long_preview_is_one_line_of_80_characters_cut_on_whole_emoji(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")

    bob.send(chat_id, "x" * (80 - len("Bob: ")))  # exactly 80 with the name: shown whole
    assert entry_for(alice.get("/"), chat_id)["preview"] == "Bob: " + "x" * 75

    bob.send(chat_id, "line one\n\n   line two")
    assert entry_for(alice.get("/"), chat_id)["preview"] == "Bob: line one line two"

    # The same cut a live message gets in the page (connection.js): 79 characters and "…".
    bob.send(chat_id, "\U0001f600" * 200)
    assert entry_for(alice.get("/"), chat_id)["preview"] == "Bob: " + "\U0001f600" * 74 + "…"


def test_every_message_carries_the_preview_line_the_chat_list_shows_for_it(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    bob.send(chat_id, "`a < b` & " + "\U0001f600" * 100)

    # The page places a live message's data-preview as it is: the server words it, once.
    page = alice.get(f"/chats/{chat_id}")
    newest = parse(page).find_all("article", cls="msg")[-1]
    system = parse(page).find_all("article", cls="msg--system")[-1]
    listed = entry_for(page, chat_id)["preview"]
    assert listed == "Bob: a < b & " + "\U0001f600" * (79 - len("Bob: a < b & ")) + "…"
    assert text_of(newest.get("data-preview")) == listed
    assert system.get("data-preview") == "<em>Alice added Bob</em>"


def mark_read(actor, chat_id, upto):
    """What a visible tab reports once the messages up to `upto` are on screen."""
    return actor.post(f"/chats/{chat_id}/read", {"upto": str(upto)})


def test_the_unread_count_is_others_messages_after_your_read_marker(trio):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Alpha", "bob carol")
    assert entry_for(alice.get("/"), chat_id)["unread"] == 0  # system messages are not unread

    bob.send(chat_id, "one")
    carol.send(chat_id, "two")
    alice.send(chat_id, "mine")  # your own message is never unread, and sending marks what came before as read
    bob.send(chat_id, "three")
    carol.send(chat_id, "four")

    assert entry_for(alice.get("/"), chat_id)["unread"] == 2
    assert entry_for(bob.get("/"), chat_id)["unread"] == 1
    assert entry_for(carol.get("/chats/list"), chat_id)["unread"] == 0  # she wrote the newest one


def test_a_page_words_the_counts_it_adds_up_live_with_the_servers_badge_words(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    bob.send(chat_id, "@alice one")
    page = alice.get("/")
    [meta] = parse(page).find_all("meta", name="webchat-config")
    badges = json.loads(meta.get("content"))["badges"]
    assert (badges["capped"], badges["cappedText"]) == (1000, "999+")

    def worded(kind, count):  # what the page's script does with them (webchat.js, badgeWords)
        shown = badges["cappedText"] if count >= badges["capped"] else str(count)
        words = badges["words"][kind]
        return words["text"].replace("#", shown), words["title"][count != 1].replace("#", shown)

    for kind, badge in (("unread", f"unread-{chat_id}"), ("mentions", f"mentions-{chat_id}")):
        shown = parse(page).by_id(badge)
        assert worded(kind, 1) == (shown.text, shown.get("title"))
    assert worded("mentions", 2) == ("@2", "2 unread mentions of you")
    assert worded("unread", 1000) == ("999+", "999+ unread")


def test_reading_a_chat_clears_its_unread_count(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    first = message_id_from(bob.send(chat_id, "one"))
    newest = message_id_from(bob.send(chat_id, "two"))
    assert entry_for(alice.get("/"), chat_id)["unread"] == 2

    assert mark_read(alice, chat_id, first).status_code == 204
    assert entry_for(alice.get("/"), chat_id)["unread"] == 1

    assert mark_read(alice, chat_id, newest).status_code == 204
    assert entry_for(alice.get("/"), chat_id)["unread"] == 0

    mark_read(alice, chat_id, first)  # a late report from another tab never moves the marker back
    assert entry_for(alice.get("/"), chat_id)["unread"] == 0
    bob.send(chat_id, "three")
    assert entry_for(alice.get("/"), chat_id)["unread"] == 1


def test_beyond_999_unread_messages_the_badges_say_999_plus_and_reading_counts_down_exactly(trio, app):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Busy", "bob")
    ids = post_messages(app, chat_id, "bob", [f"@alice number {i}" for i in range(1001)])
    for path in ("/", "/chats/list"):
        entry = entry_for(alice.get(path), chat_id)
        assert (entry["unread"], entry["mentions"]) == ("999+", "999+")
    badge = parse(alice.get("/")).by_id(f"unread-{chat_id}")
    assert badge.text == "999+" and badge.get("title") == "999+ unread"

    assert mark_read(alice, chat_id, ids[1]).status_code == 204  # 999 left: counted exactly again
    entry = entry_for(alice.get("/"), chat_id)
    assert (entry["unread"], entry["mentions"]) == (999, 999)
    assert mark_read(alice, chat_id, ids[-4]).status_code == 204
    assert entry_for(alice.get("/chats/list"), chat_id)["unread"] == 3


def test_opening_a_chat_marks_where_the_unread_messages_start(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    alice.send(chat_id, "seen")
    first_unread = message_id_from(bob.send(chat_id, "new one"))
    bob.send(chat_id, "new two")

    page = parse(alice.get(f"/chats/{chat_id}"))

    divider = page.by_id("new-divider")
    assert divider is not None and divider.text == "New messages"
    siblings = [n for n in divider.parent.children if not isinstance(n, str)]
    assert siblings[siblings.index(divider) + 1].id == f"m-{first_unread}"


def test_a_chat_with_more_unread_than_a_page_opens_at_its_first_unread_up_to_a_reach(trio, app):
    alice, _, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    alice.send(chat_id, "seen")
    ids = post_messages(app, chat_id, "bob", [f"unread {n}" for n in range(120)])

    page = parse(alice.get(f"/chats/{chat_id}"))  # 120 unread, more than a page of 50: all shown
    divider = page.by_id("new-divider")
    siblings = [n for n in divider.parent.children if not isinstance(n, str)]
    assert siblings[siblings.index(divider) + 1].id == f"m-{ids[0]}"
    assert page.by_id(f"m-{ids[0] - 1}") is not None  # and where reading stopped, just before

    more = post_messages(app, chat_id, "bob", [f"more {n}" for n in range(300)])  # 420 unread
    page = parse(alice.get(f"/chats/{chat_id}"))
    shown = [n for n in page.by_id("messages").children if not isinstance(n, str) and n.get("data-id")]
    assert len(shown) == views.UNREAD_REACH and shown[-1].id == f"m-{more[-1]}"
    assert page.by_id("new-divider").parent is not None  # at the oldest loaded; older ones above it


@pytest.mark.parametrize("upto", ["", "-1", "soon"])
def test_a_read_report_without_a_message_id_is_refused(trio, upto):
    alice, _, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")

    assert alice.post(f"/chats/{chat_id}/read", {"upto": upto}).status_code == 400


def test_opening_a_chat_in_the_pane_also_refreshes_the_chat_list(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Alpha", "bob")
    bob.send(chat_id, "hello")

    pane = alice.get(f"/chats/{chat_id}", htmx=True, target="chat-pane")

    chat_list_node = parse(pane).by_id("chat-list")
    assert chat_list_node.get("hx-swap-oob") == "true"
    assert entry_for(pane, chat_id)["preview"] == "Bob: hello"


# ----- groups --------------------------------------------------------------------------------

def test_creating_a_group_adds_the_named_members_with_the_creator_as_admin(trio):
    alice, bob, carol = trio

    response = alice.post("/chats", {"name": "  Launch   crew ", "members": "bob, @carol"})

    assert response.status_code == 302
    chat_id = chat_id_from(response)
    assert members_of(alice.app, chat_id) == {"alice": "admin", "bob": "member", "carol": "member"}
    page = alice.get(f"/chats/{chat_id}")
    assert parse(page).find("h2").text == "Launch crew"
    assert "3 members" in text_of(page)
    assert chat_id in [e["id"] for e in chat_list(carol.get("/"))]


def test_creating_a_group_by_htmx_redirects_the_whole_page_to_it(trio):
    alice, _, _ = trio

    response = alice.post("/chats", {"name": "Team", "members": "bob"}, htmx=True, target="chat-pane")

    assert response.status_code == 204
    assert response.headers["HX-Redirect"] == f"/chats/{chat_id_from(response)}"


@pytest.mark.parametrize(("name", "members", "message"), [
    ("", "bob", "Give the chat a name."),
    ("   ", "bob", "Give the chat a name."),
    ("x" * 81, "bob", "Chat names can be at most 80 characters."),
    # Alice finds bob though they share no chat (a member finds everyone): only zed is doubted.
    ("Team", "bob, zed", "Couldn't start the chat: check the username — zed doesn't match anyone you can add. "
                         "Nothing was changed."),
], ids=["no-name", "blank-name", "name-too-long", "unknown-member"])
def test_a_refused_group_says_why_and_creates_nothing(trio, name, members, message):
    alice, _, _ = trio

    response = alice.post("/chats", {"name": name, "members": members})

    assert response.status_code == 422
    assert form_error(response) == message
    assert chat_ids(alice.app) == []
    assert stored_messages(alice.app) == []
    page = parse(response)
    assert page.find("input", name="members").get("value") == members  # what was typed stays


def test_a_refused_group_by_htmx_answers_with_the_pane_and_the_error(trio):
    alice, _, _ = trio

    response = alice.post("/chats", {"name": "Team", "members": "zed"}, htmx=True, target="chat-pane")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert form_error(response) == ("Couldn't start the chat: check the username — zed doesn't match anyone "
                                    "you can add. Nothing was changed.")


def test_a_refused_group_does_not_list_many_unknown_names(trio):
    alice, _, _ = trio
    typos = [f"nobody{i}" for i in range(10)]

    people_among_them = alice.post("/chats", {"name": "Team", "members": " ".join(["bob", "carol", *typos])})
    typos_only = alice.post("/chats", {"name": "Team", "members": " ".join(typos)})

    assert people_among_them.status_code == typos_only.status_code == 422
    assert form_error(people_among_them) == form_error(typos_only) == (
        "Couldn't start the chat: check the usernames — one or more of the 10 that aren't people you can find "
        "don't match anyone you can add. Nothing was changed.")
    assert chat_ids(alice.app) == []


def test_a_refused_group_names_the_missing_people_one_shares_a_chat_with_and_leaves_them_out_of_the_doubt(
        trio, app):
    alice, _, _ = trio
    create_group(alice, "Known", "bob carol")

    typo = alice.post("/chats", {"name": "Team", "members": "bob carol zed"})
    with app.app_context():
        db.session.execute(update(User).where(User.username == "carol").values(is_active_account=False))
        db.session.commit()
    gone = alice.post("/chats", {"name": "Team", "members": "bob carol"})

    assert form_error(typo) == ("Couldn't start the chat: check the username — zed doesn't match anyone you can "
                                "add. Nothing was changed.")
    assert form_error(gone) == "Couldn't start the chat: carol doesn't match anyone you can add. Nothing was changed."
    assert len(chat_ids(alice.app)) == 1


# ----- direct messages -----------------------------------------------------------------------

def test_there_is_one_direct_chat_per_pair_whoever_opens_it(trio):
    alice, bob, _ = trio

    first = chat_id_from(alice.post("/dm", {"username": "bob"}))
    again = chat_id_from(alice.post("/dm", {"username": "@Bob"}))
    from_bob = chat_id_from(bob.post("/dm", {"username": "alice"}))

    assert first == again == from_bob
    assert chat_ids(alice.app) == [first]
    assert members_of(alice.app, first) == {"alice": "admin", "bob": "admin"}
    assert entry_for(alice.get("/"), first)["title"] == "Bob"
    assert entry_for(bob.get("/"), first)["title"] == "Alice"
    assert system_messages(bob.get(f"/chats/{first}")) == ["Alice started a conversation with Bob"]


def test_a_dm_header_says_when_the_partner_was_last_seen_and_how_it_will_read_as_time_passes(trio, app):
    alice, bob, _ = trio
    chat_id = chat_id_from(alice.post("/dm", {"username": "bob"}))
    set_user(app, "bob", last_seen_at=datetime.now(UTC) - timedelta(minutes=57, seconds=30))

    presence = parse(alice.get(f"/chats/{chat_id}")).find("header", cls="chat-header").find("span", cls="presence")
    assert presence.text == "last seen 57 min ago"
    # An open page keeps it true from the server's own words (live.js picks the ones reached).
    assert json.loads(presence.get("data-words"))[:5] == [
        [57, "last seen 57 min ago"], [58, "last seen 58 min ago"], [59, "last seen 59 min ago"],
        [60, "last seen 1 h ago"], [120, "last seen 2 h ago"]]


@pytest.mark.parametrize(("username", "message"), [
    ("alice", "You can't start a direct message with yourself."),
    ("zed", "Couldn't open the conversation: check the username — zed doesn't match anyone you can add. "
            "Nothing was changed."),
    ("", "Name one person to message directly."),
    ("bob carol", "Name one person to message directly."),
], ids=["yourself", "unknown-user", "nobody", "two-people"])
def test_a_refused_direct_message_says_why_and_creates_nothing(trio, username, message):
    alice, _, _ = trio

    response = alice.post("/dm", {"username": username})

    assert response.status_code == 422
    assert form_error(response) == message
    assert chat_ids(alice.app) == []


@pytest.mark.parametrize(("path", "data"), [
    ("members", {"usernames": "carol"}),
    ("rename", {"name": "Renamed"}),
    ("leave", {}),
    ("members/bob/remove", {}),
])
def test_a_direct_chat_cannot_change_members_name_or_be_left(trio, path, data):
    alice, _, _ = trio
    chat_id = chat_id_from(alice.post("/dm", {"username": "bob"}))
    before = snapshot(alice.app)

    response = alice.post(f"/chats/{chat_id}/{path}", data)

    assert response.status_code == 400
    assert "A direct message can't" in text_of(response)
    assert snapshot(alice.app) == before


# ----- members, rename, leave ----------------------------------------------------------------

def test_any_member_can_add_people_who_then_see_the_chat(trio, actor):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob")

    response = bob.post(f"/chats/{chat_id}/members", {"usernames": "carol"})

    assert response.status_code == 200
    assert "Added Carol." in text_of(response)
    assert members_of(alice.app, chat_id) == {"alice": "admin", "bob": "member", "carol": "member"}
    assert carol.get(f"/chats/{chat_id}").status_code == 200
    assert "Carol @carol" in text_of(alice.get(f"/chats/{chat_id}/members"))


@pytest.mark.parametrize(("usernames", "message"), [
    ("bob", "Everyone you named is already in this chat."),
    ("carol zed", "Couldn't add anyone: check the username — zed doesn't match anyone you can add. "
                  "Nothing was changed."),
    ("", "Name at least one person to add."),
], ids=["already-member", "unknown-user", "nobody"])
def test_a_refused_add_says_why_and_changes_nothing(trio, usernames, message):
    alice, _, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    before = snapshot(alice.app)

    response = alice.post(f"/chats/{chat_id}/members", {"usernames": usernames})

    assert response.status_code == 422
    assert form_error(response) == message
    assert snapshot(alice.app) == before


def test_only_admins_can_remove_members(trio):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob carol")
    before = snapshot(alice.app)

    response = bob.post(f"/chats/{chat_id}/members/carol/remove")

    assert response.status_code == 403
    assert form_error(response) == "Only the chat's admins can do that."
    assert snapshot(alice.app) == before
    members_page = parse(bob.get(f"/chats/{chat_id}/members"))
    assert members_page.find("button", cls="danger", type="submit") is not None  # "Leave", not "Remove"
    assert "Remove" not in members_page.by_id("chat-pane").find("ul", cls="people").text


def test_a_removed_member_loses_access_to_the_chat(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    assert bob.get(f"/chats/{chat_id}").status_code == 200

    response = alice.post(f"/chats/{chat_id}/members/bob/remove")

    assert response.status_code == 200
    assert "Removed Bob." in text_of(response)
    assert members_of(alice.app, chat_id) == {"alice": "admin"}
    assert bob.get(f"/chats/{chat_id}").status_code == 404
    assert bob.get(f"/chats/{chat_id}/messages", query_string={"after": 0}).status_code == 404
    assert bob.send(chat_id, "still here?").status_code == 404
    assert chat_id not in [e["id"] for e in chat_list(bob.get("/"))]


def test_removing_someone_not_in_the_chat_or_yourself_is_refused(trio):
    alice, _, _ = trio
    chat_id = create_group(alice, "Team", "bob")

    assert form_error(alice.post(f"/chats/{chat_id}/members/carol/remove")) == "That person is not in this chat."
    assert form_error(alice.post(f"/chats/{chat_id}/members/alice/remove")) == "To remove yourself, leave the chat."
    assert members_of(alice.app, chat_id) == {"alice": "admin", "bob": "member"}


def test_a_member_can_rename_the_chat(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")

    response = bob.post(f"/chats/{chat_id}/rename", {"name": "Launch crew"})

    assert response.status_code == 200
    assert "Renamed." in text_of(response)
    assert entry_for(alice.get("/"), chat_id)["title"] == "Launch crew"
    assert parse(alice.get(f"/chats/{chat_id}")).find("h2").text == "Launch crew"


def test_renaming_to_nothing_is_refused(trio):
    alice, _, _ = trio
    chat_id = create_group(alice, "Team")

    response = alice.post(f"/chats/{chat_id}/rename", {"name": "  "})

    assert response.status_code == 422
    assert form_error(response) == "Give the chat a name."
    assert entry_for(alice.get("/"), chat_id)["title"] == "Team"


def test_leaving_a_chat_takes_you_to_the_dashboard_and_out_of_the_chat(trio):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob carol")

    response = carol.post(f"/chats/{chat_id}/leave")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert carol.get(f"/chats/{chat_id}").status_code == 404
    assert chat_id not in [e["id"] for e in chat_list(carol.get("/"))]
    assert members_of(alice.app, chat_id) == {"alice": "admin", "bob": "member"}


def test_when_the_last_admin_leaves_another_member_becomes_admin(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")

    alice.post(f"/chats/{chat_id}/leave")

    assert members_of(alice.app, chat_id) == {"bob": "admin"}
    assert bob.post(f"/chats/{chat_id}/members", {"usernames": "carol"}).status_code == 200
    assert bob.post(f"/chats/{chat_id}/members/carol/remove").status_code == 200


def test_every_change_to_a_chat_is_recorded_as_a_system_message(trio):
    alice, bob, carol = trio
    chat_id = create_group(alice, "Team", "bob")
    alice.post(f"/chats/{chat_id}/members", {"usernames": "carol"})
    alice.post(f"/chats/{chat_id}/rename", {"name": "Launch"})
    alice.post(f"/chats/{chat_id}/members/bob/remove")
    carol.post(f"/chats/{chat_id}/leave")

    expected = [
        "Alice created the chat “Team”",
        "Alice added Bob",
        "Alice added Carol",
        "Alice renamed the chat to “Launch”",
        "Alice removed Bob",
        "Carol left",
    ]
    stored = stored_messages(alice.app, chat_id)
    assert [m.body for m in stored] == expected
    assert {(m.kind, m.author) for m in stored} == {("system", None)}
    page = alice.get(f"/chats/{chat_id}")
    assert system_messages(page) == expected
    assert all("msg--system" in node.classes for node in parse(page).find_all("article", cls="msg"))


# ----- who may see what ----------------------------------------------------------------------

CHAT_URLS = [
    ("GET", "/chats/{id}", None),
    ("GET", "/chats/{id}/messages?after=0", None),
    ("GET", "/chats/{id}/messages?before=999", None),
    ("POST", "/chats/{id}/messages", {"body": "let me in", "client_id": "intruder-0001"}),
    ("GET", "/chats/{id}/members", None),
    ("POST", "/chats/{id}/members", {"usernames": "mallory"}),
    ("POST", "/chats/{id}/members/bob/remove", {}),
    ("POST", "/chats/{id}/rename", {"name": "Owned"}),
    ("POST", "/chats/{id}/leave", {}),
    ("POST", "/chats/{id}/read", {"upto": "999999"}),
    ("POST", "/chats/{id}/notifications", {"notify": "none"}),
    ("GET", "/chats/{id}/mentions?q=b", None),
    ("GET", "/chats/{id}/messages/{mid}", None),
    ("GET", "/chats/{id}/messages/{mid}/edit", None),
    ("POST", "/chats/{id}/messages/{mid}/edit", {"body": "rewritten"}),
    ("GET", "/chats/{id}/messages/{mid}/delete", None),
    ("POST", "/chats/{id}/messages/{mid}/delete", {}),
    ("GET", "/chats/{id}/messages/{mid}/reactions", None),
    ("POST", "/chats/{id}/messages/{mid}/reactions", {"emoji": "👍"}),
    ("POST", "/chats/{id}/attachments", {"body": "let me in", "client_id": "intruder-0002"}),
    ("GET", "/chats/{id}/attachments/{aid}/notes.txt", None),
    ("GET", "/chats/{id}/thumbnails/{aid}", None),
    ("POST", "/chats/{id}/topic", {"topic": "Owned", "description": ""}),
    ("POST", "/chats/{id}/archive", {}),
    ("POST", "/chats/{id}/unarchive", {}),
    ("POST", "/admin/channels/{id}/owner", {"owner": "mallory"}),
    ("POST", "/admin/channels/{id}/default", {"default": "1"}),
    ("POST", "/chats/{id}/join", {}),  # joining is for public channels (test_directory.py)
    ("POST", "/chats/{id}/bots", {"username": "sneaky-bot", "display_name": "Sneaky"}),  # test_bots.py
    # Integrations (tests/test_webhooks.py): a chat's webhooks are its admins' to make and revoke.
    ("POST", "/chats/{id}/webhooks/incoming", {"name": "Sneaky hook"}),
    ("POST", "/chats/{id}/webhooks/outgoing", {"name": "Sneaky hook", "url": "https://example.com/hook"}),
    ("POST", "/chats/{id}/webhooks/1/revoke", {}),
    # ----- threads (test_threads.py)
    ("GET", "/chats/{id}/threads/{mid}", None),
    ("POST", "/chats/{id}/threads/{mid}/replies", {"body": "let me in", "client_id": "intruder-0003"}),
    ("GET", "/chats/{id}/messages/{mid}/quote", None),  # test_quotes.py
    ("GET", "/chats/{id}/threads/{mid}/replies?after=0", None),
    ("GET", "/chats/{id}/threads/{mid}/replies?before=2147483647", None),
    ("POST", "/chats/{id}/threads/{mid}/follow", {}),
    ("POST", "/chats/{id}/threads/{mid}/unfollow", {}),
    ("POST", "/chats/{id}/threads/{mid}/read", {"upto": "2147483647"}),
]
CHAT_URL_IDS = [f"{method} {url.replace('{id}', 'N')}" for method, url, _ in CHAT_URLS]


def test_the_list_of_chat_urls_above_covers_every_chat_route(app):
    routes = {(method, rule.rule.replace("<id:chat_id>", "{id}").replace("<username>", "bob")
               .replace("<id:message_id>", "{mid}").replace("<id:attachment_id>", "{aid}")
               .replace("<filename>", "notes.txt").replace("<id:hook_id>", "1"))
              for rule in app.url_map.iter_rules() if "<id:chat_id>" in rule.rule
              and not rule.rule.startswith("/api/")  # the API's own table: tests/test_api.py ENDPOINTS
              for method in rule.methods - {"HEAD", "OPTIONS"}}

    assert routes == {(method, url.split("?")[0]) for method, url, _ in CHAT_URLS}


def request(actor, method, url, data, htmx=False):
    if method == "GET":
        return actor.get(url, htmx=htmx)
    return actor.post(url, data, htmx=htmx)


@pytest.fixture
def private_chat(actor):
    """A group of alice and bob with a message in it: (chat id, alice's browser)."""
    alice, _ = actor("alice"), actor("bob")
    # A name no page prints by itself ("Private" is a choice on the new-channel form).
    chat_id = create_group(alice, "Hush-hush", "bob")
    alice.send(chat_id, "for members only")
    alice.post(f"/chats/{chat_id}/attachments", {"files": (io.BytesIO(b"for members only"), "notes.txt"),
                                                 "client_id": str(uuid.uuid4())}, content_type="multipart/form-data")
    return chat_id, alice


@pytest.mark.parametrize(("method", "url", "data"), CHAT_URLS, ids=CHAT_URL_IDS)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_a_non_member_gets_404_on_every_chat_url_and_changes_nothing(private_chat, actor, method, url, data, htmx):
    chat_id, alice = private_chat
    mallory = actor("mallory")
    before = snapshot(alice.app)

    message_id = stored_messages(alice.app, chat_id)[-1].id
    response = request(mallory, method, url.format(id=chat_id, mid=message_id, aid=attachment_ids(alice.app)[0]),
                       data, htmx=htmx)

    assert response.status_code == 404
    assert "There is nothing here, or you don't have access to it." in text_of(response)
    if htmx:  # the refusal is shown in the flash area, not swapped into the chat
        assert response.headers["HX-Retarget"] == "#flash"
    assert "for members only" not in response.get_data(as_text=True)
    assert "Hush-hush" not in response.get_data(as_text=True)
    assert snapshot(alice.app) == before


def test_a_chat_that_does_not_exist_looks_the_same_as_one_you_are_not_in(private_chat, actor):
    chat_id, _ = private_chat
    mallory = actor("mallory")

    hidden = mallory.get(f"/chats/{chat_id}")
    missing = mallory.get(f"/chats/{chat_id + 1000}")

    assert hidden.status_code == missing.status_code == 404
    assert text_of(hidden) == text_of(missing)


@pytest.mark.parametrize(("method", "url", "data"), CHAT_URLS + [
    ("GET", "/", None),
    ("GET", "/chats/list", None),
    ("POST", "/chats", {"name": "Sneaky", "members": "bob"}),
    ("POST", "/dm", {"username": "bob"}),
], ids=CHAT_URL_IDS + ["GET /", "GET /chats/list", "POST /chats", "POST /dm"])
def test_anonymous_visitors_are_sent_to_login_from_every_chat_url(private_chat, anonymous, method, url, data):
    chat_id, alice = private_chat
    before = snapshot(alice.app)

    response = request(anonymous, method, url.format(id=chat_id, mid=1, aid=attachment_ids(alice.app)[0]), data)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    assert snapshot(alice.app) == before


def test_a_chat_never_appears_in_a_non_members_list(private_chat, actor):
    chat_id, _ = private_chat
    mallory = actor("mallory")
    create_group(mallory, "Mine")

    for page in (mallory.get("/"), mallory.get("/chats/list"), mallory.get("/settings")):
        assert "Hush-hush" not in page.get_data(as_text=True)
        assert chat_id not in [e["id"] for e in chat_list(page)]
    assert titles(mallory.get("/")) == ["Mine"]


# ----- full page or pane ---------------------------------------------------------------------

def test_a_chat_opened_without_htmx_is_a_full_page(private_chat):
    chat_id, alice = private_chat

    response = alice.get(f"/chats/{chat_id}")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in html
    page = parse(html)
    assert page.by_id("chat-pane") is not None
    assert page.by_id("chat-list") is not None
    assert page.by_id("composer") is not None
    assert "HX-Request" in response.headers["Vary"]


def test_a_chat_opened_by_htmx_into_the_pane_is_just_the_pane(private_chat):
    chat_id, alice = private_chat

    response = alice.get(f"/chats/{chat_id}", htmx=True, target="chat-pane")

    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<section id="chat-pane"')
    assert 'id="chat-pane"' in html
    assert "for members only" in text_of(html)
    vary = {v.strip() for v in response.headers["Vary"].split(",")}
    assert {"HX-Request", "HX-Target"} <= vary


def test_refusals_and_404s_that_htmx_gets_as_fragments_say_they_vary_by_hx_request(private_chat):
    chat_id, alice = private_chat

    refused = alice.send(chat_id, "   ", htmx=True)
    missing = alice.get("/chats/999999999", htmx=True)

    assert refused.status_code == 422
    assert missing.status_code == 404
    for response in (refused, missing):
        assert "<html" not in response.get_data(as_text=True)
        assert "HX-Request" in {v.strip() for v in response.headers.get("Vary", "").split(",")}


@pytest.mark.parametrize("target", [None, "messages"])
def test_an_htmx_request_for_another_target_still_gets_the_full_page(private_chat, target):
    chat_id, alice = private_chat

    response = alice.get(f"/chats/{chat_id}", htmx=True, target=target)

    assert "<html" in response.get_data(as_text=True)


def test_the_members_page_lists_everyone_with_admins_first(trio):
    alice, bob, carol = trio
    chat_id = create_group(bob, "Team", "alice carol")

    page = parse(alice.get(f"/chats/{chat_id}/members"))

    people = [(li.find("span").find("bdi").text, li.find("span", cls="muted").text,
               li.find("span", cls="tag") is not None)
              for li in page.find("ul", cls="people").find_all("li")]
    assert people == [("Bob", "@bob", True), ("Alice", "@alice", False), ("Carol", "@carol", False)]


def test_client_ids_are_per_author_so_two_people_may_use_the_same_one(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Team", "bob")
    shared = str(uuid.uuid4())

    assert alice.send(chat_id, "from alice", client_id=shared).status_code == 302
    assert bob.send(chat_id, "from bob", client_id=shared).status_code == 302

    assert [m.body for m in stored_messages(alice.app, chat_id) if m.kind == "user"] == ["from alice", "from bob"]


def test_a_page_load_the_person_starts_marks_the_chat_read_for_browsers_without_javascript(actor):
    alice, bob = actor("alice"), actor("bob")
    chat_id = create_group(alice, "Alpha", "bob")
    bob.send(chat_id, "hello alice")
    assert entry_for(alice.get("/"), chat_id)["unread"] == 1
    alice.client.get(f"/chats/{chat_id}", headers={"Sec-Fetch-User": "?1", "Sec-Fetch-Mode": "navigate",
                                                   "Sec-Fetch-Site": "same-origin"})
    assert entry_for(alice.get("/"), chat_id)["unread"] == 0
