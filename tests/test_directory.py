"""The directory over plain requests against a server of its own (SQLite, or PostgreSQL with
WEBCHAT_TEST_DATABASE_URL): finding public channels by name or topic, their member counts,
previewing one as a non-member (history, no composer), joining it once however often one asks,
finding people, and what a guest or a non-member of a private chat gets (404)."""
import re
import uuid

import pytest

from .support.pages import parse
from .support.stored import LiveDatabase, set_public, set_role
from .support.wsclient import Person, is_chat_list, message_ids
from .test_access import small_png


@pytest.fixture(scope="module")
def owner(server):
    """The first account of the module's server: its owner."""
    return Person.register(server.url, "owner")


@pytest.fixture(scope="module")
def stored(server, owner):
    database = LiveDatabase(server)
    yield database
    database.close()


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def public_channel(owner, server, members=(), topic: str = "") -> tuple[int, str]:
    """A group made public by writing its row: the channels part makes them through its own pages."""
    name = unique("Channel")
    chat = owner.create_chat(name, list(members))
    set_public(server, chat, topic)
    return chat, name


def listed(person: Person, query: str = "", htmx: bool = False) -> dict[str, dict]:
    """The directory's channels as shown: name -> its facts and button."""
    headers = {"HX-Request": "true", "HX-Target": "directory-results"} if htmx else None
    response = person.get(f"/directory?q={query}", headers=headers)
    assert response.status == 200, response
    page = parse(response.text)
    if htmx:
        assert "<html" not in response.text
    shown = {}
    for item in page.find_all("li", cls="directory-item"):
        name = item.find("a", cls="directory-name").text.strip().removeprefix("#")
        shown[name] = {"members": item.find("span", cls="directory-members").text.strip(),
                       "joined": item.find("span", cls="tag") is not None,
                       "button": (item.find("button") or item.find("a", cls="directory-action")).text.strip()}
    return shown


def chats_in_list(person: Person) -> set[int]:
    return {int(li.get("data-chat-id")) for li in parse(person.get("/chats/list").text).find_all("li", cls="chat-item")}


# ----- finding channels ------------------------------------------------------------------------

def test_the_directory_lists_public_channels_with_member_counts_and_joined_marks(server, owner):
    member = Person.register(server.url, "member")
    chat, name = public_channel(owner, server, [member], topic="Where the release is planned")
    private = owner.create_chat(unique("Private"), [member])
    archived, archived_name = public_channel(owner, server)
    set_public(server, archived, archived=True)
    stranger = Person.register(server.url, "stranger")

    shown = listed(stranger)

    assert shown[name] == {"members": "2 members", "joined": False, "button": "Join"}
    assert archived_name not in shown
    assert not any("Private" in n for n in shown), private
    assert listed(member)[name] == {"members": "2 members", "joined": True, "button": "Open"}
    item = parse(stranger.get("/directory").text).find("li", cls="directory-item", data_chat_id=str(chat))
    assert "Where the release is planned" in item.text
    assert re.search(r"last active \d{1,2} \w{3} \d{4}", item.find("span", cls="directory-active").text)


def test_search_matches_name_or_topic_whatever_the_case_as_one_types_and_without_javascript(server, owner):
    _, by_name = public_channel(owner, server)
    _, by_topic = public_channel(owner, server, topic="All about KANGAROOS")
    person = Person.register(server.url, "finder")
    word = by_name.split()[1].upper()

    assert set(listed(person, word)) == {by_name}
    assert set(listed(person, "kangaroo", htmx=True)) == {by_topic}
    nothing = parse(person.get("/directory?q=zzz-none").text)
    assert "No public channel’s name or topic holds “zzz-none”" in nothing.text
    assert "%" not in listed(person, "%") and listed(person, "%") == {}


# ----- previewing --------------------------------------------------------------------------------

