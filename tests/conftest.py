"""Fixtures: an app on a fresh database (SQLite by default, PostgreSQL when
WEBCHAT_TEST_DATABASE_URL names one), request clients that act as signed-in users, and a
live gunicorn server for browser and socket tests."""
import collections
import os
import re
import tempfile
import types
import uuid
from pathlib import Path

import jinja2
import pytest

_TMP = Path(tempfile.mkdtemp(prefix="webchat-tests-"))
os.environ.setdefault("WEBCHAT_INSTANCE_PATH", str(_TMP / "instance"))


from webchat import create_app  # noqa: E402
from webchat.extensions import db  # noqa: E402
from webchat.models import User  # noqa: E402

from .support import page_errors as page_error_records  # noqa: E402
from .support import services  # noqa: E402
from .support.browser import BrowserPeople  # noqa: E402
from .support.records import create_group  # noqa: E402
from .support.stored import LiveDatabase, empty_database  # noqa: E402
from .support.wsclient import People  # noqa: E402

FAST_HASH = "pbkdf2:sha256:1000"
# Every test makes an app, and with it a Jinja environment that would compile each template again.
COMPILED_TEMPLATES = jinja2.FileSystemBytecodeCache(str(_TMP))


# ----- markers: what `python3 dev.py test --fast` leaves out --------------------------------

# The names in tests/support/services.py that start a process or need a service beyond the test
# database: a test that calls one, itself or through any fixture it uses, is marked `server`.
# (A helper it calls is not looked into: mark such a test by hand; the fast run fails it if not.)
SERVICE_STARTERS = {"LiveServer", "module_server", "chromium_browser", "PrivateRedis", "redis_reachable"}
# In-process tests that take seconds each (see `--durations`); the fast run leaves them out too.
SLOW = {
    "test_every_naughty_string_sent_as_a_message_is_stored_as_typed_and_shown_only_as_text",
    "test_naughty_display_names_are_shown_as_text_on_every_page_that_names_the_person",
    "test_naughty_chat_names_are_shown_as_text_in_the_title_heading_list_forms_and_timeline",
    "test_naughty_usernames_are_refused_at_registration_with_a_clear_message_and_change_nothing",
    "test_beyond_999_unread_messages_the_badges_say_999_plus_and_reading_counts_down_exactly",
}


