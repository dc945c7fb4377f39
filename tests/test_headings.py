"""Every signed-in page has exactly one h1 naming it (axe's page-has-heading-one), whether it is
opened as a page or, inside the app, as the pane htmx swaps in."""
import pytest

from .support.pages import parse
from .support.records import create_group


@pytest.fixture
def chat(actor):
    alice = actor("alice")
    actor("bob")
    chat_id = create_group(alice, "Heading room", "bob")
    alice.send(chat_id, "a message to act on")
    message_id = int(parse(alice.get(f"/chats/{chat_id}")).find_all("article")[-1].get("data-id"))
    return alice, chat_id, message_id


PANE, PAGE = (False, True), (False,)  # a pane is also asked for by htmx; the no-JS pages are pages only


@pytest.mark.parametrize("path, heading, asked", [
    ("/", "Home", PANE),
    ("/chats/{chat}", "Heading room", PANE),
    ("/chats/{chat}/members", "Members of Heading room", PANE),
    ("/chats/{chat}/messages/{message}", "Heading room", PANE),
    ("/search?q=message", "Search", PANE),
    ("/new", "New message", PANE),
    ("/directory", "Browse channels", PANE),
    ("/directory/people", "People", PANE),
    ("/threads", "Threads", PANE),
    ("/settings", "Settings", PAGE),
    ("/chats/{chat}/messages/{message}/edit", "Edit message", PAGE),
    ("/chats/{chat}/messages/{message}/delete", "Delete this message?", PAGE),
    ("/chats/{chat}/messages/{message}/reactions", "React to a message", PAGE),
])
def test_every_signed_in_page_and_pane_has_one_h1_naming_it(chat, path, heading, asked):
    alice, chat_id, message_id = chat
    url = path.format(chat=chat_id, message=message_id)
    for htmx in asked:
        response = alice.get(url, htmx=htmx, target="chat-pane")
        assert response.status_code == 200, url
        headings = parse(response).find_all("h1")
        assert [" ".join(h.text.split()) for h in headings] == [heading], (url, htmx)