def test_a_non_member_previews_a_public_channel_read_only(server, owner):
    chat, name = public_channel(owner, server)
    said = owner.send(chat, "the plan for the week")
    visitor = Person.register(server.url, "visitor")

    page = parse(visitor.get(f"/chats/{chat}").text)

    assert said in {int(m.get("data-id")) for m in page.find_all("article", cls="msg")}
    assert "the plan for the week" in page.find(id_="messages").text
    assert page.find(id_="composer") is None
    bar = page.find("form", id_="preview-bar")
    assert f"You’re previewing #{name}" in " ".join(bar.text.split())
    assert bar.get("action") == f"/chats/{chat}/join"
    assert chat not in chats_in_list(visitor)


def test_a_previewer_sees_the_pictures_and_files_of_the_history(server, owner):
    chat, _ = public_channel(owner, server)
    assert owner.upload(chat, [("plan.png", small_png())]).status == 302
    visitor = Person.register(server.url, "looker")

    page = parse(visitor.get(f"/chats/{chat}").text)
    links = {a.get("href") for a in page.find(id_="messages").find_all("a") if "/attachments/" in (a.get("href") or "")}
    pictures = {i.get("src") for i in page.find(id_="messages").find_all("img") if "/thumbnails/" in i.get("src")}

    assert links and pictures
    assert all(visitor.get(url).status == 200 for url in links | pictures)
    outsider_of_private = owner.create_chat(unique("Private"), [])
    assert owner.upload(outsider_of_private, [("secret.png", small_png())]).status == 302
    assert visitor.get(f"/chats/{outsider_of_private}/thumbnails/1").status == 404


def test_a_preview_pages_back_through_older_messages(server, owner):
    chat, _ = public_channel(owner, server)
    ids = [owner.send(chat, f"history {i}") for i in range(55)]
    visitor = Person.register(server.url, "reader")

    page = parse(visitor.get(f"/chats/{chat}").text)
    older = page.find("div", id_="older").find("a")
    before = older.get("href").split("before=")[1]
    fragment = visitor.get(f"/chats/{chat}/messages?before={before}", headers={"HX-Request": "true"})
    plain = parse(visitor.get(older.get("href")).text)

    assert fragment.status == 200 and "history 0" in fragment.text
    assert ids[0] in {int(m.get("data-id")) for m in plain.find_all("article", cls="msg")}
    assert plain.find("form", id_="preview-bar") is not None
    assert visitor.get(f"/chats/{chat}/messages?after=0").status == 404  # catching up is for members


def test_a_preview_sends_no_read_marker_and_subscribes_no_socket(server, owner):
    chat, _ = public_channel(owner, server)
    visitor = Person.register(server.url, "quiet")
    tab = visitor.open_tab()
    visitor.get(f"/chats/{chat}")
    owner.send(chat, "only members hear this live")

    assert not any(message_ids(f, chat) for f in tab.collect(1.0))
    assert visitor.post(f"/chats/{chat}/read", {"upto": "1"}).status == 404
    tab.close()


@pytest.mark.parametrize("kind", ["private", "archived", "direct", "missing"])
def test_what_is_not_a_listed_public_channel_answers_404_to_preview_and_join(server, owner, kind):
    other = Person.register(server.url, "other")
    if kind == "private":
        chat = owner.create_chat(unique("Private"), [other])
    elif kind == "archived":
        chat, _ = public_channel(owner, server)
        set_public(server, chat, archived=True)
    elif kind == "direct":
        chat = owner.open_direct(other)
    else:
        chat = 2_000_000_000
    outsider = Person.register(server.url, "outsider")

    assert outsider.get(f"/chats/{chat}").status == 404
    assert outsider.post(f"/chats/{chat}/join").status == 404
    assert outsider.get(f"/chats/{chat}/messages?before=2147483647").status == 404
    assert chat not in chats_in_list(outsider)


# ----- joining -----------------------------------------------------------------------------------

