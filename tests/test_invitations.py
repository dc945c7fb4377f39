"""Who may join: the registration modes at /register, invitation links (/invite/<token>: expiry,
use count, revocation, e-mail binding, guests), /admin/invitations, and `flask create-admin`."""
import threading
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from webchat import create_app
from webchat.core import workspace
from webchat.extensions import db
from webchat.models import AuditEvent, Invitation, User, utcnow

from .conftest import Actor
from .support.pages import form_error, parse, text_of
from .support.records import snapshot, user_names

BY_INVITATION = "Registration is by invitation: ask an administrator for a link."
CLOSED = "Registration is closed."


def register(actor, username, path="/register", **extra):
    """Register as username (at /register or an invitation's path); on success actor is signed in as it."""
    response = actor.post(path, {"username": username, "display_name": "", "password": "password123", **extra})
    if response.status_code == 302:
        actor.username = username.strip().lower()
    return response


@pytest.fixture
def owner(app):
    """The first account registered: the workspace's owner, signed in."""
    olivia = Actor(app)
    assert register(olivia, "olivia").status_code == 302
    return olivia


def set_mode(app, mode: str) -> None:
    with app.app_context():
        workspace.settings().registration = mode
        db.session.commit()


def roles(app) -> dict[str, str]:
    with app.app_context():
        return dict(db.session.execute(select(User.username, User.role)).all())


def audit(app) -> list[tuple]:
    with app.app_context():
        return [(e.actor_name, e.action, e.target, e.detail)
                for e in db.session.scalars(select(AuditEvent).order_by(AuditEvent.id))]


def invite(admin: Actor, days="7", uses="1", email="", role="member") -> str:
    """Make an invitation on the administration page; the link it shows, once."""
    made = admin.post("/admin/invitations", {"days": days, "uses": uses, "email": email, "role": role})
    assert made.status_code == 302, text_of(made)
    field = parse(admin.get("/admin/invitations")).by_id("invitation-link")
    assert field is not None, "the new link is not shown"
    return field.get("value").removeprefix("http://localhost")


def listed(admin: Actor) -> list[list[str]]:
    """The invitations table as the administrator reads it: one list of cell texts per link."""
    rows = parse(admin.get("/admin/invitations")).find_all("tr", cls="invitation")
    return [[" ".join(cell.text.split()) for cell in row.find_all("td")][:4] for row in rows]


def age(app, **changes) -> None:
    """Change every invitation row (an expiry in the past, a revocation) as time would."""
    with app.app_context():
        db.session.execute(update(Invitation).values(**changes))
        db.session.commit()


# ----- registration modes -----------------------------------------------------------------------

def test_the_first_account_may_register_whatever_the_mode_and_becomes_the_owner(app, anonymous):
    set_mode(app, "closed")

    assert register(anonymous, "first").status_code == 302

    assert roles(app) == {"first": "owner"}


@pytest.mark.parametrize(("mode", "message"), [("invite", BY_INVITATION), ("closed", CLOSED)])
def test_registering_without_an_invitation_is_refused_by_mode_and_creates_nothing(app, owner, mode, message):
    set_mode(app, mode)
    visitor = Actor(app)

    page = visitor.get("/register")
    refused = register(visitor, "dana")

    assert message in text_of(page)
    assert parse(page).find("input", name="password") is None
    assert refused.status_code == 403
    assert message in text_of(refused)
    assert user_names(app) == ["olivia"]


def test_in_open_mode_anyone_registers_as_a_member(app, owner):
    set_mode(app, "open")

    assert register(Actor(app), "dana").status_code == 302

    assert roles(app) == {"olivia": "owner", "dana": "member"}


@pytest.mark.parametrize(("mode", "linked"), [("open", True), ("invite", False), ("closed", False)])
def test_the_login_page_links_to_registration_only_when_it_is_possible(app, owner, mode, linked):
    set_mode(app, mode)

    page = parse(Actor(app).get("/login"))

    assert (page.find("a", href="/register") is not None) == linked


def test_before_the_first_account_the_login_page_links_to_registration_in_any_mode(app, anonymous):
    set_mode(app, "closed")

    assert parse(anonymous.get("/login")).find("a", href="/register") is not None


