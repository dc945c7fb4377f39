"""Channels: public and private, their names, topic and description, archiving (read-only on every
door), #general and the first run, and the administrators' channel list. Against a live server of
the module's own (SQLite, or PostgreSQL with WEBCHAT_TEST_DATABASE_URL), whose first account owns
the workspace and makes #general.
"""
import html
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from webchat.extensions import db
from webchat.models import Chat, User

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, expect_live
from .support.pages import chat_list, form_error, parse, system_messages
from .support.stored import LiveDatabase
from .support.wsclient import Person, is_chat_list, message_ids, new_client_id

ARCHIVED = "is archived: it's read-only. Nothing was sent."


@pytest.fixture(scope="module")
def server():
    with services.module_server("channels", _TMP, extra_env={"WEBCHAT_DEFAULT_CHANNEL": "general"}) as live:
        yield live


@pytest.fixture(scope="module")
def owner(server):
    """The workspace's first account: its owner, who made #general by registering."""
    return Person.register(server.url, "owner")


@pytest.fixture(scope="module")
def stored(server):
    database = LiveDatabase(server)
    yield database
    database.close()


@pytest.fixture
def member(server, owner):
    return Person.register(server.url, "member")


def sql(stored, statement: str, **params):
    with stored.engine.begin() as conn:
        result = conn.execute(text(statement), params)
        return result.all() if result.returns_rows else []


def words(response) -> str:
    return " ".join(html.unescape(parse(response.text).text).split())


def titles(person) -> list[str]:
    return [entry["title"] for entry in chat_list(person.get("/").text)]


def general_id(stored) -> int:
    [(chat_id,)] = sql(stored, "SELECT id FROM chats WHERE is_default")
    return chat_id


def new_channel(person, name=None, visibility="private", members=(), topic="", description="", **form):
    return person.post("/chats", {"name": name or f"ch{uuid.uuid4().hex[:6]}", "visibility": visibility,
                                  "members": " ".join(getattr(p, "username", p) for p in members), "topic": topic,
                                  "description": description, **form})


def created(response) -> int:
    assert response.status == 302, response
    return int(response.location.rsplit("/", 1)[1])


# ----- #general and the first run -------------------------------------------------------------

def test_the_first_account_makes_general_and_every_new_member_joins_it(owner, stored, server):
    general = general_id(stored)
    watching = owner.open_tab()
    watching.view(general)
    watching.wait_for(is_chat_list)

    newcomer = Person.register(server.url, "newcomer")

    assert "general" in titles(owner) and titles(newcomer) == ["general"]
    page = newcomer.get(f"/chats/{general}")
    topic = parse(page.text).by_id(f"chat-topic-{general}").text.strip()
    assert topic == "Company-wide announcements and work-based matters"
    assert f"{newcomer.username.title()} joined" in system_messages(page.text)
    # The owner's open page hears the newcomer arrive.
    joined = watching.wait_for(lambda f: bool(message_ids(f, general)) and "joined" in f, timeout=5)
    assert newcomer.username.title() in joined
    assert sql(stored, "SELECT is_public, owner_id FROM chats WHERE id = :id", id=general) == [
        (True, sql(stored, "SELECT id FROM users WHERE username = :u", u=owner.username)[0][0])]
    watching.close()


def test_someone_new_sees_where_things_are_on_the_home_pane(member):
    home = parse(member.get("/").text)
    guide = home.find("ul", cls="first-run")
    assert guide is not None
    said = " ".join(guide.text.split())
    for where in ("on the left", "Browse channels, above your list", "New message, above your list",
                  "Settings, at the top right"):
        assert where in said


def test_someone_in_several_chats_sees_no_first_run_guide(member):
    for _ in range(2):
        created(new_channel(member))
    assert parse(member.get("/").text).find("ul", cls="first-run") is None


