"""Hostile text over real WebSockets (tests/support/wsclient.py) against the real gunicorn server:
every naughty string, OWASP and htmx payload sent as a message from one socket reaches the other
members' sockets as frames the server made. htmx's ws extension swaps every top-level element of a
frame by its id, so user content must never be a top-level element of a frame nor choose an id;
inside, message bodies hold only allowed markup and names only text (parsed with html5lib).
"""
import re
import time

import pytest

from .support.hostile import (
    HTMX_PAYLOADS,
    body_as_kept,
    body_markup_problems,
    classes,
    elements_below,
    find_class,
    markdown_text,
    message_problems,
    name_problems,
    naughty_strings,
    parse_fragment,
    squash,
    text_of,
    xss_payloads,
)
from .support.wsclient import Person, Reader, confirms, is_chat_list, messages_in, unique_name

ALL = list(dict.fromkeys(naughty_strings() + xss_payloads() + HTMX_PAYLOADS))

CLIENT_ID = r"[A-Za-z0-9_-]{8,64}"
# Ids the server gives: "<kind>-<number>" (m-5, chat-item-3, unread-3, typing-3, edit-m-5, ...),
# the page's own landmarks, and the sender's pending line, named by the client id the page made.
SERVER_ID = re.compile(rf"(?:[a-z]+-)*[a-z]+-\d+|chat-list|flash|chat-pane|threads-badge|pending-{CLIENT_ID}")
# Top-level elements a frame may have: (tag, id pattern or None, attribute that must be there).
TOP_LEVEL = [
    ("div", None, ("hx-swap-oob", "beforeend:#messages")),  # new messages
    ("div", None, ("hx-swap-oob", re.compile(r"beforeend:#thread-\d+-replies"))),  # replies, for a thread's pane
    ("span", re.compile(r"threads-badge"), ("hx-swap-oob", "true")),  # to one person: their Threads badge
    ("template", None, ("data-notify", None)),  # to one person: a desktop notification (its words are attributes)
    ("form", re.compile(r"follow-\d+"), ("hx-swap-oob", "true")),  # to one person: their Follow button
    ("div", re.compile(rf"pending-{CLIENT_ID}"), ("hx-swap-oob", None)),  # the sender's pending line
    ("nav", re.compile(r"chat-list"), ("hx-swap-oob", "true")),
    ("div", re.compile(r"flash"), ("hx-swap-oob", "innerHTML")),
    ("div", re.compile(r"typing-\d+(?:-t\d+)?"), ("hx-swap-oob", "true")),  # a chat's, or a thread's
    ("div", re.compile(r"receipts-\d+"), ("hx-swap-oob", "true")),
    ("span", re.compile(r"(unread|mentions)-\d+"), ("hx-swap-oob", "true")),
    ("template", None, ("data-presence-signal", None)),
    ("template", None, ("data-resync", None)),
    ("template", None, ("data-message-changes", None)),
    ("section", re.compile(r"chat-pane"), ("hx-swap-oob", "true")),
    ("li", re.compile(r"chat-item-\d+"), ("hx-swap-oob", "delete")),
]


def _matches(expected, value: str) -> bool:
    """None: any value; a pattern: the whole value matches it; else the same string."""
    if expected is None:
        return True
    return bool(expected.fullmatch(value)) if isinstance(expected, re.Pattern) else value == expected


def server_made(el) -> bool:
    for tag, id_pattern, (attribute, value) in TOP_LEVEL:
        element_id = el.get("id")
        if el.tag != tag or attribute not in el.attrib or not _matches(value, el.get(attribute)):
            continue
        if (id_pattern is None and element_id is None) or (id_pattern and element_id
                                                           and id_pattern.fullmatch(element_id)):
            return True
    return False


def frame_problems(frame: str, sources: dict[int, str], names: set[str]) -> list[str]:
    """What in one socket frame is not the server's own: top-level elements, ids, markup in
    message bodies and names. sources: message id -> text sent; names: display names, chat names."""
    problems = []
    if re.search(r"<hx-", frame, re.IGNORECASE):
        problems.append("raw <hx- in a frame")  # htmx rewrites those before it parses
    fragment = parse_fragment(frame)
    if (fragment.text or "").strip() or any((child.tail or "").strip() for child in fragment):
        problems.append(f"text at the top level of a frame: {frame[:120]!r}")
    for child in fragment:
        if not server_made(child):
            problems.append(f"top-level <{child.tag} {dict(child.attrib)}> is not one the server makes")
    for el in elements_below(fragment):
        if el.get("id") is not None and not SERVER_ID.fullmatch(el.get("id")):
            problems.append(f"id {el.get('id')!r} is not one the server makes")
        if el.get("hx-swap-oob") is not None and el not in list(fragment) \
                and not SERVER_ID.fullmatch(el.get("id") or ""):
            problems.append(f"nested hx-swap-oob on <{el.tag} {dict(el.attrib)}>")
    _, found = message_problems(fragment, sources)
    problems += found
    for article in fragment.iter("article"):
        for author in find_class(article, "msg-author"):
            problems += name_problems(author, allowed_children=())
            if text_of(author) not in names:
                problems.append(f"author shown as {text_of(author)!r}")
    for pending in find_class(fragment, "pending-body"):
        problems += name_problems(pending, allowed_children=())
    for cls in ("chat-title", "preview"):
        for el in find_class(fragment, cls):
            problems += name_problems(el, allowed_children=("em",) if cls == "preview" else ())
    for box in [el for el in fragment if (el.get("id") or "").startswith(("typing-", "receipts-"))]:
        for span in box.iter("span"):
            problems += name_problems(span, allowed_children=())
            if text_of(span) not in names:
                problems.append(f"a name in {box.get('id')} shown as {text_of(span)!r}")
    return problems