# ----- invitation links --------------------------------------------------------------------------

def test_an_invitation_link_shows_a_form_to_join_the_workspace_by_name(app, owner):
    set_mode(app, "invite")
    with app.app_context():
        workspace.settings().name = "Acme"
        db.session.commit()
    link = invite(owner)

    page = Actor(app).get(link)

    assert page.status_code == 200
    assert parse(page).find("h1").text.strip() == "Join Acme"


def test_an_invitation_registers_a_member_signed_in_and_counts_the_use(app, owner):
    set_mode(app, "invite")
    link = invite(owner, uses="5")
    dana = Actor(app)

    joined = register(dana, "dana", path=link)

    assert joined.status_code == 302
    assert joined.location == "/"
    assert dana.get("/").status_code == 200
    assert roles(app)["dana"] == "member"
    assert listed(owner) == [["Active", "Member", "1 of 5", "anyone"]]


def test_an_invitation_is_used_up_after_its_uses_and_then_says_so(app, owner):
    set_mode(app, "invite")
    link = invite(owner, uses="1")
    assert register(Actor(app), "dana", path=link).status_code == 302
    before = snapshot(app)

    page = Actor(app).get(link)
    refused = register(Actor(app), "erin", path=link)

    assert page.status_code == 410
    assert "This invitation has been used up." in text_of(page)
    assert refused.status_code == 410
    assert "This invitation has been used up." in text_of(refused)
    assert snapshot(app) == before
    assert listed(owner) == [["Used up", "Member", "1 of 1", "anyone"]]


def test_an_expired_invitation_says_so_and_creates_nothing(app, owner):
    set_mode(app, "invite")
    link = invite(owner)
    age(app, expires_at=utcnow() - timedelta(seconds=1))

    refused = register(Actor(app), "dana", path=link)

    assert refused.status_code == 410
    assert "This invitation has expired." in text_of(refused)
    assert user_names(app) == ["olivia"]
    assert listed(owner)[0][0] == "Expired"


def test_a_revoked_invitation_says_so_and_creates_nothing(app, owner):
    set_mode(app, "invite")
    link = invite(owner, uses="25")
    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id))

    revoked = owner.post(f"/admin/invitations/{invitation_id}/revoke")
    refused = register(Actor(app), "dana", path=link)

    assert revoked.status_code == 302
    assert "Invitation revoked" in text_of(owner.get("/admin/invitations"))
    assert refused.status_code == 410
    assert "This invitation was revoked." in text_of(refused)
    assert user_names(app) == ["olivia"]
    assert listed(owner)[0][0] == "Revoked"
    assert [a[1] for a in audit(app)] == ["invitation.create", "invitation.revoke"]


@pytest.mark.parametrize("token", ["not-a-real-token", "x" * 300])
def test_an_unknown_invitation_token_says_the_link_isnt_valid(app, owner, token):
    page = Actor(app).get(f"/invite/{token}")
    refused = register(Actor(app), "dana", path=f"/invite/{token}")

    assert page.status_code == 404
    assert "This invitation link isn't valid." in text_of(page)
    assert refused.status_code == 404
    assert user_names(app) == ["olivia"]


def test_while_registration_is_closed_an_invitation_registers_no_one(app, owner):
    link = invite(owner)
    set_mode(app, "closed")

    refused = register(Actor(app), "dana", path=link)

    assert refused.status_code == 403
    assert CLOSED in text_of(refused)
    assert user_names(app) == ["olivia"]


def test_an_invitation_works_in_open_mode_too(app, owner):
    set_mode(app, "open")
    link = invite(owner, role="guest")

    assert register(Actor(app), "gus", path=link).status_code == 302

    assert roles(app)["gus"] == "guest"


def test_a_refused_form_on_an_invitation_keeps_its_use_and_what_was_typed(app, owner):
    set_mode(app, "invite")
    link = invite(owner, uses="1")

    refused = register(Actor(app), "ab", path=link, display_name="Dana Doe")
    joined = register(Actor(app), "dana", path=link)

    assert refused.status_code == 422
    assert "Usernames are 3–32 characters" in form_error(refused)
    assert parse(refused).find("input", name="display_name").get("value") == "Dana Doe"
    assert joined.status_code == 302
    assert user_names(app) == ["dana", "olivia"]