def test_a_guest_joins_no_default_channel_and_nobody_joins_an_archived_one(app):
    from webchat.core import channels

    with app.test_request_context("/"):
        owner = User(username="boss", display_name="Boss", role="owner")
        guest = User(username="visitor", display_name="Visitor", role="guest")
        for user in (owner, guest):
            user.set_password("password123")
        db.session.add_all([owner, guest])
        db.session.commit()
        general = channels.ensure_general(owner, "general")
        assert channels.ensure_general(owner, "general") is None  # made once

        assert channels.join_default_channels(guest) == []
        general.archived_at = general.created_at
        db.session.commit()
        late = User(username="late", display_name="Late", role="member")
        late.set_password("password123")
        db.session.add(late)
        db.session.commit()
        assert channels.join_default_channels(late) == []
        assert {m.user.username for m in db.session.get(Chat, general.id).memberships} == {"boss"}


# ----- creating channels ----------------------------------------------------------------------

def test_a_public_channel_is_created_with_its_topic_and_description(member, stored):
    name = f"Design {uuid.uuid4().hex[:4]}"
    chat = created(new_channel(member, name, "public", topic="Pixels and fonts", description="Line one\nLine two"))

    assert sql(stored, "SELECT is_public, topic, description, kind FROM chats WHERE id = :id", id=chat) == [
        (True, "Pixels and fonts", "Line one\nLine two", "group")]
    details = parse(member.get(f"/chats/{chat}/members").text)
    assert "Public channel" in details.find(cls="channel-details").text
    assert details.find(cls="channel-description").text == "Line one\nLine two"
    assert parse(member.get(f"/chats/{chat}").text).by_id(f"chat-topic-{chat}").text.strip() == "Pixels and fonts"


def test_a_channel_is_private_unless_said_otherwise(member, stored):
    chat = created(member.post("/chats", {"name": f"old form {uuid.uuid4().hex[:4]}", "members": ""}))
    assert sql(stored, "SELECT is_public FROM chats WHERE id = :id", id=chat) == [(False,)]


@pytest.mark.parametrize("lookalike", ["{name}", "{lower}", "{upper}", "{cyrillic}", "  {name}  "])
def test_a_public_name_that_looks_like_another_is_refused_and_nothing_is_made(member, server, stored, lookalike):
    tag = uuid.uuid4().hex[:4]
    name = f"General{tag}"
    created(new_channel(member, name, "public"))
    other = Person.register(server.url, "other")
    typed = lookalike.format(name=name, lower=name.lower(), upper=name.upper(),
                             cyrillic=name.replace("e", "\u0435"))
    before = sql(stored, "SELECT count(*) FROM chats")

    response = new_channel(other, typed, "public")

    assert response.status == 409
    assert form_error(response.text) == f"There's already a public channel named #{name}. Pick another name."
    assert sql(stored, "SELECT count(*) FROM chats") == before
    # A private channel may have that name: nobody finds it by it.
    created(new_channel(other, typed, "private"))


def test_renaming_a_public_channel_obeys_the_same_uniqueness(member, stored):
    taken = f"Taken{uuid.uuid4().hex[:4]}"
    created(new_channel(member, taken, "public"))
    mine = created(new_channel(member, f"Mine{uuid.uuid4().hex[:4]}", "public"))

    response = member.post(f"/chats/{mine}/rename", {"name": taken.lower()})

    assert response.status == 409
    assert form_error(response.text) == f"There's already a public channel named #{taken}. Pick another name."
    assert member.post(f"/chats/{mine}/rename", {"name": f"Free{uuid.uuid4().hex[:4]}"}).status == 200


def test_a_guest_can_t_create_channels(server, owner, stored):
    guest = Person.register(server.url, "guest")
    sql(stored, "UPDATE users SET role = 'guest' WHERE username = :u", u=guest.username)
    before = sql(stored, "SELECT count(*) FROM chats")

    for visibility in ("private", "public"):
        response = new_channel(guest, visibility=visibility)
        assert response.status == 403
        assert "Guests can't create channels." in words(response)
    assert sql(stored, "SELECT count(*) FROM chats") == before
    assert parse(guest.get("/").text).find("form", cls="new-channel") is None


def keep_public_channels_to(owner, who: str) -> None:
    """The workspace setting, saved on the administrators' settings page as an owner does."""
    assert owner.post("/admin/settings", {"name": "webchat", "registration": "open", "channel_creators": who,
                                          "edit_window_minutes": "", "max_upload_mb": "10"}).status == 302


