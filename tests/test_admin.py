"""Administration: people (find, deactivate, reactivate, change role, password reset links),
workspace settings that take effect, and the audit log of it all; refused to everyone else.

Against a gunicorn server of this module's own, so its first account is the owner (as in every
new workspace); over real HTTP and a real socket, on SQLite or PostgreSQL.
"""
import os
import re
import time
from datetime import timedelta
from html import unescape

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from playwright.sync_api import expect
from sqlalchemy import text

from webchat.core import administration, workspace
from webchat.extensions import db
from webchat.models import User

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, expect_live
from .support.stored import LiveDatabase
from .support.wsclient import People, Person

POLICY_VIOLATION = 1008


@pytest.fixture(scope="module")
def server():
    with services.module_server("admin", _TMP) as live:
        database = LiveDatabase(live)
        yield live, database
        database.close()


@pytest.fixture(scope="module")
def owner(server):
    """The workspace's first account: its owner."""
    person = Person.register(server[0].url, "owner")
    yield person
    person.close_tabs()


@pytest.fixture
def people(server, owner):
    """people.new("bob") registers a member; closed afterwards."""
    made = People(server[0].url)
    yield made
    made.close()


def text_of(html: str) -> str:
    """Text as a reader sees it: tags dropped, white space made single."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def words(response) -> str:
    return text_of(response.text)


def flash_after(person: Person, response) -> str:
    """Follow a POST's redirect and read the page it lands on (with its flash)."""
    assert response.status == 302, response
    return words(person.get(response.location))


def act(admin: Person, username: str, action: str, **form):
    return admin.post(f"/admin/people/{username}/{action}", form)


def make_admin(owner: Person, person: Person) -> Person:
    assert act(owner, person.username, "role", role="admin").status == 302
    return person


def audit_rows(admin: Person) -> list[str]:
    """The audit log's lines, newest first, each as its row's text."""
    page = admin.get("/admin/audit")
    assert page.status == 200, page
    return [text_of(row) for row in re.findall(r'<tr id="audit-\d+">(.*?)</tr>', page.text, re.S)]


def role_of(database: LiveDatabase, username: str) -> tuple[str, bool]:
    with database.engine.connect() as conn:
        return tuple(conn.execute(text("SELECT role, is_active_account FROM users WHERE username = :u"),
                                  {"u": username}).one())


# ----- who may enter --------------------------------------------------------------------------------

ADMIN_PAGES = ["/admin", "/admin/people", "/admin/settings", "/admin/audit"]


def test_administration_does_not_exist_for_members_and_guests_and_asks_visitors_to_sign_in(server, owner, people):
    member, guest = people.new("member"), people.new("guest")
    assert act(owner, guest.username, "role", role="guest").status == 302
    target = people.new("target")

    for path in ADMIN_PAGES:
        for person in (member, guest):
            assert person.get(path).status == 404, (person.username, path)
        visitor = Person(server[0].url).get(path)
        assert visitor.status == 302 and visitor.location.startswith("/login?next=")
    for person in (member, guest):
        assert act(person, target.username, "deactivate").status == 404
        assert act(person, target.username, "role", role="owner").status == 404
        assert person.post(f"/admin/people/{target.username}/reset-link").status == 404
        assert person.post("/admin/settings", {"name": "Taken over"}).status == 404
        assert "Administration" not in words(person.get("/"))
    assert role_of(server[1], target.username) == ("member", True)


def test_the_owner_sees_administration_in_the_top_bar_and_it_opens_on_people(owner):
    assert 'href="/admin/people">Administration</a>' in owner.get("/").text

    opened = owner.get("/admin")

    assert opened.status == 302 and opened.location == "/admin/people"
    page = owner.get("/admin/people")
    assert page.status == 200
    nav = re.search(r'<nav class="admin-nav".*?</nav>', page.text, re.S)[0]
    assert re.findall(r">([^<>]+)</a>", nav) == ["People", "Channels", "Invitations", "Bots", "Settings", "Audit log"]
    assert 'href="/admin/people" aria-current="page"' in nav


def test_people_are_found_by_name_or_username_with_their_role_and_status(owner, people):
    zed = people.new("zed")
    others = people.new("other")

    found = owner.get(f"/admin/people?q={zed.username[:-1]}")

    rows = re.findall(r'<tr id="person-([^"]+)"', found.text)
    assert rows == [zed.username]
    row = text_of(re.search(rf'<tr id="person-{zed.username}".*?</tr>', found.text, re.S)[0])
    assert f"{zed.username.title()} @{zed.username} Member Active" in row
    assert others.username in owner.get("/admin/people").text
    assert "No one matches" in words(owner.get("/admin/people?q=nobody-at-all"))