def test_guessing_invitation_tokens_is_throttled_like_failed_logins(app, owner):
    # The same database as app (whose teardown empties it), with the limits on.
    throttling = create_app({**app.config, "RATELIMIT_ENABLED": True, "RATELIMIT_STORAGE_URI": "memory://",
                             "LOGIN_FAILURE_LIMIT": "3 per 5 minutes"})
    guesser = Actor(throttling)

    misses = [guesser.get(f"/invite/guess-{n}").status_code for n in range(3)]
    throttled = guesser.get("/invite/guess-4")

    assert misses == [404, 404, 404]
    assert throttled.status_code == 429
    assert "Too many attempts." in text_of(throttled)
    with throttling.app_context():
        db.engine.dispose()


# ----- e-mail binding, guests ---------------------------------------------------------------------

def test_an_invitation_for_an_email_asks_for_it_and_refuses_another(app, owner):
    set_mode(app, "invite")
    link = invite(owner, email="Dana@Example.com")

    form = parse(Actor(app).get(link))
    other = register(Actor(app), "dana", path=link, email="someone@example.com")
    missing = register(Actor(app), "dana", path=link)
    joined = register(Actor(app), "dana", path=link, email="  dana@EXAMPLE.com ")

    assert form.find("input", name="email") is not None
    assert other.status_code == 422
    assert form_error(other) == "This invitation is for a different e-mail address."
    assert missing.status_code == 422
    assert joined.status_code == 302
    assert user_names(app) == ["dana", "olivia"]
    assert listed(owner) == [["Used up", "Member", "1 of 1", "dana@example.com"]]


def test_an_invitation_for_anyone_asks_for_no_email(app, owner):
    set_mode(app, "invite")

    form = parse(Actor(app).get(invite(owner)))

    assert form.find("input", name="email") is None


def test_a_guest_invitation_makes_a_guest_who_cannot_browse(app, owner):
    set_mode(app, "invite")
    link = invite(owner, role="guest")

    page = Actor(app).get(link)
    assert register(Actor(app), "gus", path=link).status_code == 302

    assert "as a guest" in text_of(page)
    assert roles(app)["gus"] == "guest"
    with app.app_context():
        gus = db.session.scalar(select(User).where(User.username == "gus"))
        assert not workspace.may_browse(gus)


@pytest.mark.parametrize(("form", "message"), [
    ({"days": "3", "uses": "1"}, "Pick how long the link stays valid"),
    ({"days": "7", "uses": "1000"}, "Pick how long the link stays valid"),
    ({"days": "7", "uses": "1", "role": "admin"}, "Invite people as members or as guests."),
    ({"days": "7", "uses": "1", "email": "not an address"}, "Type an e-mail address like name@example.com"),
], ids=["expiry", "uses", "role", "email"])
def test_an_invitation_with_bad_choices_is_refused_and_nothing_is_made(app, owner, form, message):
    before = snapshot(app)

    refused = owner.post("/admin/invitations", form)

    assert refused.status_code == 422
    assert message in form_error(refused)
    assert snapshot(app) == before


# ----- the administration page ---------------------------------------------------------------------

def test_the_new_link_is_shown_once_and_only_its_hash_is_stored(app, owner):
    link = invite(owner)
    token = link.removeprefix("/invite/")

    again = parse(owner.get("/admin/invitations"))

    assert again.by_id("invitation-link") is None
    with app.app_context():
        stored = db.session.scalar(select(Invitation))
        assert token not in repr(snapshot(app))
        assert stored.token_hash != token and len(stored.token_hash) == 64


def test_the_invitations_page_is_one_page_named_by_its_heading(app, owner):
    page = owner.get("/admin/invitations")

    assert page.status_code == 200
    assert [" ".join(h.text.split()) for h in parse(page).find_all("h1")] == ["Invitations"]
    assert "No invitation links yet." in text_of(page)