def test_public_channels_may_be_kept_to_administrators(member, owner, stored):
    keep_public_channels_to(owner, "admins")
    try:
        response = new_channel(member, visibility="public")
        assert response.status == 403
        assert "only administrators create public channels" in words(response)
        assert created(new_channel(member, visibility="private"))
        assert created(new_channel(owner, visibility="public"))
    finally:
        keep_public_channels_to(owner, "members")


# ----- topic and description ------------------------------------------------------------------

def test_a_channel_admin_sets_the_topic_and_open_pages_see_it(member, server, stored):
    colleague = Person.register(server.url, "colleague")
    chat = created(new_channel(member, members=[colleague]))
    tab = colleague.open_tab()
    tab.view(chat)
    tab.wait_for(is_chat_list)

    response = member.post(f"/chats/{chat}/topic", {"topic": "Ship the release", "description": "Why we are here"})

    assert response.status == 200
    assert f"{member.username.title()} set the topic to “Ship the release” and changed the description" in \
        system_messages(colleague.get(f"/chats/{chat}").text)
    header = tab.wait_for(lambda f: f'id="chat-topic-{chat}"' in f, timeout=5)
    assert "Ship the release" in header
    # Only its admins may change it.
    refused = colleague.post(f"/chats/{chat}/topic", {"topic": "Mine now", "description": ""})
    assert refused.status == 403
    assert sql(stored, "SELECT topic FROM chats WHERE id = :id", id=chat) == [("Ship the release",)]
    tab.close()


def test_a_topic_too_long_is_refused_and_nothing_changes(member, stored):
    chat = created(new_channel(member, topic="before"))
    response = member.post(f"/chats/{chat}/topic", {"topic": "x" * 251, "description": ""})
    assert response.status == 422
    assert "at most 250 characters" in form_error(response.text)
    assert sql(stored, "SELECT topic FROM chats WHERE id = :id", id=chat) == [("before",)]


# ----- archiving ------------------------------------------------------------------------------

def test_an_archived_channel_refuses_every_write_and_keeps_every_message(member, server, stored):
    colleague = Person.register(server.url, "colleague")
    chat = created(new_channel(member, f"Project{uuid.uuid4().hex[:4]}", members=[colleague]))
    kept = colleague.send(chat, "the findings")
    tab = colleague.open_tab()
    tab.view(chat)
    tab.wait_for(is_chat_list)

    assert colleague.post(f"/chats/{chat}/archive").status == 403  # not one of its admins
    assert member.post(f"/chats/{chat}/archive").status == 302
    notice = tab.wait_for(lambda f: f'id="compose-{chat}"' in f, timeout=5)
    assert "archived" in notice and 'id="composer"' not in notice

    name = sql(stored, "SELECT name FROM chats WHERE id = :id", id=chat)[0][0]
    refusal = f"#{name} {ARCHIVED}"
    messages_before = sql(stored, "SELECT count(*) FROM messages WHERE chat_id = :id", id=chat)
    attempts = {
        "send": colleague.post(f"/chats/{chat}/messages", {"body": "still here?", "client_id": new_client_id()}),
        "edit": colleague.post(f"/chats/{chat}/messages/{kept}/edit", {"body": "rewritten"}),
        "delete": colleague.post(f"/chats/{chat}/messages/{kept}/delete"),
        "react": colleague.post(f"/chats/{chat}/messages/{kept}/reactions", {"emoji": "👍"}),
        "upload": colleague.upload(chat, [("notes.txt", b"notes")]),
        "add": member.post(f"/chats/{chat}/members", {"usernames": server_person(server).username}),
    }
    for what, response in attempts.items():
        assert response.status == 403, (what, response)
        assert refusal in words(response), what
    client_id = tab.send(chat, "over the socket")
    failed = tab.wait_for(lambda f: f"pending-{client_id}" in f, timeout=5)
    assert refusal in html.unescape(failed)
    assert sql(stored, "SELECT count(*) FROM messages WHERE chat_id = :id", id=chat) == messages_before
    assert sql(stored, "SELECT body FROM messages WHERE id = :id", id=kept) == [("the findings",)]

    # Still in the members' list, marked; still found by their search; the page reads, no composer.
    item = parse(colleague.get("/").text).by_id(f"chat-item-{chat}")
    assert item is not None and item.find(cls="chat-archived") is not None
    assert f"m-{kept}" in colleague.get("/search?q=findings").text
    page = parse(colleague.get(f"/chats/{chat}").text)
    assert page.by_id("composer") is None and page.by_id(f"m-{kept}") is not None
    assert page.find(cls="archived-notice") is not None
    assert "data-may-archive" not in page.find("section", id="chat-pane").attrs
    tab.close()


