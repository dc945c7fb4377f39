"""Hostile text through the HTTP API: the Big List of Naughty Strings, OWASP filter-evasion and
htmx payloads as message text, display name, chat name and username. Everything that can be
stored is stored as typed (names without their bidi controls and invisible characters) and shown
only as text (checked with html5lib, the browser's parsing algorithm, against an allow-list);
everything else, a display name that looks like another person's among it, is refused with a
clear message and changes nothing already stored.
"""
import re
import uuid

import pytest

from webchat.core.service import parse_usernames

from .support.hostile import (
    HTMX_PAYLOADS,
    body_as_kept,
    find_class,
    find_id,
    markdown_text,
    message_problems,
    name_as_kept,
    name_problems,
    naughty_strings,
    page_problems,
    parse_document,
    parse_fragment,
    squash,
    text_of,
    xss_payloads,
)
from .support.records import create_group, set_user, snapshot, stored_messages

ALL = list(dict.fromkeys(naughty_strings() + xss_payloads() + HTMX_PAYLOADS))
PASSWORD = "password123"
SQL_INJECTION = re.compile(r"DROP TABLE|OR 1=1", re.IGNORECASE)
LOOKALIKE = "looks too much like another person's"
USERNAME_RULE = "Usernames are 3–32 characters: letters a–z, digits, _ and -."
# Each list runs as four tests of a quarter each, in the list's order: the whole list in one test
# took a minute on a quiet machine and went past the per-test timeout on a loaded CI machine.
PARTS = 4
in_parts = pytest.mark.parametrize("part", range(PARTS), ids=lambda part: f"part{part + 1}of{PARTS}")


