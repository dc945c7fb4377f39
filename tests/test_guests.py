"""A guest on today's URLs, over plain requests and htmx: they start no group chats or channels, and
they reach only the people they already share a chat with — anyone else's exact username is refused
word for word as a name that belongs to no one, so a guest learns nothing of who else exists.
(tests/test_access.py tries every URL as a guest too; here what the guest is told.)"""
import pytest
from sqlalchemy import update

from webchat.extensions import db
from webchat.models import User

from .support.pages import text_of
from .support.records import chat_ids, create_group, members_of, snapshot

NOT_FOUND = "check the username — {} doesn't match anyone you can add. Nothing was changed."


@pytest.fixture
def guest(app, actor, make_user):
    """gwen, a guest alice put into "Project"; bob shares that chat, boris shares nothing with her."""
    alice = actor("alice")
    make_user("bob")
    make_user("boris")
    gwen = actor("gwen")
    with app.app_context():
        db.session.execute(update(User).where(User.username == "gwen").values(role="guest"))
        db.session.commit()
    gwen.project = create_group(alice, "Project", "bob gwen")
    return gwen


@pytest.mark.parametrize("htmx", [False, True], ids=["plain form", "htmx"])
def test_a_guest_who_starts_a_group_is_told_guests_cant_create_channels_and_nothing_is_made(guest, app, htmx):
    before = snapshot(app)

    made = guest.post("/chats", {"name": "Guest room", "members": "bob"}, htmx=htmx)
    picked = guest.post("/new", {"people": "bob", "name": "Guest room"}, htmx=htmx)

    for response in (made, picked):
        assert response.status_code == 403
        assert "Guests can't create channels." in text_of(response.get_data(as_text=True))
    assert snapshot(app) == before


def test_a_guest_messages_people_they_share_a_chat_with_and_no_one_else(guest, app):
    refused = guest.post("/dm", {"username": "boris"})
    made_up = guest.post("/dm", {"username": "nobody"})

    assert refused.status_code == made_up.status_code == 422
    assert NOT_FOUND.format("boris") in text_of(refused.get_data(as_text=True))
    assert NOT_FOUND.format("nobody") in text_of(made_up.get_data(as_text=True))
    assert chat_ids(app) == [guest.project]
    opened = guest.post("/new", {"people": "bob"})
    assert opened.status_code == 302
    assert members_of(app, max(chat_ids(app))) == {"gwen": "admin", "bob": "admin"}


def test_a_guest_adds_to_their_chat_only_people_they_share_a_chat_with(guest, app):
    before = members_of(app, guest.project)

    refused = guest.post(f"/chats/{guest.project}/members", {"usernames": "boris"})

    assert refused.status_code == 422
    assert "check the username — boris doesn't match anyone you can add." in text_of(refused.get_data(as_text=True))
    assert members_of(app, guest.project) == before


def test_a_guests_people_picker_suggests_only_people_they_share_a_chat_with(guest):
    page = text_of(guest.get("/new", query_string={"q": "bo"}, htmx=True, target="people-options")
                   .get_data(as_text=True))

    assert "@bob" in page
    assert "@boris" not in page