def server_person(server) -> Person:
    return Person.register(server.url, "someone")


def test_unarchiving_opens_the_channel_again_and_both_are_in_the_audit_log(member, stored):
    chat = created(new_channel(member))
    assert member.post(f"/chats/{chat}/archive").status == 302
    page = parse(member.get(f"/chats/{chat}").text)
    assert "data-may-archive" in page.find("section", id="chat-pane").attrs
    assert page.find("form", cls="archive-toggle") is not None

    assert member.post(f"/chats/{chat}/unarchive").status == 302

    assert member.send(chat, "back in business")
    assert sql(stored, "SELECT action, actor_name, target FROM audit_events WHERE detail = :d ORDER BY id",
               d=f"chat {chat}") == [("channel.archive", member.username, f"#{chat_name(stored, chat)}"),
                                     ("channel.unarchive", member.username, f"#{chat_name(stored, chat)}")]


def chat_name(stored, chat_id) -> str:
    return sql(stored, "SELECT name FROM chats WHERE id = :id", id=chat_id)[0][0]


def test_a_direct_message_can_t_be_archived(member, server):
    other = server_person(server)
    chat = member.open_direct(other)
    assert member.post(f"/chats/{chat}/archive").status == 400


# ----- the administrators' channel list ---------------------------------------------------------

def test_the_administrators_see_every_channel_but_not_a_private_one_s_messages(owner, member):
    secret = f"secret words {uuid.uuid4().hex[:6]}"
    name = f"Hidden{uuid.uuid4().hex[:4]}"
    chat = created(new_channel(member, name))
    member.send(chat, secret)

    page = owner.get("/admin/channels")

    assert page.status == 200
    row = parse(page.text).by_id(f"admin-channel-{chat}")
    assert f"#{name}" in row.text and "private" in row.text
    assert member.username in row.text  # the owner of the channel
    assert secret not in page.text


def test_to_anyone_but_an_administrator_the_channel_list_does_not_exist(member):
    assert member.get("/admin/channels").status == 404
    chat = created(new_channel(member))
    assert member.post(f"/admin/channels/{chat}/owner", {"owner": member.username}).status == 404


def test_an_administrator_archives_a_channel_they_are_not_in(owner, member, stored):
    chat = created(new_channel(member))

    response = owner.post(f"/chats/{chat}/archive", {"back": "admin"})

    assert response.status == 302 and response.location == "/admin/channels"
    assert sql(stored, "SELECT archived_at IS NOT NULL FROM chats WHERE id = :id", id=chat) == [(True,)]
    assert "Archived." in words(owner.get("/admin/channels"))
    assert owner.post(f"/chats/{chat}/unarchive", {"back": "admin"}).status == 302
    assert sql(stored, "SELECT archived_at FROM chats WHERE id = :id", id=chat) == [(None,)]