def registered(base_url: str, display_name: str) -> Person:
    person = Person(base_url, unique_name("hostile"))
    response = person.post("/register", {"username": person.username, "display_name": display_name,
                                         "password": person.password})
    assert response.status == 302, response
    person._csrf = None
    return person


@pytest.fixture
def hostile_people(live_server):
    made = []

    def make(display_name: str) -> Person:
        made.append(registered(live_server.url, display_name))
        return made[-1]
    yield make
    for person in made:
        person.close_tabs()


ALICE = '<img src=x onerror="window.__xss=1">Alice'
BOB = '"><svg onload=alert(1)><b id="composer" hx-swap-oob="true">Bob'  # names are at most 64
CHAT = '<nav id="chat-list" hx-swap-oob="true" hx-get="/logout" hx-trigger="load">Chat'  # and 80


def test_every_naughty_message_over_the_socket_reaches_members_in_frames_the_server_made(hostile_people):
    alice, bob = hostile_people(ALICE), hostile_people(BOB)
    chat = alice.create_chat(CHAT, [bob])
    sender, receiver = alice.open_tab(), bob.open_tab()
    receiver.view(chat)
    reader = Reader(receiver)  # bob's socket is read all along, as a browser does
    names = {ALICE, BOB}
    sources: dict[int, str] = {}
    for typed in ALL:
        client_id = sender.send(chat, typed)
        answer = sender.wait_for(lambda f, c=client_id: confirms(f, c) or f'id="pending-{c}"' in f, timeout=5)
        source = body_as_kept(typed)  # what is stored and shown: control characters dropped
        if not source.strip():
            # Refused in words, the text kept as typed in the page's own "not sent" line.
            assert "pending--failed" in answer and "Type a message before sending." in answer
            [body] = find_class(parse_fragment(answer), "pending-body")
            assert text_of(body) == typed
            continue
        [message] = messages_in(answer)
        sources[message["id"]] = source

    # Typing and read receipts name people: their names travel as text too.
    sender.view(chat)
    sender.send_json({"type": "typing", "chat": chat, "state": "start"})
    receiver.send_json({"type": "read", "chat": chat, "upto": max(sources)})
    sender.wait_for(lambda f: f'id="receipts-{chat}"' in f, timeout=5)
    sender.view(None)
    sender.wait_for(is_chat_list)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and not (
            max(sources) in {m["id"] for _, f in reader.received for m in messages_in(f)}
            and any(f'id="typing-{chat}"' in f for _, f in reader.received)):
        time.sleep(0.1)
    received = [f for _, f in reader.stop()]

    problems = []
    for frame in sender.frames + received:
        problems += frame_problems(frame, sources, names | {CHAT})
    assert not problems, problems[:20]
    assert set(sources) <= {m["id"] for f in received for m in messages_in(f)}
    [typing] = [f for f in received if f'id="typing-{chat}"' in f][:1]
    assert [text_of(s) for s in parse_fragment(typing).iter("span")] == [ALICE]
    [listing] = [f for f in sender.frames if is_chat_list(f)][-1:]
    assert [text_of(t) for t in find_class(parse_fragment(listing), "chat-title")] == [CHAT]


def test_a_hostile_frame_cannot_put_its_own_markup_or_ids_into_the_answer(hostile_people):
    alice = hostile_people("Alice Frames")  # one name per person on the shared server
    chat = alice.create_chat("Frames")
    tab = alice.open_tab()

    tab.send_json({"type": "send", "chat": chat, "body": "hello", "client_id": '"><b id="composer">x</b>'})
    tab.send_json({"type": "send", "chat": chat, "body": "hello", "client_id": "composer\n"})
    tab.send_json({"type": "view", "chat": chat, '<div id="composer" hx-swap-oob="true">': 1})
    tab.send_json({"type": '<section id="chat-pane" hx-swap-oob="true">x</section>'})
    tab.send_json({"type": "view-state", "chat": chat, "thread": None, "visible": '<b id="composer">x</b>'})
    tab.send_json({"type": "view-state", "chat": chat, '<div id="composer" hx-swap-oob="true">': 1})
    errors = [tab.wait_for(lambda f: 'id="flash"' in f, timeout=5) for _ in range(6)]

    for frame in errors:
        assert not frame_problems(frame, {}, set()), frame
        assert [el.get("id") for el in parse_fragment(frame).iter() if el.get("id")] == ["flash"]
    assert not [m for m in messages_in(alice.get(f"/chats/{chat}/messages?after=0").text) if m["author"]]
    tab.assert_open()


def test_frame_checks_catch_a_frame_the_server_would_never_make():
    """The checks above fail for what they guard against (so a passing run means something)."""
    assert frame_problems('<div id="composer" hx-swap-oob="true">x</div>', {}, set())
    assert frame_problems('<div hx-swap-oob="beforeend:#messages"><p id="logout">x</p></div>', {}, set())
    assert frame_problems("stray text", {}, set())
    body = ('<div hx-swap-oob="beforeend:#messages"><article id="m-1" class="msg msg--user">'
            '<div class="msg-body"><p><img src=x onerror=alert(1)></p></div></article></div>')
    assert frame_problems(body, {1: "<img src=x onerror=alert(1)>"}, set())
    assert body_markup_problems(parse_fragment('<p hx-get="/logout">x</p>'))
    assert squash(markdown_text("**a**")) == "a" and "msg" in classes(parse_fragment('<p class="msg">')[0])
