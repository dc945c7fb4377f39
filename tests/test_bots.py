"""Bot accounts (issue 25): created by a workspace administrator (the Bots page) or a channel's admin
(the members page), owned by a person, added to chats like people, shown with a "bot" badge, never
signed in with a password, given tokens by their owner or an administrator, and taken out of
service with their owner. Request tests against the app."""
import re

import pytest
from sqlalchemy import select

from webchat.core import bots
from webchat.extensions import db
from webchat.models import AuditEvent, User
from webchat.realtime.hub import control_channel

from .support.pages import form_error, parse, system_messages
from .support.records import Recorder, create_group, members_of, post_messages, set_user

SECRET = re.compile(r"wc_[A-Za-z0-9_-]{43}")


@pytest.fixture
def team(app, actor):
    """alice (the chat's admin) and bob (a member) in "Team"; root, a workspace administrator, in no chat."""
    alice, bob, root = actor("alice"), actor("bob"), actor("root")
    set_user(app, "root", role="admin")
    return create_group(alice, "Team", "bob"), alice, bob, root


def add_bot(person, chat_id, username="deploy-bot", display_name="Deploy"):
    return person.post(f"/chats/{chat_id}/bots", {"username": username, "display_name": display_name})


def bot_token(person, username="deploy-bot", name="production", scope="write"):
    """Make a token for the bot on the Bots page: (the response, the secret it shows)."""
    response = person.post(f"/bots/{username}/tokens", {"name": name, "scope": scope})
    found = SECRET.findall(response.get_data(as_text=True))
    return response, (found[0] if found else None)


def me(app, secret):
    return app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})


def account(app, username) -> dict:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        owner = db.session.get(User, user.bot_owner_id) if user.bot_owner_id else None
        return {"is_bot": user.is_bot, "owner": owner.username if owner else None, "active": user.is_active_account,
                "role": user.role}


def badged(node) -> bool:
    return node is not None and node.find("span", cls="tag--bot") is not None and \
        node.find("span", cls="tag--bot").text == "bot"


def test_a_workspace_administrator_creates_a_bot_on_the_bots_page_and_owns_it(app, team):
    _chat, _alice, _bob, root = team

    response = root.post("/bots", {"username": "Deploy-Bot", "display_name": "Deploy"})

    assert response.status_code == 302 and response.headers["Location"] == "/bots#bot-deploy-bot"
    assert account(app, "deploy-bot") == {"is_bot": True, "owner": "root", "active": True, "role": "member"}
    page = parse(root.get("/bots").get_data(as_text=True))
    assert badged(page.by_id("bot-deploy-bot")) and "Owned by Root @root (you)" in page.by_id("bot-deploy-bot").text
    with app.app_context():
        assert [(e.actor_name, e.action, e.target) for e in db.session.scalars(select(AuditEvent))] == [
            ("root", "bot.create", "@deploy-bot")]


def test_a_channel_admin_adds_a_bot_from_the_members_page_and_it_joins_like_a_person(app, team):
    chat, alice, bob, _root = team

    response = add_bot(alice, chat)

    assert response.status_code == 200
    assert "Added the bot Deploy (@deploy-bot)" in response.get_data(as_text=True)
    assert account(app, "deploy-bot")["owner"] == "alice"
    assert members_of(app, chat) == {"alice": "admin", "bob": "member", "deploy-bot": "member"}
    assert "Alice added Deploy" in system_messages(bob.get(f"/chats/{chat}").get_data(as_text=True))
    members = parse(bob.get(f"/chats/{chat}/members").get_data(as_text=True)).by_id(f"member-list-{chat}")
    (row,) = [li for li in members.find_all("li") if "@deploy-bot" in li.text]
    assert badged(row)
    assert not any(badged(li) for li in members.find_all("li") if "@deploy-bot" not in li.text)


def test_a_member_who_is_not_the_channels_admin_may_not_create_a_bot_anywhere(app, team):
    chat, _alice, bob, _root = team

    assert "Add a bot" not in bob.get(f"/chats/{chat}/members").get_data(as_text=True)
    refused = add_bot(bob, chat)
    assert refused.status_code == 403 and "Only the channel's admins" in form_error(refused.get_data(as_text=True))
    assert bob.post("/bots", {"username": "sneaky-bot"}).status_code == 404
    assert "Create a bot" not in bob.get("/bots").get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(User).where(User.is_bot.is_(True))) is None
    assert members_of(app, chat) == {"alice": "admin", "bob": "member"}