# ----- deactivating and reactivating ----------------------------------------------------------------

def test_deactivating_someone_closes_their_sockets_at_once_refuses_sign_in_and_is_logged(server, owner, people):
    bob = people.new("bob")
    tab = bob.open_tab()
    start = time.monotonic()

    done = act(owner, bob.username, "deactivate")

    assert tab.wait_closed(timeout=5) == POLICY_VIOLATION
    assert time.monotonic() - start < 2
    assert f"@{bob.username} is deactivated" in flash_after(owner, done)
    assert bob.get("/").status == 302  # signed out
    refused = Person(server[0].url, bob.username).post("/login", {"username": bob.username, "password": bob.password})
    assert refused.status == 403 and "This account has been deactivated." in refused.text
    assert f"@{owner.username} user.deactivate @{bob.username}" in audit_rows(owner)[0]

    back = act(owner, bob.username, "reactivate")

    assert f"@{bob.username} is active again" in flash_after(owner, back)
    assert Person(server[0].url, bob.username).login().get("/").status == 200
    assert f"@{owner.username} user.reactivate @{bob.username}" in audit_rows(owner)[0]


def test_with_redis_deactivating_closes_the_sockets_within_a_second_too():
    """Its hub is Redis and its own session check too slow to matter (60 s): the sockets were
    closed by the control channel, as on several workers or hosts."""
    with services.PrivateRedis(_TMP) as redis, services.module_server(
            "admin-redis", _TMP, {"REDIS_URL": redis.url, "WEBCHAT_SESSION_CHECK_SECONDS": "60"}) as live:
        owner, bob = Person.register(live.url, "owner"), Person.register(live.url, "bob")
        laptop = bob.another_browser()
        tabs = [bob.open_tab(), laptop.open_tab()]

        assert act(owner, bob.username, "deactivate").status == 302

        answered = time.monotonic()
        for tab in tabs:
            assert tab.wait_closed(timeout=5) == POLICY_VIOLATION
        assert time.monotonic() - answered < 1
        for person in (owner, bob, laptop):
            person.close_tabs()


def test_no_one_deactivates_or_demotes_themselves_here(server, owner, people):
    admin = make_admin(owner, people.new("admin"))

    for person in (owner, admin):
        for action, form in (("deactivate", {}), ("role", {"role": "member"})):
            refused = act(person, person.username, action, **form)
            assert refused.status == 403
            assert "You can't change your own account here" in words(refused)
    assert role_of(server[1], admin.username) == ("admin", True)


def test_an_administrator_cannot_touch_the_owner_nor_make_an_owner(server, owner, people):
    admin = make_admin(owner, people.new("admin"))
    member = people.new("member")
    logged = audit_rows(owner)

    for username, action, form in ((owner.username, "deactivate", {}), (owner.username, "role", {"role": "member"}),
                                   (owner.username, "reset-link", {})):
        refused = act(admin, username, action, **form)
        assert refused.status == 403
        assert "Only the owner can change the owner's account." in words(refused)
    promoted = act(admin, member.username, "role", role="owner")
    assert promoted.status == 403 and "Only the owner can make someone an owner" in words(promoted)

    assert role_of(server[1], owner.username) == ("owner", True)
    assert role_of(server[1], member.username) == ("member", True)
    assert audit_rows(owner) == logged


def test_a_role_change_shows_at_once_on_the_persons_open_pages(owner, people):
    """Made an administrator, an open page gains the way into Administration; made a guest, it loses
    Browse channels too; all without a reload (the socket brings the new links)."""
    bob = people.new("bob")
    tab = bob.open_tab()

    def links(frame: str) -> tuple[bool, bool] | None:
        if 'id="admin-link"' not in frame:
            return None
        return ">Administration</a>" in frame, ">Browse channels</a>" in frame

    assert act(owner, bob.username, "role", role="admin").status == 302
    assert links(tab.wait_for(lambda f: links(f) is not None, timeout=2)) == (True, True)
    assert act(owner, bob.username, "role", role="guest").status == 302
    assert links(tab.wait_for(lambda f: links(f) is not None, timeout=2)) == (False, False)
    assert act(owner, bob.username, "role", role="member").status == 302
    assert links(tab.wait_for(lambda f: links(f) is not None, timeout=2)) == (False, True)
    # The same as a page loaded afresh shows.
    page = bob.get("/").text
    assert ">Administration</a>" not in page and ">Browse channels</a>" in page