def _names(code: types.CodeType) -> set[str]:
    """The global and attribute names a function's code uses, nested functions included."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _names(const)
    return names


def _uses(item, starters: set[str]) -> bool:
    """Whether the test, itself or through a fixture it uses, calls one of these names."""
    functions = [item.function] + [fixturedef.func for fixturedefs in item._fixtureinfo.name2fixturedefs.values()
                                   for fixturedef in fixturedefs]
    codes = [function.__code__ for function in functions if hasattr(function, "__code__")]
    return any(_names(code) & starters for code in codes)


BROWSER_STARTERS = {"chromium_browser", "BrowserPeople"}
# Seconds each module took in a whole run on SQLite (the "seconds per test module" list a run
# prints at its end), rounded. `dev.py test` hands the modules to its two processes slowest
# first, so a run does not end with one process busy on a long module while the other idles.
# A module not listed counts as DEFAULT_MODULE_SECONDS; refresh the table when it drifts.
MODULE_SECONDS: dict[str, float] = {  # 2026-12-07, a whole run on SQLite in CI (.ci/run), nothing else running
    "tests/test_hostile_content.py": 177,
    "tests/test_browser.py": 120,
    "tests/test_accessibility.py": 109,
    "tests/test_browser_keyboard.py": 108,
    "tests/test_throttling.py": 107,
    "tests/test_work_budget.py": 96,
    "tests/test_scaleout.py": 76,
    "tests/test_browser_connection.py": 75,
    "tests/test_browser_live.py": 70,
    "tests/test_accessibility_workspace.py": 67,
    "tests/test_browser_reading.py": 65,
    "tests/test_browser_layout.py": 60,
    "tests/test_live_signals.py": 56,
    "tests/test_csrf.py": 50,
    "tests/test_chats.py": 43,
    "tests/test_browser_mentions.py": 41,
    "tests/test_socket.py": 32,
    "tests/test_browser_realtime.py": 31,
    "tests/test_browser_hostile.py": 30,
    "tests/test_threads_delivery.py": 28,
    "tests/test_browser_attachments.py": 27,
    "tests/test_browser_quiet.py": 27,
    "tests/test_access.py": 26,
    "tests/test_browser_reactions.py": 25,
    "tests/test_browser_timeline.py": 24,
    "tests/test_browser_changes.py": 23,
    "tests/test_sessions.py": 22,
    "tests/test_push.py": 19,
    "tests/test_browser_push.py": 19,
    "tests/test_attachments.py": 18,
    "tests/test_admin.py": 16,
    "tests/test_messages.py": 14,
    "tests/test_browser_outbox.py": 14,
    "tests/test_handshake.py": 14,
    "tests/test_browser_following.py": 14,
    "tests/test_hostile_characters.py": 13,
    "tests/test_search.py": 12,
    "tests/test_channels.py": 12,
    "tests/test_hostile_links.py": 12,
    "tests/test_browser_search.py": 11,
    "tests/test_hostile_frames.py": 11,
    "tests/test_browser_threads.py": 10,
}
DEFAULT_MODULE_SECONDS = 10.0


def _module(item) -> str:
    return item.nodeid.split("::")[0]


def pytest_collection_modifyitems(config, items):
    for item in items:
        if not item.get_closest_marker("browser") and _uses(item, BROWSER_STARTERS):
            item.add_marker(pytest.mark.browser)
        if item.get_closest_marker("browser") or _uses(item, SERVICE_STARTERS):
            item.add_marker(pytest.mark.server)
        if item.originalname in SLOW:
            item.add_marker(pytest.mark.slow)
    if os.environ.get("WEBCHAT_TEST_DATABASE_URL"):
        # What a page shows, how it lays out, reads aloud and takes the keyboard is the templates',
        # the server's and the browser's, the same on every database: the run on SQLite tries it
        # in Chromium. The run on PostgreSQL spends its time on what the database does, through
        # the request, socket and server tests (every one of which runs on both).
        shown = [item for item in items if item.get_closest_marker("rendering") or item.get_closest_marker("browser")]
        if shown:
            config.hook.pytest_deselected(items=shown)
            left_out = {id(item) for item in shown}
            items[:] = [item for item in items if id(item) not in left_out]
    # Slowest modules first (a stable sort: each module's tests keep their order).
    items.sort(key=lambda item: -MODULE_SECONDS.get(_module(item), DEFAULT_MODULE_SECONDS))


# ----- where the run's time goes: seconds per test module, after the run -------------------------

_MODULE_SECONDS: collections.Counter = collections.Counter()


def pytest_runtest_logreport(report):
    _MODULE_SECONDS[report.nodeid.split("::")[0]] += report.duration


def pytest_terminal_summary(terminalreporter):
    if len(_MODULE_SECONDS) > 1:
        terminalreporter.write_sep("=", "seconds per test module (setup, call and teardown; MODULE_SECONDS)")
        for module, seconds in _MODULE_SECONDS.most_common():
            terminalreporter.write_line(f"{seconds:8.1f}s {module}")


@pytest.fixture(scope="session")
def database_url():
    """A database of its own for this test run: a temp SQLite file, or a new PostgreSQL database."""
    base = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{_TMP / 'requests.db'}"
        return
    with services.postgres_database(base, "requests") as url:
        yield url


@pytest.fixture(scope="session")
def _schema(database_url):
    """Apply the real migrations once, as `flask db upgrade` does in production."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test"})
    with app.app_context():
        from flask_migrate import upgrade
        upgrade()
        db.engine.dispose()
    return database_url


@pytest.fixture
def app(_schema):
    app = create_app({
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "SQLALCHEMY_DATABASE_URI": _schema,
        "RATELIMIT_ENABLED": False,
        "PASSWORD_HASH_METHOD": FAST_HASH,
        "REGISTRATION_MODE": "open",
        "DEFAULT_CHANNEL": "",  # no #general unless a test asks: each sees only the chats it makes
    })
    app.jinja_env.bytecode_cache = COMPILED_TEMPLATES
    yield app
    empty_database(app)


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_META = re.compile(r'name="csrf_token" value="([^"]+)"')