@pytest.mark.parametrize(("username", "display_name", "words"), [
    ("b", "Tiny", "3–32 characters"),
    ("bob", "Another Bob", "That username is taken."),
    ("a1ice", "Lookalike", "looks too much like another person's (@alice)"),
    ("fine-bot", "Alice", "looks too much like another person's (@alice)"),
], ids=["too short", "taken", "looks like a username", "display name looks like a name"])
def test_a_bots_names_follow_the_rules_of_peoples_and_a_refusal_stores_nothing(app, team, username, display_name,
                                                                               words):
    chat, alice, _bob, root = team

    for refused in (add_bot(alice, chat, username, display_name),
                    root.post("/bots", {"username": username, "display_name": display_name})):
        assert refused.status_code == 422
        assert words in form_error(refused.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(User).where(User.is_bot.is_(True))) is None


def test_a_bot_has_no_password_and_signing_in_as_one_says_so(app, team, anonymous):
    chat, alice, _bob, _root = team
    add_bot(alice, chat)

    for password in ("password123", "!bot", ""):
        response = anonymous.login("deploy-bot", password)
        assert response.status_code == 401
        assert "@deploy-bot is a bot" in response.get_data(as_text=True)
        assert "access tokens" in response.get_data(as_text=True)
    assert anonymous.get("/settings").status_code == 302  # still not signed in


def test_the_bot_badge_shows_on_its_messages_the_same_for_every_viewer_and_in_mention_suggestions(app, team):
    chat, alice, bob, root = team
    add_bot(alice, chat)
    (message_id,) = post_messages(app, chat, "deploy-bot", ["Deployed v1.2 to production"])
    human = post_messages(app, chat, "bob", ["thanks"])[0]

    seen = {}
    for person in (alice, bob):
        html = person.get(f"/chats/{chat}").get_data(as_text=True)
        seen[person] = re.search(rf'<article id="m-{message_id}".*?</article>', html, re.S)[0]
        page = parse(html)
        assert badged(page.by_id(f"m-{message_id}").find("header", cls="msg-meta"))
        assert not badged(page.by_id(f"m-{human}"))
    assert seen[alice] == seen[bob]  # one rendering for every viewer
    options = parse(bob.get(f"/chats/{chat}/mentions?q=dep").get_data(as_text=True))
    assert badged(options.by_id("mention-option-deploy-bot"))
    people = parse(root.get("/directory/people?q=deploy").get_data(as_text=True))
    assert badged(people.find("li", data_username="deploy-bot"))
    admin_row = parse(root.get("/admin/people?q=deploy").get_data(as_text=True)).by_id("person-deploy-bot")
    assert badged(admin_row) and "Reset password link" not in admin_row.text and "Change role" not in admin_row.text


def test_a_bot_made_by_an_administrator_is_added_by_the_usual_add_people_form(app, team):
    chat, alice, _bob, root = team
    root.post("/bots", {"username": "ci-bot", "display_name": "CI"})

    response = alice.post(f"/chats/{chat}/members", {"usernames": "ci-bot"})

    assert response.status_code == 200 and "Added CI." in response.get_data(as_text=True)
    assert members_of(app, chat)["ci-bot"] == "member"


def test_its_owner_and_administrators_make_a_bots_tokens_and_the_token_works_as_the_bot(app, team):
    chat, alice, bob, root = team
    add_bot(alice, chat)

    response, secret = bot_token(alice)

    assert response.status_code == 200 and secret
    assert parse(response.get_data(as_text=True)).by_id("new-token-secret").get("value") == secret
    answer = me(app, secret).get_json()
    assert (answer["username"], answer["display_name"], answer["is_bot"]) == ("deploy-bot", "Deploy", True)
    assert bot_token(root, name="by the administrator")[1] is not None
    assert bot_token(bob, name="bob's")[0].status_code == 404
    assert bot_token(alice, username="bob")[0].status_code == 404  # a person is no bot
    listed = parse(alice.get("/bots").get_data(as_text=True)).by_id("bot-deploy-bot")
    assert [n.text for n in listed.find_all(cls="token-name")] == ["by the administrator", "production"]
    assert secret not in alice.get("/bots").get_data(as_text=True)
    assert "deploy-bot" not in bob.get("/bots").get_data(as_text=True)