def test_an_administrator_deactivates_members_but_not_through_a_bad_role(server, owner, people):
    admin = make_admin(owner, people.new("admin"))
    member = people.new("member")

    assert act(admin, member.username, "role", role="superuser").status == 422
    assert "Pick one of the roles shown." in words(act(admin, member.username, "role", role="superuser"))
    assert act(admin, "nobody-by-that-name", "deactivate").status == 404
    assert act(admin, member.username, "deactivate").status == 302
    assert role_of(server[1], member.username) == ("member", False)
    assert f"@{admin.username} user.deactivate @{member.username}" in audit_rows(owner)[0]


def test_with_htmx_an_action_answers_with_the_persons_row_and_a_refusal_in_the_flash(server, owner, people):
    fran = people.new("fran")
    htmx = {"HX-Request": "true"}

    done = owner.request("POST", f"/admin/people/{fran.username}/deactivate", {"csrf_token": owner.csrf()}, htmx)

    assert done.status == 200
    row = re.search(rf'<tr id="person-{fran.username}".*?</tr>', done.text, re.S)[0]
    assert "Deactivated" in text_of(row) and ">Reactivate</button>" in row
    assert re.search(r'<div id="flash" hx-swap-oob="innerHTML">.*is deactivated', done.text, re.S)
    refused = owner.request("POST", f"/admin/people/{owner.username}/role", {"csrf_token": owner.csrf(),
                                                                              "role": "member"}, htmx)
    assert refused.status == 403 and refused.headers["HX-Retarget"] == "#flash"
    assert "You can't change your own account here" in words(refused)
    assert role_of(server[1], owner.username) == ("owner", True)


# ----- roles ----------------------------------------------------------------------------------------

def test_a_promoted_member_administers_and_a_demoted_one_loses_it_on_the_next_request(owner, people):
    carol = people.new("carol")
    assert carol.get("/admin/people").status == 404

    made = act(owner, carol.username, "role", role="admin")

    assert f"@{carol.username} is now an Administrator." in flash_after(owner, made)
    assert carol.get("/admin/people").status == 200
    assert "Administration" in words(carol.get("/"))
    assert f"@{owner.username} user.role @{carol.username} Member → Administrator" in audit_rows(owner)[0]

    assert act(owner, carol.username, "role", role="guest").status == 302

    assert carol.get("/admin/people").status == 404
    assert f"user.role @{carol.username} Administrator → Guest" in audit_rows(owner)[0]


def test_the_owner_hands_the_workspace_over_and_it_always_keeps_an_owner():
    # A workspace of its own: the owner of this module's server stays owner for the other tests.
    with services.module_server("admin-handover", _TMP) as live:
        first = Person.register(live.url, "first")
        second = Person.register(live.url, "second")

        assert act(first, second.username, "role", role="owner").status == 302
        assert act(second, first.username, "role", role="member").status == 302

        database = LiveDatabase(live)
        assert role_of(database, first.username) == ("member", True)
        assert role_of(database, second.username) == ("owner", True)
        assert first.get("/admin").status == 404
        assert act(second, second.username, "role", role="member").status == 403  # the last owner stays
        assert "Owner → Member" in audit_rows(second)[0]
        database.close()
        for person in (first, second):
            person.close_tabs()


# ----- password reset links -------------------------------------------------------------------------

def reset_link(admin: Person, person: Person) -> str:
    page = admin.post(f"/admin/people/{person.username}/reset-link")
    assert page.status == 200, page
    return re.search(r'value="https?://[^/"]+(/reset/[^"]+)"', page.text)[1]


