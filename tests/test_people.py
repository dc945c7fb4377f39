"""The people picker over plain requests: who it suggests as one types (everyone in the workspace;
to a guest, people they share a chat with, never anyone else), and its one button: a direct
message for one person (the existing one if there is one), a group for several, refusals beside
the form with what was typed kept."""
import pytest

from .support.pages import chat_id_from, parse
from .support.records import create_group, members_of, set_user


@pytest.fixture
def alice(actor, make_user):
    """alice, who shares a group with bob and bonnie; boris exists but shares nothing with her."""
    alice = actor("alice")
    make_user("bob", "Bob Baker")
    make_user("bonnie", "Bonnie Lee")
    make_user("aross", "Ross Bonham")
    make_user("boris", "Boris Outsider")
    create_group(alice, "Team", "bob bonnie aross")
    return alice


def suggested(actor, typed: str) -> list[str]:
    response = actor.get("/new", query_string={"q": typed}, htmx=True, target="people-options")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return [li.get("data-username") for li in parse(response).find_all("li", cls="people-option")]


def test_typing_part_of_a_name_suggests_people_by_username_then_name(alice):
    assert suggested(alice, "bo") == ["bob", "bonnie", "boris", "aross"]  # boris too: members find everyone
    assert suggested(alice, "Lee") == ["bonnie"]
    option = parse(alice.get("/new", query_string={"q": "bake"}, htmx=True, target="people-options")).find(
        "li", cls="people-option")
    assert " ".join(option.text.split()).startswith("Bob Baker @bob")
    assert option.find("span", cls="presence") is not None
    assert option.get("role") == "option" and option.get("aria-selected") == "true"


def test_a_guest_is_suggested_only_people_they_share_a_chat_with(alice, app):
    set_user(app, "alice", role="guest")
    assert suggested(alice, "bo") == ["bob", "bonnie", "aross"]  # boris shares no chat with alice
    assert suggested(alice, "boris") == []


def test_no_match_says_so_and_how_to_reach_someone_else(alice):
    page = parse(alice.get("/new", query_string={"q": "zed"}, htmx=True, target="people-options"))
    assert "No one you can find is called" in page.text and "exact username" in page.text


def test_without_javascript_the_page_finds_people_as_links_that_fill_to(alice):
    page = parse(alice.get("/new", query_string={"q": "bo", "people": "aross"}))
    assert page.find("h1").text.strip() == "New message"
    links = [a.get("href") for a in page.find("ul", cls="people-found").find_all("a")]
    assert links[0] == "/new?people=aross,+bob" or "people=aross%2C+bob" in links[0]
    page = parse(alice.get("/new", query_string={"people": "aross, bob"}))
    assert page.find("input", id="people-to").get("value") == "aross, bob"


def test_one_person_opens_the_direct_message_and_the_same_one_again(alice, app):
    first = alice.post("/new", {"people": "bob, "})
    assert first.status_code == 302
    chat_id = chat_id_from(first)
    assert members_of(app, chat_id) == {"alice": "admin", "bob": "admin"}
    again = alice.post("/new", {"people": "@bob"}, htmx=True)
    assert again.headers["HX-Redirect"] == f"/chats/{chat_id}"


def test_several_people_and_a_name_start_a_group(alice, app):
    response = alice.post("/new", {"people": "bob, bonnie", "name": "Lunch"})
    assert response.status_code == 302
    assert members_of(app, chat_id_from(response)) == {"alice": "admin", "bob": "member", "bonnie": "member"}


@pytest.mark.parametrize("form, words", [
    ({"people": ""}, "Choose someone to message"),
    ({"people": "bob, bonnie"}, "Give the group a name"),
    ({"people": "nobody-here"}, "Couldn't open the conversation"),
])
def test_a_refusal_shows_beside_the_form_with_what_was_typed(alice, form, words):
    response = alice.post("/new", form, htmx=True, target="chat-pane")
    assert response.status_code in (400, 404, 422), response.status_code
    page = parse(response)
    assert words in page.find("p", cls="form-error").text
    assert page.find("input", id="people-to").get("value") == form["people"]