def test_the_list_says_who_made_each_link_and_the_audit_log_records_it(app, owner):
    invite(owner, days="30", uses="100", role="guest")

    cells = parse(owner.get("/admin/invitations")).find("tr", cls="invitation").find_all("td")

    assert "@olivia" in cells[4].text
    [(actor, action, target, detail)] = audit(app)
    assert (actor, action, detail) == ("olivia", "invitation.create", "guest, 100 uses, valid 30 days")
    assert target.startswith("invitation ")


@pytest.mark.parametrize("request_", [
    ("GET", "/admin/invitations", None),
    ("POST", "/admin/invitations", {"days": "7", "uses": "1"}),
    ("POST", "/admin/invitations/1/revoke", {}),
], ids=["list", "create", "revoke"])
def test_a_member_or_guest_gets_404_on_the_invitations_admin_urls_and_changes_nothing(app, owner, request_):
    invite(owner)
    set_mode(app, "open")
    member = Actor(app)
    register(member, "dana")
    before = snapshot(app)
    method, path, form = request_

    answer = member.get(path) if method == "GET" else member.post(path, form)

    assert answer.status_code == 404
    assert snapshot(app) == before


def test_an_administrator_who_is_not_the_owner_may_make_invitations(app, owner):
    set_mode(app, "open")
    admin = Actor(app)
    register(admin, "adam")
    with app.app_context():
        db.session.execute(update(User).where(User.username == "adam").values(role="admin"))
        db.session.commit()

    assert invite(admin).startswith("/invite/")


# ----- racing for the last use -------------------------------------------------------------------

def test_two_people_racing_for_the_last_use_get_one_account(app, owner):
    set_mode(app, "invite")
    link = invite(owner, uses="1")
    racers = [Actor(app), Actor(app)]
    forms = [{"username": name, "display_name": "", "password": "password123", "csrf_token": racer.csrf()}
             for racer, name in zip(racers, ["dana", "erin"], strict=True)]
    start = threading.Barrier(2)
    answers = {}

    def run(index):
        start.wait()
        answers[index] = racers[index].client.post(link, data=forms[index]).status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answers.values()) == [302, 410]
    assert len(user_names(app)) == 2
    assert listed(owner) == [["Used up", "Member", "1 of 1", "anyone"]]


# ----- flask create-admin ------------------------------------------------------------------------

def test_create_admin_makes_the_owner_of_an_empty_workspace(app):
    result = app.test_cli_runner().invoke(args=["create-admin", "root", "--password", "password123"])

    assert result.exit_code == 0, result.output
    assert "Created root as owner." in result.output
    assert roles(app) == {"root": "owner"}
    assert Actor(app).login("root").status_code == 302
    assert audit(app) == [(None, "user.role", "@root", "created as owner")]


def test_create_admin_makes_an_administrator_when_there_is_an_owner(app, owner):
    result = app.test_cli_runner().invoke(args=["create-admin", "adam", "--password", "password123",
                                                "--display-name", "Adam Admin"])

    assert result.exit_code == 0, result.output
    assert roles(app)["adam"] == "admin"
    with app.app_context():
        assert db.session.scalar(select(User.display_name).where(User.username == "adam")) == "Adam Admin"


def test_create_admin_promotes_an_existing_member_without_changing_the_password(app, owner):
    set_mode(app, "open")
    register(Actor(app), "dana")

    result = app.test_cli_runner().invoke(args=["create-admin", "dana"])

    assert result.exit_code == 0, result.output
    assert "Made dana an administrator." in result.output
    assert roles(app)["dana"] == "admin"
    assert Actor(app).login("dana").status_code == 302
    assert audit(app)[-1] == (None, "user.role", "@dana", "member → admin")


def test_create_admin_asks_for_the_password_hidden_when_not_given(app):
    result = app.test_cli_runner().invoke(args=["create-admin", "root"], input="password123\npassword123\n")

    assert result.exit_code == 0, result.output
    assert "password123" not in result.output
    assert Actor(app).login("root").status_code == 302


def test_create_admin_refuses_a_bad_password_and_creates_nothing(app):
    result = app.test_cli_runner().invoke(args=["create-admin", "root", "--password", "short"])

    assert result.exit_code != 0
    assert "Use a password of at least 8 characters." in result.output
    assert user_names(app) == []
    assert audit(app) == []