def test_a_reset_link_sets_a_new_password_once_and_signs_out_everywhere(server, owner, people):
    dave = people.new("dave")
    tab = dave.open_tab()
    link = reset_link(owner, dave)
    assert f"@{owner.username} user.password_reset_link @{dave.username}" in audit_rows(owner)[0]

    visitor = Person(server[0].url)
    form = visitor.get(link)
    assert form.status == 200 and f"@{dave.username}" in words(form)
    short = visitor.post(link, {"new_password": "short"})
    assert short.status == 422 and "Use a password of at least 8 characters." in words(short)
    done = visitor.post(link, {"new_password": "a brand new password"})

    assert done.status == 302 and done.location == "/login"
    assert "Your new password is set" in words(visitor.get("/login"))
    assert tab.wait_closed(timeout=5) == POLICY_VIOLATION
    assert dave.get("/").status == 302  # the old sign-in ended
    dave.password = "a brand new password"
    assert dave.login().get("/").status == 200
    used = visitor.get(link)
    assert used.status == 410 and "This password reset link has already been used." in words(used)
    assert visitor.post(link, {"new_password": "yet another password"}).status == 410


class SignedYesterday(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time() - timedelta(days=1, minutes=1).total_seconds())


def test_a_broken_or_expired_reset_link_says_so_and_changes_nothing(server, owner, people):
    erin = people.new("erin")
    link = reset_link(owner, erin)

    broken = Person(server[0].url).get(link[:-4] + "abcd")
    assert broken.status == 404 and "This is not a valid password reset link." in words(broken)

    # The same claims, signed with the server's key a day and a minute ago.
    claims = URLSafeTimedSerializer("live-test-secret", salt="password-reset").loads(link.rsplit("/", 1)[1])
    token = URLSafeTimedSerializer("live-test-secret", salt="password-reset", signer=SignedYesterday).dumps(claims)
    expired = Person(server[0].url).post(f"/reset/{token}", {"new_password": "expired one"})

    assert expired.status == 410 and "This password reset link has expired" in words(expired)
    assert erin.login().get("/").status == 200  # the old password still works


# ----- workspace settings ---------------------------------------------------------------------------

def settings_form(**changes) -> dict:
    return {"name": "webchat", "registration": "open", "channel_creators": "members", "edit_window_minutes": "",
            "max_upload_mb": "10", **changes}


def test_bad_settings_are_refused_field_by_field_and_change_nothing(owner):
    logged = audit_rows(owner)

    refused = owner.post("/admin/settings", settings_form(name="  ", registration="everyone",
                                                          channel_creators="robots", edit_window_minutes="ten",
                                                          max_upload_mb="11"))

    assert refused.status == 422
    said = words(refused)
    for expected in ("Give the workspace a name", "Pick one of the registration modes shown.",
                     "Pick who may create public channels.", "Type the minutes as a whole number from 1 to 10080",
                     "at most 10 MB, the most this server accepts"):
        assert expected in said
    assert audit_rows(owner) == logged
    assert 'value="webchat"' in owner.get("/admin/settings").text


def test_the_workspace_name_shows_in_the_top_bar_and_titles_and_the_change_is_logged(owner, people):
    member = people.new("member")

    saved = owner.post("/admin/settings", settings_form(name="Acme Rockets"))

    try:
        assert "Settings saved." in flash_after(owner, saved)
        page = member.get("/")
        assert re.search(r'<a class="brand" href="/">Acme Rockets</a>', page.text)
        assert "<title>Acme Rockets</title>" in page.text
        assert "<title>Settings · Acme Rockets</title>" in member.get("/settings").text
        assert f"@{owner.username} workspace.settings workspace name: webchat → Acme Rockets" in audit_rows(owner)[0]
        again = owner.post("/admin/settings", settings_form(name="Acme Rockets"))
        assert "Nothing changed." in flash_after(owner, again)
    finally:
        owner.post("/admin/settings", settings_form())


def test_registration_closed_here_refuses_new_accounts_and_open_again_lets_them_in(server, owner):
    assert owner.post("/admin/settings", settings_form(registration="closed")).status == 302
    try:
        assert "registration: open → closed" in audit_rows(owner)[0]
        refused = Person(server[0].url).post("/register", {"username": "latecomer", "password": "password123"})
        assert refused.status >= 400 and "Registration is closed." in words(refused)
    finally:
        assert owner.post("/admin/settings", settings_form()).status == 302
    assert Person.register(server[0].url, "latecomer").get("/").status == 200


def test_public_channels_kept_to_administrators_here_is_what_the_core_asks(app, make_user):
    with app.app_context():
        owner, member = (db.session.get(User, make_user(name)) for name in ("boss", "worker"))
        owner.role = "owner"

        administration.save_settings(owner, settings_form(channel_creators="admins"))

        assert not workspace.may_create_channel(member, public=True)
        assert workspace.may_create_channel(member, public=False)
        assert workspace.may_create_channel(owner, public=True)
        assert "public channels by: members → admins" in workspace.audit_log()[0].detail


