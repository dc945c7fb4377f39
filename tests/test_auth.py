"""Accounts: registering, signing in and out, remember-me, safe redirects, throttling, settings."""
import pytest

from webchat import create_app
from webchat.extensions import db

from .conftest import FAST_HASH, Actor
from .support.pages import form_error, parse, system_messages, text_of
from .support.records import create_group, user_names

USERNAME_RULE = "Usernames are 3–32 characters: letters a–z, digits, _ and -."


def register(actor, username, password="password123", display_name=""):
    return actor.post("/register", {"username": username, "display_name": display_name, "password": password})


def set_cookie_headers(response, name):
    return [h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")]


# ----- registering ---------------------------------------------------------------------------

@pytest.mark.parametrize(("username", "password", "message"), [
    ("ab", "password123", USERNAME_RULE),
    ("a" * 33, "password123", USERNAME_RULE),
    ("bad name!", "password123", USERNAME_RULE),
    ("dana", "short", "Use a password of at least 8 characters."),
], ids=["username-too-short", "username-too-long", "username-invalid-characters", "password-too-short"])
def test_registering_with_an_invalid_username_or_password_shows_why_and_creates_nothing(
        anonymous, username, password, message):
    response = register(anonymous, username, password)

    assert response.status_code == 422
    assert message in text_of(response)
    assert user_names(anonymous.app) == []


@pytest.mark.parametrize("taken", ["alice", "Alice", " ALICE "])
def test_registering_a_taken_username_in_any_case_is_refused(anonymous, make_user, taken):
    make_user("alice")

    response = register(anonymous, taken)

    assert response.status_code == 422
    assert form_error(response) == "That username is taken."
    assert user_names(anonymous.app) == ["alice"]


def test_a_refused_registration_keeps_what_was_typed(anonymous):
    response = register(anonymous, "ab", display_name="Dana Doe")

    page = parse(response)
    assert page.find("input", name="username").get("value") == "ab"
    assert page.find("input", name="display_name").get("value") == "Dana Doe"


def test_registering_signs_the_new_user_in(anonymous):
    response = register(anonymous, "Dana", display_name="Dana Doe")

    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    dashboard = anonymous.get("/")
    assert dashboard.status_code == 200
    assert "Welcome, Dana Doe" in text_of(dashboard)
    assert user_names(anonymous.app) == ["dana"]


# ----- signing in and out --------------------------------------------------------------------

def test_signing_in_with_a_wrong_password_is_refused_with_401(anonymous, make_user):
    make_user("alice")

    response = anonymous.login("alice", "not-my-password")

    assert response.status_code == 401
    assert "Wrong username or password." in text_of(response)
    assert parse(response).find("input", name="username").get("value") == "alice"
    assert anonymous.get("/").headers["Location"].startswith("/login")


def test_an_unknown_username_gets_the_same_answer_as_a_wrong_password(anonymous):
    response = anonymous.login("nobody", "password123")

    assert response.status_code == 401
    assert "Wrong username or password." in text_of(response)


def test_signing_in_opens_the_dashboard_and_logging_out_ends_the_session(anonymous, make_user):
    make_user("alice", "Alice Archer")

    response = anonymous.login("alice")
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Welcome, Alice Archer" in text_of(anonymous.get("/"))

    token = anonymous.csrf()
    response = anonymous.client.post("/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    after = anonymous.get("/")
    assert after.status_code == 302
    assert after.headers["Location"].startswith("/login")


def test_logging_out_needs_a_post(actor):
    alice = actor("alice")

    assert alice.get("/logout").status_code == 405
    assert alice.get("/").status_code == 200


def test_signing_in_with_the_username_in_another_case_works(anonymous, make_user):
    make_user("alice")

    assert anonymous.login("ALICE").status_code == 302


def test_remember_me_sets_a_long_lived_http_only_remember_cookie(anonymous, make_user):
    make_user("alice")

    response = anonymous.login("alice", remember=True)

    [cookie] = set_cookie_headers(response, "remember_token")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Expires=" in cookie
    # The cookie alone, without the session, signs the browser back in.
    remember = anonymous.client.get_cookie("remember_token").value
    fresh = Actor(anonymous.app)
    fresh.client.set_cookie("remember_token", remember)
    assert fresh.get("/").status_code == 200


def test_without_remember_me_no_remember_cookie_is_set(anonymous, make_user):
    make_user("alice")

    response = anonymous.login("alice")

    assert set_cookie_headers(response, "remember_token") == []
    assert anonymous.client.get_cookie("remember_token") is None


def test_the_session_cookie_is_http_only_and_same_site_lax(anonymous, make_user):
    make_user("alice")

    response = anonymous.login("alice")

    [cookie] = set_cookie_headers(response, "session")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


@pytest.mark.parametrize(("next_url", "expected"), [
    ("https://evil.example", "/"),
    ("//evil.example", "/"),
    ("/\\evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("/chats/1", "/chats/1"),
], ids=["absolute-url", "scheme-relative", "backslash", "javascript", "same-site-path"])
def test_next_after_login_never_leaves_the_site(anonymous, make_user, next_url, expected):
    make_user("alice")

    response = anonymous.post("/login", {"username": "alice", "password": "password123"},
                              query_string={"next": next_url})

    assert response.status_code == 302
    assert response.headers["Location"] == expected
    # Already signed in, /login?next= redirects under the same rule.
    again = anonymous.get("/login", query_string={"next": next_url})
    assert again.headers["Location"] == expected


def test_a_signed_out_visitor_is_sent_back_to_the_chat_after_signing_in(anonymous, make_user, actor):
    alice = actor("alice")
    chat_id = create_group(alice, "Team")

    response = anonymous.get(f"/chats/{chat_id}")
    assert response.status_code == 302
    login_url = response.headers["Location"]
    response = anonymous.post(login_url, {"username": "alice", "password": "password123"})

    assert response.headers["Location"] == f"/chats/{chat_id}"


# ----- throttling ----------------------------------------------------------------------------

@pytest.fixture
def limited_app(app):
    """The `app` fixture's configuration with rate limiting on (same database, cleaned by `app`)."""
    limited = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
        "RATELIMIT_ENABLED": True,
        "PASSWORD_HASH_METHOD": FAST_HASH,
    })
    yield limited
    with limited.app_context():
        db.session.remove()
        db.engine.dispose()


def test_repeated_failed_logins_are_refused_for_a_while_with_a_clear_message(limited_app, make_user):
    make_user("alice")
    make_user("bob")
    browser = Actor(limited_app)

    # LOGIN_FAILURE_LIMIT is "5 per 5 minutes" per account.
    for _ in range(5):
        assert browser.login("alice", "wrong-password").status_code == 401
    refused = browser.login("alice", "wrong-password")

    assert refused.status_code == 429
    assert "Too many attempts. Try again in 5 minutes." in text_of(refused)
    # The right password does not get through while the account is throttled...
    assert browser.login("alice", "password123").status_code == 429
    # ...but other accounts from the same address still can sign in.
    assert Actor(limited_app).login("bob").status_code == 302


def test_successful_logins_do_not_count_towards_the_limit(limited_app, make_user):
    make_user("alice")

    for _ in range(7):
        browser = Actor(limited_app)
        assert browser.login("alice").status_code == 302


# ----- settings ------------------------------------------------------------------------------

def change_password(actor, current, new):
    return actor.post("/settings", {"action": "password", "current_password": current, "new_password": new})


def test_changing_the_password_signs_out_every_other_browser(app, actor, make_user):
    alice = actor("alice")
    other_browser = Actor(app)
    assert other_browser.login("alice").status_code == 302
    remembered = Actor(app)
    assert remembered.login("alice", remember=True).status_code == 302
    remember_cookie = remembered.client.get_cookie("remember_token").value

    response = change_password(alice, "password123", "a-new-password")

    assert response.status_code == 302
    assert "Password changed. Other browsers have been signed out." in text_of(alice.get("/settings"))
    assert alice.get("/").status_code == 200
    signed_out = other_browser.get("/")
    assert signed_out.status_code == 302
    assert signed_out.headers["Location"].startswith("/login")
    only_cookie = Actor(app)
    only_cookie.client.set_cookie("remember_token", remember_cookie)
    assert only_cookie.get("/").headers["Location"].startswith("/login")
    assert Actor(app).login("alice", "password123").status_code == 401
    assert Actor(app).login("alice", "a-new-password").status_code == 302


@pytest.mark.parametrize(("current", "new", "message"), [
    ("wrong-password", "a-new-password", "That is not your current password."),
    ("password123", "short", "Use a password of at least 8 characters."),
], ids=["wrong-current-password", "new-password-too-short"])
def test_a_refused_password_change_says_why_and_keeps_the_old_password(app, actor, current, new, message):
    alice = actor("alice")

    response = change_password(alice, current, new)

    assert response.status_code == 422
    assert form_error(response) == message
    assert Actor(app).login("alice", "password123").status_code == 302


def test_hiding_system_messages_is_saved_and_takes_effect(actor):
    alice = actor("alice")
    chat_id = create_group(alice, "Team")
    assert system_messages(alice.get(f"/chats/{chat_id}")) == ["Alice created the chat “Team”"]

    response = alice.post("/settings", {"action": "preferences", "hide_system_messages": "1"})
    assert response.status_code == 302
    settings = alice.get("/settings")
    assert "Preferences saved." in text_of(settings)
    assert "checked" in parse(settings).find("input", name="hide_system_messages").attrs
    assert system_messages(alice.get(f"/chats/{chat_id}")) == []

    alice.post("/settings", {"action": "preferences"})
    assert "checked" not in parse(alice.get("/settings")).find("input", name="hide_system_messages").attrs
    assert system_messages(alice.get(f"/chats/{chat_id}")) == ["Alice created the chat “Team”"]


def test_the_chosen_theme_is_kept_and_named_on_every_page_before_its_styles_load(actor):
    alice = actor("alice")
    page = parse(alice.get("/"))
    assert page.find("html").get("data-theme") == "system"  # follows the device until chosen
    assert page.find("meta", name="color-scheme").get("content") == "light dark"
    assert "checked" in parse(alice.get("/settings")).find("input", name="theme", value="system").attrs

    assert alice.post("/settings", {"action": "theme", "theme": "dark"}).status_code == 302
    settings = alice.get("/settings")
    assert "Theme saved." in text_of(settings)
    assert "checked" in parse(settings).find("input", name="theme", value="dark").attrs
    for url in ("/", "/settings", "/search"):
        page = parse(alice.get(url))
        assert page.find("html").get("data-theme") == "dark", url
        assert page.find("meta", name="color-scheme").get("content") == "dark", url


@pytest.mark.parametrize("theme", ["sepia", "", None])
def test_a_theme_not_offered_is_refused_with_a_clear_message_and_the_old_one_kept(actor, theme):
    alice = actor("alice")
    alice.post("/settings", {"action": "theme", "theme": "light"})
    form = {"action": "theme"} if theme is None else {"action": "theme", "theme": theme}

    response = alice.post("/settings", form)

    assert response.status_code == 422
    assert "Pick one of the themes shown." in text_of(response)
    assert parse(alice.get("/")).find("html").get("data-theme") == "light"


def test_a_signed_out_page_follows_the_device_theme(anonymous):
    page = parse(anonymous.get("/login"))
    assert page.find("html").get("data-theme") == "system"
    assert page.find("meta", name="color-scheme").get("content") == "light dark"


# ----- names that look like someone else's ----------------------------------------------------

LOOKALIKE = "That name looks too much like another person's (@alice). Choose another."
ALICE_LOOKALIKES = {
    "the same name": "Alice Archer",
    "in lower case": "alice archer",
    "in capitals": "ALICE ARCHER",
    "with Cyrillic А and е": "\u0410lic\u0435 Arch\u0435r",
    "with accents": "Álice Ärcher",
    "decomposed accents": "A\u0301lice Archer",
    "in fullwidth letters": "Ａｌｉｃｅ Ａｒｃｈｅｒ",
    "with a capital I for the l": "AIice Archer",
    "with a digit 1 for the l": "A1ice Archer",
    "with a zero-width space": "Alice\u200b Archer",
    "with a right-to-left mark and two spaces": "Alice\u200f  Archer",
    "as her username": "alice",
    "as her username with a Cyrillic а": "\u0430lice",
}


def display_name_of(app, username) -> str:
    with app.app_context():
        from webchat.models import User
        return db.session.scalar(db.select(User.display_name).where(User.username == username))


@pytest.mark.parametrize("name", ALICE_LOOKALIKES.values(), ids=ALICE_LOOKALIKES.keys())
def test_registering_with_a_display_name_that_looks_like_someone_elses_is_refused(anonymous, make_user, name):
    make_user("alice", "Alice Archer")

    response = register(anonymous, "mallory", display_name=name)

    assert response.status_code == 422
    assert form_error(response) == LOOKALIKE
    assert user_names(anonymous.app) == ["alice"]


@pytest.mark.parametrize("name", ["Alice Baker", "Alicia Archer", "Alice Archer-Smith", "Bob Archer"])
def test_a_display_name_that_only_shares_words_with_someone_elses_is_accepted(anonymous, make_user, name):
    make_user("alice", "Alice Archer")

    response = register(anonymous, "mallory", display_name=name)

    assert response.status_code == 302
    assert display_name_of(anonymous.app, "mallory") == name


@pytest.mark.parametrize("username", ["aiice", "a1ice", "al1ce"])
def test_registering_a_username_that_looks_like_someone_elses_is_refused(anonymous, make_user, username):
    make_user("alice", "Alice Archer")

    response = register(anonymous, username, display_name="Mallory")

    assert response.status_code == 422
    assert form_error(response) == "That username looks too much like another person's (@alice). Choose another."
    assert user_names(anonymous.app) == ["alice"]


def change_display_name(actor, name):
    return actor.post("/settings", {"action": "profile", "display_name": name})


@pytest.mark.parametrize("name", ALICE_LOOKALIKES.values(), ids=ALICE_LOOKALIKES.keys())
def test_changing_to_a_display_name_that_looks_like_someone_elses_is_refused(app, actor, make_user, name):
    make_user("alice", "Alice Archer")
    mallory = actor("mallory")

    response = change_display_name(mallory, name)

    assert response.status_code == 422
    assert form_error(response) == LOOKALIKE
    assert display_name_of(app, "mallory") == "Mallory"


def test_changing_the_display_name_shows_the_new_name_without_bidi_controls(app, actor):
    mallory = actor("mallory")

    response = change_display_name(mallory, "  Mallory \u202eMask\u202c ")

    assert response.status_code == 302
    settings = mallory.get("/settings")
    assert "Display name saved." in text_of(settings)
    assert display_name_of(app, "mallory") == "Mallory Mask"
    assert parse(settings).find("input", name="display_name").get("value") == "Mallory Mask"
    assert " ".join(parse(mallory.get("/")).find("span", cls="who").text.split()) == "Mallory Mask @mallory"


def test_one_may_change_ones_own_name_to_a_lookalike_of_itself(app, actor):
    alice = actor("alice")
    assert change_display_name(alice, "Alice Archer").status_code == 302

    response = change_display_name(alice, "alice archer")

    assert response.status_code == 302
    assert display_name_of(app, "alice") == "alice archer"


def test_an_empty_display_name_change_is_refused_in_words(app, actor):
    alice = actor("alice")

    response = change_display_name(alice, " \u202e ")

    assert response.status_code == 422
    assert form_error(response) == "Type a display name."
    assert display_name_of(app, "alice") == "Alice"