def test_an_administrator_makes_a_public_channel_one_every_new_member_joins(owner, member, server, stored):
    name = f"Onboarding {uuid.uuid4().hex[:6]}"
    public = created(new_channel(member, name=name, visibility="public"))
    private = created(new_channel(member))
    assert member.post(f"/admin/channels/{public}/default", {"default": "1"}).status == 404  # not an administrator

    response = owner.post(f"/admin/channels/{public}/default", {"default": "1"})

    assert response.status == 302 and f"New members join #{name}." in words(owner.get(response.location))
    assert name in titles(Person.register(server.url, "newcomer"))
    refused = owner.post(f"/admin/channels/{private}/default", {"default": "1"})
    assert refused.status == 422 and "only a public channel can be one every new member joins" in words(refused)
    assert owner.post(f"/admin/channels/{public}/default", {"default": "0"}).status == 302
    assert name not in titles(Person.register(server.url, "later"))
    assert sql(stored, "SELECT action, actor_name, detail FROM audit_events WHERE target = :t ORDER BY id",
               t=f"#{name}") == [("channel.default", owner.username, "new members join it"),
                                 ("channel.default", owner.username, "new members no longer join it")]
    assert sql(stored, "SELECT is_default FROM chats WHERE id IN (:a, :b) ORDER BY id", a=public, b=private) == [
        (False,), (False,)]


def test_an_administrator_hands_a_channel_to_one_of_its_members(owner, member, server, stored):
    colleague = server_person(server)
    outsider = server_person(server)
    chat = created(new_channel(member, members=[colleague]))

    refused = owner.post(f"/admin/channels/{chat}/owner", {"owner": outsider.username})
    assert refused.status == 422
    assert "The owner must be a member of" in form_error(refused.text)

    assert owner.post(f"/admin/channels/{chat}/owner", {"owner": colleague.username}).status == 302
    colleague_id = sql(stored, "SELECT id FROM users WHERE username = :u", u=colleague.username)[0][0]
    assert sql(stored, "SELECT owner_id FROM chats WHERE id = :id", id=chat) == [(colleague_id,)]
    assert sql(stored, "SELECT role FROM memberships WHERE chat_id = :c AND user_id = :u",
               c=chat, u=colleague_id) == [("admin",)]
    assert sql(stored, "SELECT action, detail FROM audit_events WHERE action = 'channel.owner' AND target = :t",
               t=f"#{chat_name(stored, chat)}") == [("channel.owner", f"@{member.username} → @{colleague.username}")]


# ----- in a browser ---------------------------------------------------------------------------

@pytest.mark.browser
def test_an_open_chat_loses_its_composer_the_moment_the_channel_is_archived(chromium, server, owner, stored,
                                                                          page_errors):
    people = BrowserPeople(chromium, server.url, live=True)
    try:
        admin = Person.register(server.url, "admin")
        reader = people("reader")
        chat = created(new_channel(admin, members=[reader.username]))
        reader.goto(f"/chats/{chat}")
        expect_live(reader)
        expect(reader.locator("#composer")).to_be_visible()

        assert admin.post(f"/chats/{chat}/archive").status == 302

        expect(reader.locator("#composer")).to_have_count(0)
        expect(reader.locator(f"#compose-{chat} .archived-notice")).to_contain_text("is archived")
        expect(reader.locator(".archive-toggle")).to_be_hidden()  # not one who may unarchive
        page_errors.expect_none(reader)
    finally:
        people.close()


def test_two_people_taking_one_public_name_at_once_get_one_channel_and_one_refusal(app, make_user, monkeypatch):
    """The check before the insert can't see a channel committed meanwhile: the unique index can."""
    from webchat.core import channels
    from webchat.core.errors import ChatError

    first, second = make_user("first"), make_user("second")
    with app.test_request_context("/"):
        channels.create_channel(db.session.get(User, first), "Launch", "", "public")
        monkeypatch.setattr(channels, "check_public_name", lambda name, besides=None: None)  # as if raced

        with pytest.raises(ChatError) as refused:
            channels.create_channel(db.session.get(User, second), "launch", "", "public")
        assert refused.value.message == "There's already a public channel named #Launch. Pick another name."
        mine = channels.create_channel(db.session.get(User, second), "Mine", "", "public")
        membership = next(m for m in mine.memberships if m.user_id == second)
        with pytest.raises(ChatError) as renamed:
            channels.rename(membership, "LAUNCH")
        assert renamed.value.message == "There's already a public channel named #Launch. Pick another name."
        assert [c.name for c in db.session.scalars(db.select(Chat).where(Chat.is_public).order_by(Chat.id))] == [
            "Launch", "Mine"]