def test_the_edit_window_set_here_refuses_editing_an_older_message(server, owner, people):
    bob = people.new("bob")
    chat = bob.create_chat("Window", [])
    message = bob.send(chat, "typed in haste")
    with server[1].engine.begin() as conn:
        conn.execute(text("UPDATE messages SET created_at = created_at - INTERVAL '6 minutes' WHERE id = :m")
                     if conn.dialect.name == "postgresql" else
                     text("UPDATE messages SET created_at = datetime(created_at, '-6 minutes') WHERE id = :m"),
                     {"m": message})

    assert owner.post("/admin/settings", settings_form(edit_window_minutes="5")).status == 302
    try:
        refused = bob.post(f"/chats/{chat}/messages/{message}/edit", {"body": "too late"})
        assert refused.status == 403
        assert "Messages can be edited for 5 minutes after sending" in words(refused)
        assert "edit window: off → 5 min" in audit_rows(owner)[0] or "edit window: server default → 5 min" in \
            audit_rows(owner)[0]
    finally:
        assert owner.post("/admin/settings", settings_form()).status == 302
    assert bob.post(f"/chats/{chat}/messages/{message}/edit", {"body": "fixed at leisure"}).status == 302


def test_an_upload_over_the_limit_set_here_is_refused(owner, people):
    bob = people.new("bob")
    chat = bob.create_chat("Uploads", [])
    picture = os.urandom(30_000)  # 29.3 KB

    assert owner.post("/admin/settings", settings_form(max_upload_mb="0.02")).status == 302
    try:
        refused = bob.upload(chat, [("big.bin", picture)])
        assert refused.status == 413
        assert "files can be up to 20.5 KB. Nothing was sent." in words(refused)
        assert "upload limit: server default → 0.02 MB" in audit_rows(owner)[0] or \
            "upload limit: 10 MB → 0.02 MB" in audit_rows(owner)[0]
    finally:
        assert owner.post("/admin/settings", settings_form()).status == 302
    assert bob.upload(chat, [("big.bin", picture)]).status == 302


# ----- the audit log --------------------------------------------------------------------------------

def test_the_audit_log_pages_back_through_older_events(owner, people):
    bob = people.new("bob")
    for _ in range(26):  # 52 events: more than a page
        assert act(owner, bob.username, "deactivate").status == 302
        assert act(owner, bob.username, "reactivate").status == 302

    first = owner.get("/admin/audit")
    rows = re.findall(r'<tr id="audit-(\d+)">', first.text)
    older = re.search(r'<a href="(/admin/audit\?before=\d+)" rel="next">Older</a>', first.text)

    assert len(rows) == 50 and rows == sorted(rows, key=int, reverse=True)
    assert older
    second = owner.get(unescape(older[1]))
    more = re.findall(r'<tr id="audit-(\d+)">', second.text)
    assert more and int(more[0]) < int(rows[-1])
    assert 'href="/admin/audit">Newest</a>' in second.text


# ----- in a browser ---------------------------------------------------------------------------------

@pytest.mark.browser
def test_an_administrator_deactivates_someone_whose_open_page_is_signed_out_within_a_second(chromium, server, owner):
    people = BrowserPeople(chromium, server[0].url)
    try:
        admin, victim = people("admin"), people("victim")
        assert act(owner, admin.username, "role", role="admin").status == 302
        expect_live(victim)
        admin.goto(f"/admin/people?q={victim.username}")
        row = admin.locator(f"#person-{victim.username}")
        # When they joined: a date in the reader's words ("Dec 7, 2026"), not a message's time of day.
        expect(row.locator("time").first).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}$"))

        row.get_by_role("button", name="Deactivate").click()

        expect(victim.locator("#flash .flash")).to_contain_text("You were signed out", timeout=1_000)
        expect(victim.locator("#connection")).to_have_attribute("data-state", "signed-out")
        expect(admin.locator("#flash .flash")).to_contain_text(f"@{victim.username} is deactivated")
        expect(row.locator(".admin-status")).to_have_text("Deactivated")
        expect(row.get_by_role("button", name="Reactivate")).to_be_visible()
        expect(row.locator("time").first).to_have_text(re.compile(r"^[A-Z][a-z]{2} \d{1,2}, \d{4}$"))  # the new row too
    finally:
        people.close()
