"""Sign-ins end for real: a cookie that was copied, forged, tampered with or outlived its sign-in is
refused by every page and by the socket; logging out, changing the password or deactivating the
account closes the sockets it opened and nothing sent afterwards is stored.

Against gunicorn: the session's shared live server, and servers of this module's own with short
sign-in lifetimes and with Redis. Cookies are taken and replayed the way a thief would.
"""
import hashlib
import hmac
import time
import uuid

import pytest
import websocket
from flask.sessions import session_json_serializer
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from .conftest import _TMP
from .support import services
from .support.stored import LiveDatabase, flask_command
from .support.wsclient import Person, socket_url

POLICY_VIOLATION = 1008




def connect_with(base_url: str, cookies: dict[str, str]) -> websocket.WebSocket:
    """Open the socket carrying exactly these cookies (and the app's own Origin)."""
    header = ["Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items())] if cookies else []
    return websocket.create_connection(socket_url(base_url), header=header, origin=base_url, timeout=5)


def browser_with(base_url: str, username: str, cookies: dict[str, str]) -> Person:
    """Another browser that holds only these cookies (copied from somewhere)."""
    thief = Person(base_url, username)
    thief.cookies = dict(cookies)
    return thief


def assert_signed_out_everywhere(base_url: str, cookies: dict[str, str], chat: int, stored: LiveDatabase) -> None:
    """With these cookies: pages send you to sign in, a send stores nothing, the socket is refused."""
    before = stored.message_bodies(chat)
    page = browser_with(base_url, "thief", cookies).get("/")
    assert page.status == 302 and page.location.startswith("/login"), page
    # The send carries the cookies as they are, with the CSRF token a page served to them would
    # hold, so it is the sign-in that refuses it (a cookie that is no session gets a CSRF refusal).
    thief = browser_with(base_url, "thief", cookies)
    token = thief.csrf()
    thief.cookies = dict(cookies)
    sent = thief.post(f"/chats/{chat}/messages", {"body": "sent with a dead cookie", "client_id": uuid.uuid4().hex,
                                                  "csrf_token": token})
    assert (sent.status == 302 and sent.location.startswith("/login")) or sent.status == 400, sent
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect_with(base_url, cookies)
    assert refused.value.status_code == 401
    assert stored.message_bodies(chat) == before


def assert_signed_in(base_url: str, cookies: dict[str, str]) -> None:
    page = browser_with(base_url, "owner", cookies).get("/")
    assert page.status == 200, page
    connect_with(base_url, cookies).close()


# ----- forged and tampered cookies ----------------------------------------------------------------

def _tampered(value: str) -> str:
    index = len(value) - 5  # inside the signature; the last character may carry padding bits only
    return value[:index] + ("A" if value[index] != "A" else "B") + value[index + 1:]


def _session_signed_with(key: str, value: str, age_seconds: int = 0, real_key: str = "live-test-secret") -> str:
    """The session cookie's contents, signed with key, as if age_seconds ago."""
    class Backdated(TimestampSigner):
        def get_timestamp(self):
            return int(time.time()) - age_seconds

    def serializer(secret, signer=TimestampSigner):
        return URLSafeTimedSerializer(secret, salt="cookie-session", serializer=session_json_serializer,
                                      signer=signer, signer_kwargs={"key_derivation": "hmac",
                                                                    "digest_method": hashlib.sha1})
    contents = serializer(real_key).loads(value)
    return serializer(key, Backdated).dumps(contents)


def _remember_signed_with(key: str, value: str, change_user: bool = False) -> str:
    payload = value.rsplit("|", 1)[0]
    if change_user:
        user_id, rest = payload.split(":", 1)
        payload = f"{int(user_id) + 1}:{rest}"
    return f"{payload}|{hmac.new(key.encode(), payload.encode(), hashlib.sha512).hexdigest()}"


FORGERIES = {
    "session cookie with a changed signature": ("session", _tampered),
    "session cookie signed with another key": ("session", lambda v: _session_signed_with("not-the-secret", v)),
    "remember cookie with a changed signature": ("remember_token", _tampered),
    "remember cookie signed with another key": ("remember_token", lambda v: _remember_signed_with("not-the-secret", v)),
    "remember cookie naming another user": ("remember_token",
                                            lambda v: _remember_signed_with("not-the-secret", v, change_user=True)),
}


@pytest.mark.parametrize(("cookie", "forge"), list(FORGERIES.values()), ids=list(FORGERIES))
def test_a_forged_or_tampered_cookie_is_refused_by_pages_sends_and_the_socket(live_server, people, stored, cookie,
                                                                              forge):
    alice = people.new("alice")
    chat = alice.create_chat("Mine")
    phone = people.keep(Person(live_server.url, alice.username).login(remember=True))
    real = {cookie: phone.cookies[cookie]}
    assert_signed_in(live_server.url, real)

    assert_signed_out_everywhere(live_server.url, {cookie: forge(real[cookie])}, chat, stored)


def test_a_session_cookie_older_than_the_session_lifetime_is_refused(live_server, people, stored):
    alice = people.new("alice")
    chat = alice.create_chat("Mine")
    month_old = _session_signed_with("live-test-secret", alice.session_cookie, age_seconds=32 * 24 * 3600)

    assert_signed_out_everywhere(live_server.url, {"session": month_old}, chat, stored)
    assert alice.get("/").status == 200  # the real browser is still signed in


# ----- logging out --------------------------------------------------------------------------------

def test_a_session_cookie_copied_before_logout_is_dead_after_it(live_server, people, stored):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Team", [bob])
    copied = dict(alice.cookies)
    tabs = [alice.open_tab(), alice.open_tab()]
    assert_signed_in(live_server.url, copied)

    assert alice.logout().status == 302

    for tab in tabs:
        assert tab.wait_closed(timeout=3) == POLICY_VIOLATION
    assert_signed_out_everywhere(live_server.url, copied, chat, stored)


def test_a_remember_me_cookie_copied_before_logout_is_dead_after_it(live_server, people, stored):
    alice = people.new("alice")
    chat = alice.create_chat("Mine")
    phone = people.keep(Person(live_server.url, alice.username).login(remember=True))
    copied = {"remember_token": phone.cookies["remember_token"]}
    assert_signed_in(live_server.url, copied)  # alone, in a fresh browser, it signs in
    restored = people.keep(browser_with(live_server.url, alice.username, copied))
    assert restored.get("/").status == 200
    restored_tab = restored.open_tab()

    assert phone.logout().status == 302

    # The browser it had signed back in was the same sign-in: its socket closes too.
    assert restored_tab.wait_closed(timeout=3) == POLICY_VIOLATION
    assert_signed_out_everywhere(live_server.url, copied, chat, stored)
    assert alice.get("/").status == 200  # a sign-in of her own, elsewhere, carries on


# ----- changing the password --------------------------------------------------------------------

def test_after_a_password_change_the_other_browsers_cookies_are_dead_and_their_sockets_closed(live_server, people,
                                                                                               stored):
    alice = people.new("alice")
    chat = alice.create_chat("Mine")
    laptop = people.keep(Person(live_server.url, alice.username).login(remember=True))
    laptop_cookies = dict(laptop.cookies)
    laptop_tab = laptop.open_tab()

    assert alice.change_password("a brand new password").status == 302

    assert laptop_tab.wait_closed(timeout=3) == POLICY_VIOLATION
    assert_signed_out_everywhere(live_server.url, laptop_cookies, chat, stored)
    assert_signed_out_everywhere(live_server.url, {"remember_token": laptop_cookies["remember_token"]}, chat, stored)
    assert alice.send(chat, "the browser that changed it carries on") in alice.stored_ids(chat)


# ----- expiry ---------------------------------------------------------------------------------------

LIFETIME = 6


@pytest.fixture(scope="module")
def short_sign_ins():
    """A server whose sign-ins (with or without remember-me) last LIFETIME seconds, checked every second."""
    env = {"WEBCHAT_SESSION_LIFETIME": str(LIFETIME), "WEBCHAT_REMEMBER_LIFETIME": str(LIFETIME),
           "WEBCHAT_SESSION_CHECK_SECONDS": "1"}
    with services.module_server("short-sign-ins", _TMP, env) as live:
        database = LiveDatabase(live)
        yield live, database
        database.close()


def test_an_expired_sign_in_is_refused_whatever_its_cookies_say_and_its_sockets_close(short_sign_ins):
    server, stored = short_sign_ins
    alice = Person.register(server.url, "alice")
    signed_in_at = time.monotonic()
    chat = alice.create_chat("Mine")
    phone = Person(server.url, alice.username).login(remember=True)
    session_cookies, remember_cookie = dict(alice.cookies), {"remember_token": phone.cookies["remember_token"]}
    tabs = [alice.open_tab(), phone.open_tab()]
    assert_signed_in(server.url, remember_cookie)

    time.sleep(max(0.0, signed_in_at + LIFETIME + 0.5 - time.monotonic()))

    for tab in tabs:  # the server's own check closes them; no one logged out
        assert tab.wait_closed(timeout=4) == POLICY_VIOLATION
    assert_signed_out_everywhere(server.url, session_cookies, chat, stored)
    # A remember-me cookie carries no date the server could check: the sign-in's record does.
    assert_signed_out_everywhere(server.url, remember_cookie, chat, stored)
    # A session cookie the server signed a moment ago (as it does whenever the session changes)
    # is no better once its sign-in has expired.
    fresh = {"session": _session_signed_with(server.env["SECRET_KEY"], session_cookies["session"],
                                             real_key=server.env["SECRET_KEY"])}
    assert_signed_out_everywhere(server.url, fresh, chat, stored)
    assert Person(server.url, alice.username).login().get("/").status == 200  # signing in again works
    for person in (alice, phone):
        person.close_tabs()


# ----- deactivation ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_server():
    """A server whose hub is Redis and whose own session check is too slow to matter (60 s): a
    socket that closes within seconds was closed by the control channel."""
    with services.PrivateRedis(_TMP) as redis, services.module_server(
            "redis-sessions", _TMP, {"REDIS_URL": redis.url, "WEBCHAT_SESSION_CHECK_SECONDS": "60"}) as live:
        database = LiveDatabase(live)
        yield live, database
        database.close()


@pytest.fixture(params=["in-process hub", "redis hub"])
def deactivation_server(request, live_server, stored):
    if request.param == "in-process hub":
        return live_server, stored  # the command can't reach the sockets; the server's check (5 s) does
    return request.getfixturevalue("redis_server")


def test_deactivating_an_account_closes_its_sockets_kills_its_cookies_and_sign_in_says_why(deactivation_server):
    server, stored = deactivation_server
    alice, bob = Person.register(server.url, "alice"), Person.register(server.url, "bob")
    chat = alice.create_chat("Team", [bob])
    laptop = Person(server.url, alice.username).login(remember=True)
    cookies = [dict(alice.cookies), dict(laptop.cookies), {"remember_token": laptop.cookies["remember_token"]}]
    tabs = [alice.open_tab(), alice.open_tab(), laptop.open_tab()]
    bob_tab = bob.open_tab()

    done = flask_command(server, "deactivate-user", alice.username)

    assert done.returncode == 0, done.stderr
    assert f"Deactivated {alice.username}" in done.stdout
    for tab in tabs:
        assert tab.wait_closed(timeout=10) == POLICY_VIOLATION
    bob_tab.assert_open()
    for jar in cookies:
        assert_signed_out_everywhere(server.url, jar, chat, stored)
    refused = Person(server.url, alice.username).post("/login", {"username": alice.username,
                                                                 "password": alice.password})
    assert refused.status == 403
    assert "This account has been deactivated." in refused.text
    wrong = Person(server.url, alice.username).post("/login", {"username": alice.username, "password": "guess-guess"})
    assert wrong.status == 401 and "deactivated" not in wrong.text  # only the right password learns it

    assert flask_command(server, "activate-user", alice.username).returncode == 0
    again = Person(server.url, alice.username).login()
    assert again.send(chat, "back again") in bob.stored_ids(chat)
    for jar in cookies:  # sign-ins from before stay dead
        assert_signed_out_everywhere(server.url, jar, chat, stored)
    for person in (alice, bob, laptop, again):
        person.close_tabs()


def test_deactivating_an_unknown_user_says_so_and_changes_nothing(live_server):
    done = flask_command(live_server, "deactivate-user", "nobody-by-that-name")

    assert done.returncode != 0
    assert "There is no user named 'nobody-by-that-name'." in done.stderr