def part_of(part: int) -> list[tuple[int, str]]:
    """(index in the whole list, string) for one contiguous quarter of the list."""
    size = -(-len(ALL) // PARTS)
    return list(enumerate(ALL))[part * size:(part + 1) * size]


class Browser:
    """A signed-in test client that keeps its CSRF token, as an open page does (one request per action)."""

    def __init__(self, actor, token: str | None = None) -> None:
        self.client = actor.client
        self.token = token or actor.csrf()

    def get(self, url: str, target: str | None = None):
        headers = {"HX-Request": "true", "HX-Target": target} if target else {}
        return self.client.get(url, headers=headers)

    def post(self, url: str, data: dict, htmx: bool = False, target: str | None = None, trigger: str | None = None):
        headers = {}
        if htmx:
            headers = {"HX-Request": "true", **({"HX-Target": target} if target else {}),
                       **({"HX-Trigger": trigger} if trigger else {})}
        return self.client.post(url, data={**data, "csrf_token": self.token}, headers=headers)

    def send(self, chat_id: int, body: str):
        return self.post(f"/chats/{chat_id}/messages", {"body": body, "client_id": str(uuid.uuid4())},
                         htmx=True, trigger="composer")


def raw_problems(text: str) -> list[str]:
    # htmx rewrites <hx-…> tags in the raw response text before it parses it (partials).
    return ["raw <hx- in a response"] if re.search(r"<hx-", text, re.IGNORECASE) else []


def normalized(value: str) -> str:
    """A value as the browser's input stream sees it: CR LF and CR become LF."""
    return value.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture
def pair(actor):
    """alice and bob in a group chat "Team": (chat id, alice, bob) as Browsers."""
    alice, bob = actor("alice"), actor("bob")
    return create_group(alice, "Team", "bob"), Browser(alice), Browser(bob)


# ----- message text ----------------------------------------------------------------------------

@in_parts
def test_every_naughty_string_sent_as_a_message_is_stored_as_typed_and_shown_only_as_text(app, pair, part):
    chat_id, alice, bob = pair
    sources: dict[int, str] = {}
    problems: list[str] = []
    for _, typed in part_of(part):
        before = len(sources)
        response = alice.send(chat_id, typed)
        source = body_as_kept(typed)  # what is stored and shown: control characters dropped
        if not source.strip():
            assert response.status_code == 422, source
            assert "Type a message before sending." in text_of(parse_fragment(response.get_data(as_text=True)))
            continue
        assert response.status_code == 200, (source, response.status_code)
        html = response.get_data(as_text=True)
        fragment = parse_fragment(html)
        new_id = max(int(a.get("id")[2:]) for a in fragment.iter("article"))
        sources[new_id] = source
        found, found_problems = message_problems(fragment, {new_id: source}, author="Alice")
        assert found == 1
        problems += found_problems + page_problems(fragment) + raw_problems(html)
        # Bob's chat list shows the newest message's words (as its body shows them) as a plain preview.
        listing = bob.get("/chats/list").get_data(as_text=True)
        [preview] = find_class(parse_fragment(listing), "preview")
        shown = text_of(preview)
        problems += name_problems(preview, allowed_children=())
        truncated = shown.removeprefix("Alice: ").removesuffix("…")
        if not shown.startswith("Alice: ") or not markdown_text(source).startswith(squash(truncated)):
            problems.append(f"preview of {source!r} is {shown!r}")
        assert len(sources) == before + 1
    assert not problems, problems[:20]

    # Stored as typed (without surrounding whitespace and control characters), in order.
    stored = [m for m in stored_messages(app, chat_id) if m.kind == "user"]
    assert [(m.id, m.body) for m in stored] == [(i, s.strip()) for i, s in sources.items()]

    # The same on every path that shows them: polling/catch-up, the chat page, history pages.
    seen: set[int] = set()
    after = 0
    while True:
        html = bob.get(f"/chats/{chat_id}/messages?after={after}").get_data(as_text=True)
        fragment = parse_fragment(html)
        ids = [int(a.get("id")[2:]) for a in fragment.iter("article")]
        if not ids:
            break
        found, found_problems = message_problems(fragment, sources, author="Alice")
        seen.update(i for i in ids if i in sources)
        problems += found_problems + page_problems(fragment) + raw_problems(html)
        after = max(ids)
    assert seen == set(sources)

    before = None
    history_seen: set[int] = set()
    while True:
        html = bob.get(f"/chats/{chat_id}" + (f"?before={before}" if before else "")).get_data(as_text=True)
        page = parse_document(html)
        ids = [int(a.get("id")[2:]) for a in page.iter("article") if (a.get("id") or "").startswith("m-")]
        found, found_problems = message_problems(page, sources, author="Alice")
        history_seen.update(i for i in ids if i in sources)
        problems += found_problems + page_problems(page) + raw_problems(html)
        if not find_id(page, "older"):
            break
        before = min(ids)
    assert history_seen == set(sources)
    assert not problems, problems[:20]


# ----- display names ---------------------------------------------------------------------------

def register(app, username: str, display_name: str):
    """A new browser registers through the form; (its Browser or None, the response)."""
    from .conftest import Actor

    newcomer = Actor(app)
    response = newcomer.post("/register", {"username": username, "display_name": display_name,
                                           "password": PASSWORD})
    if response.status_code != 302:
        return None, response
    newcomer.username = username
    dashboard = newcomer.client.get(response.headers["Location"]).get_data(as_text=True)
    browser = Browser(newcomer, re.search(r'name="csrf_token" value="([^"]+)"', dashboard).group(1))
    browser.dashboard = dashboard  # where registering lands
    return browser, response


@in_parts
def test_naughty_display_names_are_shown_as_text_on_every_page_that_names_the_person(app, make_user, part):
    problems: list[str] = []
    hosts: list[tuple[str, Browser]] = []
    guests: list[tuple[str, str, str, int]] = []  # (host, username, display name, DM id)
    registered: set[str] = set()
    for i, source in part_of(part):
        if not hosts or i % 10 == 0:  # a fresh host now and then keeps each host's chat list short
            host = f"host{i:04d}"
            make_user(host, f"Host {i:04d}")
            hosts.append((host, Browser(_signed_in(app, host))))
            registered.add(host)
        username = f"guest{i:04d}"
        expected = name_as_kept(source) or username
        before = snapshot(app) if len(expected) > 64 else None
        guest, response = register(app, username, source)
        if len(expected) > 64:
            assert response.status_code == 422, source
            form = parse_document(response.get_data(as_text=True))
            assert "Display names can be at most 64 characters." in text_of(find_class(form, "field-error")[0])
            [field] = [el for el in form.iter("input") if el.get("name") == "display_name"]
            assert field.get("value") == normalized(source)  # what was typed, kept, as a value
            assert snapshot(app) == before
            continue
        if response.status_code == 422 and LOOKALIKE in text_of(parse_document(response.get_data(as_text=True))):
            # Many of the list's strings are one another in another case or with accents ("null",
            # "NULL"): the second is refused, naming the person it looks like.
            [named] = re.findall(r"\(@([a-z0-9_-]+)\)", response.get_data(as_text=True))
            assert named in registered, (source, named)
            continue
        assert response.status_code == 302, (source, response.status_code)
        registered.add(username)
        html = guest.dashboard
        page = parse_document(html)
        [who] = find_class(page, "who")
        welcome = page.find(".//section[@id='chat-pane']/h2")
        if squash(text_of(who.find("bdi"))) != squash(expected) or text_of(welcome) != f"Welcome, {expected}":
            problems.append(f"{source!r}: topbar {text_of(who)!r}, welcome {text_of(welcome)!r}")
        problems += name_problems(who, allowed_children=("span", "bdi")) + page_problems(page) + raw_problems(html)
        response = guest.post("/dm", {"username": hosts[-1][0]})
        assert response.status_code == 302, source
        dm_id = int(response.headers["Location"].rsplit("/", 1)[1])
        guest.client.post(f"/chats/{dm_id}/messages", data={"body": "hello", "client_id": str(uuid.uuid4()),
                                                            "csrf_token": guest.token})
        guests.append((hosts[-1][0], username, expected, dm_id))

    by_host = dict(hosts)
    for host, _username, expected, dm_id in guests:
        browser = by_host[host]
        html = browser.get(f"/chats/{dm_id}").get_data(as_text=True)
        page = parse_document(html)
        problems += [f"{expected!r}: {p}" for p in page_problems(page) + raw_problems(html)]
        title = text_of(page.find(".//title"))
        h2 = page.find(".//section[@id='chat-pane']/header/h2")
        item = find_id(page, f"chat-item-{dm_id}")
        [list_title] = find_class(item, "chat-title")
        [heading] = find_class(h2, "chat-title")
        if title != f"{expected} · webchat" or squash(text_of(heading)) != squash(expected) \
                or text_of(list_title) != expected:
            problems.append(f"{expected!r}: title {title!r}, heading {text_of(h2)!r}, list {text_of(list_title)!r}")
        problems += name_problems(h2) + name_problems(list_title, allowed_children=())
        _, found = message_problems(page, {int(a.get("id")[2:]): "hello" for a in page.iter("article")
                                           if "msg--user" in (a.get("class") or "")}, author=expected)
        problems += found
        [system] = [text_of(p) for p in find_class(page, "msg-system")][:1]
        if not system.startswith(f"{expected} started a conversation with Host {host[4:]}"):
            problems.append(f"{expected!r}: system message {system!r}")
        for span in find_id(page, f"receipts-{dm_id}").iter("span"):
            problems += name_problems(span, allowed_children=())
        if dm_id % 4:
            continue  # the member list, for a quarter of them: the same names in a list
        members = parse_fragment(browser.get(f"/chats/{dm_id}/members", target="chat-pane").get_data(as_text=True))
        names = [squash(text_of(li.find("span").find("bdi"))) for li in members.iter("li")]
        if squash(expected) not in names:
            problems.append(f"{expected!r} not among the members {names!r}")
        problems += page_problems(members)
    assert not problems, problems[:20]


def _signed_in(app, username: str):
    from .conftest import Actor

    someone = Actor(app)
    assert someone.login(username).status_code == 302
    return someone


# ----- chat names ------------------------------------------------------------------------------

@in_parts
def test_naughty_chat_names_are_shown_as_text_in_the_title_heading_list_forms_and_timeline(app, pair, part):
    chat_id, alice, bob = pair
    set_user(app, "bob", hide_system_messages=True)  # his page stays light; alice's polls show the events
    current = "Team"
    newest = 0
    problems: list[str] = []
    for _, source in part_of(part):
        expected = name_as_kept(source)
        before = snapshot(app) if not expected or len(expected) > 80 else None
        response = alice.post(f"/chats/{chat_id}/rename", {"name": source}, htmx=True, target="chat-pane")
        html = response.get_data(as_text=True)
        pane = parse_fragment(html)
        problems += page_problems(pane) + raw_problems(html)
        if not expected or len(expected) > 80:
            assert response.status_code == 422, source
            error = text_of(find_class(pane, "form-error")[0])
            assert error in ("Give the chat a name.", "Chat names can be at most 80 characters."), error
            assert snapshot(app) == before
            # Refused at creation too, with the typed name kept in the form as text.
            response = alice.post("/chats", {"name": source, "members": "bob"}, htmx=True, target="chat-pane")
            assert response.status_code == 422
            form = parse_fragment(response.get_data(as_text=True))
            [field] = [el for el in form.iter("input") if el.get("name") == "name"]
            assert field.get("value") == normalized(source)
            assert snapshot(app) == before
            continue
        assert response.status_code == 200, (source, response.status_code)
        if expected == current:
            continue  # differed from the name before only by bidi controls: nothing changed, no event
        current = expected
        heading = text_of(pane.find(".//h2"))
        [rename] = [f for f in pane.iter("form") if (f.get("action") or "").endswith("/rename")]
        [field] = [el for el in rename.iter("input") if el.get("name") == "name"]
        [leave] = [f for f in pane.iter("form") if (f.get("action") or "").endswith("/leave")]
        if heading != f"{expected} · members" or field.get("value") != expected \
                or leave.get("hx-confirm") != f"Leave {expected}? You will stop receiving its messages.":
            problems.append(f"{source!r}: heading {heading!r}, field {field.get('value')!r}")

        html = bob.get(f"/chats/{chat_id}").get_data(as_text=True)
        page = parse_document(html)
        problems += [f"{source!r}: {p}" for p in page_problems(page) + raw_problems(html)]
        title = text_of(page.find(".//title"))
        h2 = page.find(".//section[@id='chat-pane']/header/h2")
        [list_title] = find_class(find_id(page, f"chat-item-{chat_id}"), "chat-title")
        events = parse_fragment(alice.get(f"/chats/{chat_id}/messages?after={newest}").get_data(as_text=True))
        newest = max(int(a.get("id")[2:]) for a in events.iter("article"))
        system = text_of(find_class(events, "msg-system")[-1]) if find_class(events, "msg-system") else ""
        problems += page_problems(events)
        if title != f"{expected} · webchat" or text_of(h2) != expected or text_of(list_title) != expected \
                or not system.startswith(f"Alice renamed the chat to “{expected}”"):
            problems.append(f"{source!r}: title {title!r}, heading {text_of(h2)!r}, list {text_of(list_title)!r}, "
                            f"system {system!r}")
        [heading] = find_class(h2, "chat-title")  # the name, isolated (dir="auto"), alone in the heading
        problems += name_problems(heading, allowed_children=()) + name_problems(list_title, allowed_children=())
    assert not problems, problems[:20]
    assert current != "Team"


# ----- usernames -------------------------------------------------------------------------------

@in_parts
def test_naughty_usernames_are_refused_at_registration_with_a_clear_message_and_change_nothing(app, pair, part):
    _, alice, _ = pair
    valid = re.compile(r"[a-z0-9_-]{3,32}")
    accepted = []
    for i, source in part_of(part):
        wanted = source.strip().lower()
        before = snapshot(app)
        _, response = register(app, source, f"Naughty {i}")
        taken = wanted in ("alice", "bob", *accepted)
        if valid.fullmatch(wanted) and not taken:
            assert response.status_code == 302, source  # an ordinary username after all
            accepted.append(wanted)
            continue
        assert response.status_code == 422, (source, response.status_code)
        form = parse_document(response.get_data(as_text=True))
        errors = [squash(text_of(e)) for e in find_class(form, "field-error")]
        assert errors == ["That username is taken." if taken else USERNAME_RULE], errors
        [field] = [el for el in form.iter("input") if el.get("name") == "username"]
        assert field.get("value") == normalized(source)
        assert not page_problems(form)
        assert snapshot(app) == before

        # Nor does any other form that takes a username trip over it. (A failed sign-in costs a
        # full-strength password hash by design, so sign-in tries a tenth of the list and the SQL.)
        if i % 10 == 0 or SQL_INJECTION.search(source):
            assert_sign_in_refused(app, source)
        if not set(parse_usernames(source)) & {"alice", "bob", *accepted}:
            response = alice.post("/dm", {"username": source}, htmx=True, target="chat-pane")
            assert response.status_code == 422, (source, response.status_code)
            error = squash(text_of(find_class(parse_fragment(response.get_data(as_text=True)), "form-error")[0]))
            assert error.startswith(("Couldn't open the conversation: check the username",
                                     "Name one person to message directly.")), error
        assert snapshot(app) == before
    assert accepted  # each quarter of the list does hold some ordinary words


def assert_sign_in_refused(app, username: str) -> None:
    browser = app.test_client()
    token = re.search(r'name="csrf_token" value="([^"]+)"', browser.get("/login").get_data(as_text=True)).group(1)
    response = browser.post("/login", data={"username": username, "password": "not the password", "csrf_token": token})
    assert response.status_code == 401, username
    assert "Wrong username or password." in response.get_data(as_text=True)
