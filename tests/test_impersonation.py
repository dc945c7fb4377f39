"""Two people with one display name: "Alice Archer" is alice, and also aiice, whose account was
made before lookalike names were refused (tests/test_auth.py). Wherever a person is identified
(a message's header, a direct message's title, its entry in the chat list, search results) their
@username stands beside the name, so the two are told apart. Names are read from the HTML as the
browser parses it (html5lib)."""
import re

import pytest

from .conftest import Actor
from .support.hostile import find_class, find_id, parse_document, parse_fragment, squash, text_of
from .support.pages import chat_id_from
from .support.records import create_group

NAME = "Alice Archer"


@pytest.fixture
def people(app, make_user):
    """alice and aiice, both "Alice Archer", and bob; each signed in."""
    signed_in = {}
    for username, display_name in (("alice", NAME), ("aiice", NAME), ("bob", "Bob")):
        make_user(username, display_name)
        signed_in[username] = Actor(app)
        assert signed_in[username].login(username).status_code == 302
    return signed_in


def handle_beside(name_el, parent) -> str:
    """The text of the element right after name_el inside parent (its @username)."""
    children = list(parent)
    return text_of(children[children.index(name_el) + 1])


def test_each_message_header_shows_the_authors_username_beside_the_name(people):
    alice, aiice, bob = people["alice"], people["aiice"], people["bob"]
    chat_id = create_group(alice, "Team", "aiice bob")
    alice.send(chat_id, "from the real one")
    aiice.send(chat_id, "from the other one")

    page = parse_document(bob.get(f"/chats/{chat_id}").get_data(as_text=True))

    headers = [squash(text_of(h)) for a in page.iter("article") for h in find_class(a, "msg-meta")]
    names = [(re.sub(r" \d\d:\d\d.*", "", h)) for h in headers]
    assert names == [f"{NAME} @alice", f"{NAME} @aiice"]
    for header, username in zip((h for a in page.iter("article") for h in find_class(a, "msg-meta")),
                                ("alice", "aiice"), strict=True):
        [author] = find_class(header, "msg-author")
        assert text_of(author) == NAME
        assert handle_beside(author, header) == f"@{username}"


def test_a_message_is_the_same_bytes_for_every_viewer_and_its_sender(people):
    alice, aiice, bob = people["alice"], people["aiice"], people["bob"]
    chat_id = create_group(alice, "Team", "aiice bob")
    sent = aiice.send(chat_id, "hello", htmx=True).get_data(as_text=True)

    def articles(html):
        return re.findall(r'<article id="m-\d+" class="msg msg--user.*?</article>', html, re.S)

    for viewer in (alice, aiice, bob):
        assert articles(viewer.get(f"/chats/{chat_id}/messages?after=0").get_data(as_text=True)) == articles(sent)
    assert "@aiice" in articles(sent)[0]


def test_a_direct_message_is_titled_with_the_persons_username(people):
    bob = people["bob"]
    with_alice = chat_id_from(bob.post("/dm", {"username": "alice"}))
    with_aiice = chat_id_from(bob.post("/dm", {"username": "aiice"}))

    for chat_id, username in ((with_alice, "alice"), (with_aiice, "aiice")):
        page = parse_document(bob.get(f"/chats/{chat_id}").get_data(as_text=True))
        heading = page.find(".//section[@id='chat-pane']/header/h2")
        [title] = find_class(heading, "chat-title")
        assert text_of(title) == NAME
        assert handle_beside(title, heading) == f"@{username}"
        item = find_id(page, f"chat-item-{chat_id}")
        [listed] = find_class(item, "chat-title")
        assert text_of(listed) == NAME
        assert handle_beside(listed, find_class(item, "chat-name")[0]) == f"@{username}"


def test_the_chat_list_fragment_names_the_other_person_of_each_direct_message(people):
    bob = people["bob"]
    chat_id = chat_id_from(bob.post("/dm", {"username": "aiice"}))

    listing = parse_fragment(bob.get("/chats/list").get_data(as_text=True))

    [name] = find_class(find_id(listing, f"chat-item-{chat_id}"), "chat-name")
    assert squash(text_of(name)).startswith(f"@{NAME} @aiice")  # "@" marks a direct message


def test_a_search_result_shows_the_authors_username_beside_the_name(people):
    alice, aiice, bob = people["alice"], people["aiice"], people["bob"]
    chat_id = create_group(alice, "Team", "aiice bob")
    aiice.send(chat_id, "the quarterly numbers are ready")

    hits = parse_document(bob.get("/search", query_string={"q": "quarterly"}).get_data(as_text=True))

    [hit] = find_class(hits, "search-hit")
    [author] = find_class(hit, "search-author")
    assert text_of(author) == NAME
    assert handle_beside(author, list(hit)[0]) == "@aiice"