def test_revoking_a_bots_token_refuses_it_at_once_and_tells_its_sockets(app, team):
    chat, alice, bob, _root = team
    add_bot(alice, chat)
    _, secret = bot_token(alice)
    page = alice.get("/bots").get_data(as_text=True)
    token_id = int(re.search(r"/bots/deploy-bot/tokens/(\d+)/revoke", page)[1])
    with app.app_context():
        bot_id = db.session.scalar(select(User.id).where(User.username == "deploy-bot"))
    control = Recorder()
    app.extensions["webchat.hub"].subscribe(control_channel(bot_id), control)

    assert bob.post(f"/bots/deploy-bot/tokens/{token_id}/revoke").status_code == 404
    assert me(app, secret).status_code == 200
    assert alice.post(f"/bots/deploy-bot/tokens/{token_id}/revoke").status_code == 302

    assert me(app, secret).status_code == 401
    assert control.got == [f"session-ended token:{token_id}"]


def test_deactivating_a_bot_revokes_its_tokens_and_keeps_its_messages(app, team):
    chat, alice, bob, _root = team
    add_bot(alice, chat)
    _, secret = bot_token(alice)
    post_messages(app, chat, "deploy-bot", ["still here"])

    assert bob.post("/bots/deploy-bot/deactivate").status_code == 404
    assert me(app, secret).status_code == 200
    assert alice.post("/bots/deploy-bot/deactivate").status_code == 302

    assert me(app, secret).status_code == 401
    assert account(app, "deploy-bot")["active"] is False
    assert "deactivated" in parse(alice.get("/bots").get_data(as_text=True)).by_id("bot-deploy-bot").text
    refused, none = bot_token(alice, name="again")
    assert refused.status_code == 409 and none is None
    assert "still here" in bob.get(f"/chats/{chat}").get_data(as_text=True)


def test_deactivating_the_owner_deactivates_their_bots_and_revokes_every_token(app, team):
    chat, alice, _bob, root = team
    add_bot(alice, chat)
    _, secret = bot_token(alice)
    set_user(app, "root", role="owner")
    with app.app_context():
        bot_id = db.session.scalar(select(User.id).where(User.username == "deploy-bot"))
    control = Recorder()
    app.extensions["webchat.hub"].subscribe(control_channel(bot_id), control)

    assert root.post("/admin/people/alice/deactivate").status_code == 302

    assert me(app, secret).status_code == 401
    assert account(app, "deploy-bot")["active"] is False
    assert control.got[0].startswith("session-ended token:") and "credentials-changed" in control.got
    # Reactivating alice brings her back alone: her bot waits for an administrator.
    root.post("/admin/people/alice/reactivate")
    assert account(app, "deploy-bot")["active"] is False and me(app, secret).status_code == 401


def test_a_bot_keeps_the_member_role_and_gets_no_password_reset_link(app, team):
    chat, alice, _bob, root = team
    add_bot(alice, chat)

    role = root.post("/admin/people/deploy-bot/role", {"role": "admin"})
    reset = root.post("/admin/people/deploy-bot/reset-link")

    assert role.status_code == 409 and "keeps the member role" in role.get_data(as_text=True)
    assert reset.status_code == 409 and "has no password" in reset.get_data(as_text=True)
    assert account(app, "deploy-bot")["role"] == "member"


def test_one_person_owns_at_most_25_active_bots(app, team):
    chat, alice, _bob, _root = team
    with app.test_request_context():
        owner = db.session.scalar(select(User).where(User.username == "alice"))
        for n in range(bots.MAX_BOTS):
            db.session.add(User(username=f"made-{n:02d}", display_name=f"Made {n:02d}", is_bot=True,
                                bot_owner_id=owner.id, password_hash=bots.NO_PASSWORD))
        db.session.commit()

    refused = add_bot(alice, chat)

    assert refused.status_code == 409 and "25 bots already" in form_error(refused.get_data(as_text=True))
    assert "deploy-bot" not in members_of(app, chat)