def test_joining_adds_one_system_message_and_opens_the_chat_and_again_changes_nothing(server, owner, stored):
    chat, name = public_channel(owner, server)
    joiner = Person.register(server.url, "joiner")
    other_tab = joiner.open_tab()
    watching = owner.open_tab()
    watching.view(chat)
    watching.wait_for(is_chat_list)

    first = joiner.post(f"/chats/{chat}/join")
    again = joiner.post(f"/chats/{chat}/join")

    assert first.status == again.status == 302
    assert first.location == again.location == f"/chats/{chat}"
    bodies = stored.message_bodies(chat)
    assert bodies.count(f"{joiner.username.title()} joined") == 1
    page = parse(joiner.get(f"/chats/{chat}").text)
    assert page.find(id_="composer") is not None and page.find("form", id_="preview-bar") is None
    assert listed(joiner)[name]["button"] == "Open"
    # Live: the joiner's other tab gets the chat in its list, the members see "joined".
    assert other_tab.wait_for(lambda f: is_chat_list(f) and f"chat-item-{chat}" in f)
    assert watching.wait_for(lambda f: "joined" in f and f'data-chat="{chat}"' in f)
    # And leaving is the existing leave: back to a preview.
    assert joiner.post(f"/chats/{chat}/leave").status == 302
    assert parse(joiner.get(f"/chats/{chat}").text).find("form", id_="preview-bar") is not None
    other_tab.close()
    watching.close()


def test_joining_with_htmx_navigates_to_the_chat(server, owner):
    chat, _ = public_channel(owner, server)
    joiner = Person.register(server.url, "htmxjoin")

    response = joiner.request("POST", f"/chats/{chat}/join", {"csrf_token": joiner.csrf()},
                              headers={"HX-Request": "true"})

    assert response.status == 204
    assert response.headers["HX-Redirect"] == f"/chats/{chat}"


def test_joining_without_the_csrf_token_is_refused(server, owner):
    chat, _ = public_channel(owner, server)
    joiner = Person.register(server.url, "nocsrf")

    assert joiner.post(f"/chats/{chat}/join", csrf=False).status in (400, 403)
    assert chat not in chats_in_list(joiner)


# ----- people ------------------------------------------------------------------------------------

def test_members_find_everyone_by_name_with_presence_and_a_message_button(server, owner):
    finder = Person.register(server.url, "seeker")
    name = unique("Zora")
    stranger = Person.register(server.url, "zora")
    assert stranger.post("/settings", {"action": "profile", "display_name": name}).status < 400

    page = parse(finder.get(f"/directory/people?q={name.split()[1]}").text)

    (item,) = page.find_all("li", cls="directory-person")
    assert item.get("data-username") == stranger.username
    assert name in item.text and f"@{stranger.username}" in item.text
    assert item.find("span", cls="presence") is not None
    assert item.find("input", name="username").get("value") == stranger.username
    dm = finder.post("/dm", {"username": stranger.username})
    assert dm.status == 302
    # The people picker and a typed username find them too: one rule.
    picker = finder.get(f"/new?q={stranger.username}", headers={"HX-Request": "true", "HX-Target": "people-options"})
    assert f'data-username="{stranger.username}"' in picker.text


# ----- guests ------------------------------------------------------------------------------------

def test_a_guest_gets_404_on_the_directory_and_previews_and_joins(server, owner):
    chat, _ = public_channel(owner, server)
    guest = Person.register(server.url, "guest")
    set_role(server, guest.username, "guest")

    for path in ("/directory", "/directory?q=a", "/directory/people", f"/chats/{chat}",
                 f"/chats/{chat}/messages?before=2147483647"):
        assert guest.get(path).status == 404, path
    assert guest.post(f"/chats/{chat}/join").status == 404
    assert chat not in chats_in_list(guest)
    assert "Browse channels" not in guest.get("/").text
    assert "Browse channels" in owner.get("/").text


def test_a_guest_finds_only_people_they_share_a_chat_with(server, owner):
    guest = Person.register(server.url, "gst")
    stranger = Person.register(server.url, "unseen")
    set_role(server, guest.username, "guest")
    owner.create_chat(unique("With guest"), [guest])

    picker = guest.get("/new?q=", headers={"HX-Request": "true", "HX-Target": "people-options"}).text

    assert f'data-username="{owner.username}"' in picker
    assert f'data-username="{stranger.username}"' not in picker
    assert guest.post("/dm", {"username": stranger.username}).status == 422  # not even by the exact username