class Actor:
    """A test client acting as one person in a browser without JavaScript (plus htmx headers on demand)."""

    def __init__(self, app, username=None):
        self.app = app
        self.client = app.test_client()
        self.username = username

    def csrf(self) -> str:
        page = self.client.get("/login" if not self.username else "/settings").get_data(as_text=True)
        match = CSRF_META.search(page)
        assert match, "no CSRF token on the page"
        return match.group(1)

    def get(self, url, htmx=False, target=None, **kwargs):
        return self.client.get(url, headers=_htmx_headers(htmx, target), **kwargs)

    def post(self, url, data=None, htmx=False, target=None, csrf=True, trigger=None, **kwargs):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf())
        headers = _htmx_headers(htmx, target)
        if htmx and trigger:
            headers["HX-Trigger"] = trigger
        return self.client.post(url, data=data, headers=headers, **kwargs)

    def login(self, username, password="password123", remember=False):
        self.username = None
        response = self.post("/login", {"username": username, "password": password,
                                        "remember": "1" if remember else ""})
        if response.status_code == 302:
            self.username = username
        return response

    def send(self, chat_id, body, client_id=None, htmx=False, after=None):
        data = {"body": body, "client_id": client_id or str(uuid.uuid4())}
        if after is not None:
            data["after"] = str(after)
        # As the page's composer does: htmx names the form that triggered the request.
        return self.post(f"/chats/{chat_id}/messages", data, htmx=htmx, trigger="composer")


def _htmx_headers(htmx, target):
    if not htmx:
        return {}
    headers = {"HX-Request": "true"}
    if target:
        headers["HX-Target"] = target
    return headers


@pytest.fixture
def make_user(app):
    def make(username, display_name=None, password="password123"):
        with app.app_context():
            user = User(username=username, display_name=display_name or username.title())
            user.set_password(password)
            db.session.add(user)
            db.session.commit()
            return user.id
    return make


@pytest.fixture
def actor(app, make_user):
    """actor("alice") -> an Actor signed in as a freshly made user alice."""
    def make(username):
        make_user(username)
        a = Actor(app)
        assert a.login(username).status_code == 302
        return a
    return make


@pytest.fixture
def trio(actor):
    """alice, bob and carol in a group chat "Team": (chat id, alice, bob, carol)."""
    alice, bob, carol = actor("alice"), actor("bob"), actor("carol")
    return create_group(alice, "Team", "bob carol"), alice, bob, carol


@pytest.fixture
def anonymous(app):
    return Actor(app)


# ----- live server, browser ---------------------------------------------------------------

@pytest.fixture(scope="session")
def live_server():
    """The app under `gunicorn -k gevent` on a free port, with its own fresh database."""
    base = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
    if base:
        with services.postgres_database(base, "live") as url, services.LiveServer(url, _TMP) as server:
            yield server
    else:
        with services.LiveServer(f"sqlite:///{_TMP / 'live.db'}", _TMP) as server:
            yield server


@pytest.fixture(scope="session")
def chromium():
    with services.chromium_browser() as browser:
        page_error_records.watch(browser)
        yield browser


@pytest.fixture(autouse=True)
def page_errors(request):
    """What the test's pages reported; a test that uses Chromium fails on any page error or console
    error it did not allow (page_errors.allow(pattern, why); tests/support/page_errors.py)."""
    records = page_error_records.CURRENT
    records.reset()
    yield records
    if "chromium" in request.fixturenames:
        unexpected = records.unexpected()
        if os.environ.get("WEBCHAT_PAGE_ERRORS_REPORT"):
            with open(os.environ["WEBCHAT_PAGE_ERRORS_REPORT"], "a") as f:
                f.write(f"{request.node.nodeid}\t{unexpected!r}\n")
        else:
            assert not unexpected, "The pages reported errors:\n" + "\n".join(unexpected[:20])


@pytest.fixture
def browser_context(chromium, live_server):
    """New browser contexts (separate cookie jars) on the live server; closed after the test."""
    contexts = []

    def make(**options):
        """options go to Browser.new_context, e.g. java_script_enabled=False."""
        options = {"base_url": live_server.url, "viewport": {"width": 1200, "height": 800}, **options}
        context = chromium.new_context(**options)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context
    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def people(live_server):
    """People (wsclient.Person) registered on the shared live server; their sockets closed afterwards."""
    made = People(live_server.url)
    yield made
    made.close()


@pytest.fixture(scope="module")
def stored(live_server):
    """The shared live server's database, read directly (tests/support/stored.py)."""
    database = LiveDatabase(live_server)
    yield database
    database.close()


@pytest.fixture(scope="module")
def server(request):
    """A socket-first server of the test module's own (services.module_server: polls every 2 s
    with the socket down, 120 s with it up); a module with other needs defines its own `server`."""
    purpose = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    with services.module_server(purpose, _TMP) as live:
        yield live


@pytest.fixture
def person(chromium, server):
    """For browser modules with a `server` of their own: person() -> a page of a new signed-in user."""
    pages = BrowserPeople(chromium, server.url)
    yield pages
    pages.close()
