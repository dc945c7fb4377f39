"""Characters that trip up storage and display: right-to-left overrides, zero-width and combining
characters, 4-byte characters (emoji, astral CJK), and NUL. In messages all of them but NUL are
stored and shown exactly, over HTTP and over the socket. Display names and chat names drop bidi
controls and invisible characters (the rule file names follow), keep the rest exactly, and are
shown isolated from the text around them. NUL (which PostgreSQL refuses) is refused in words before
the database sees it, wherever text comes in. The 4,000-character limit counts code points, so it
is the same on SQLite and PostgreSQL.

Run on PostgreSQL too: WEBCHAT_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test
"""
import pytest

from .support.hostile import find_class, find_id, parse_document, parse_fragment, text_of
from .support.records import create_group, snapshot, stored_messages
from .support.wsclient import People, confirms, messages_in

SPECIAL = {
    "right-to-left override": "abc \u202edef\u202c ghi",
    "right-to-left isolate and marks": "\u2067שלום\u2069 \u200fעברית\u200e and العربية",
    "zero-width space and joiner": "zero\u200bwidth\u200cnon\u200djoiner\ufeffbom",
    "zero-width only inside": "a\u200b\u200b\u200bb",
    "combining accents": "e\u0301 n\u0303 a\u030a\u0323",
    "zalgo": "Z\u0351\u036b\u0343\u036a\u0302\u036b\u033d\u034f\u0334\u0319\u0324\u031e\u0349"
             "\u035a\u032f\u031e\u0320\u034dA",
    "emoji": "\U0001f600\U0001f4a9\U0001f680",
    "emoji with skin tone and variation selector": "\U0001f44d\U0001f3fd \u2764\ufe0f \u263a\ufe0e",
    "zero-width-joined family": "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466",
    "flags": "\U0001f1fa\U0001f1f8\U0001f1ef\U0001f1f5",
    "astral CJK": "\U0002070e\U00020731\U00020779\U00020c53",
    "mathematical bold": "\U0001d400\U0001d401\U0001d402",
    "soft hyphen": "soft\u00adhyphen",
    "bidi and digits": "\u202e12:34\u202c",
}

# A name keeps what it is spelled with (accents, emoji and their joiners, ZWNJ) and drops what
# reorders the text around it or only hides in it: bidi controls, zero-width spaces, soft hyphens.
NAME_KEPT = {
    "right-to-left override": "abc def ghi",
    "right-to-left isolate and marks": "שלום עברית and العربية",
    "zero-width space and joiner": "zerowidth\u200cnon\u200djoinerbom",
    "zero-width only inside": "ab",
    "soft hyphen": "softhyphen",
    "bidi and digits": "12:34",
}
NAMES = [pytest.param(text, NAME_KEPT.get(key, text), id=key) for key, text in SPECIAL.items()]


def isolated(el) -> bool:
    """el lays its text out on its own: a <bdi>, or an element with dir="auto" (HTML's rendering
    rules isolate both), so a name's direction cannot spill onto the text beside it."""
    return el.tag == "bdi" or el.get("dir") == "auto"


def name_in(el):
    """The one isolated element holding the name inside el (el itself when it is one)."""
    [name] = [e for e in el.iter() if isolated(e)]
    return name


NUL = "before\x00after"
NUL_MESSAGE = "contains a character webchat can't store"


def user_bodies(app, chat_id):
    return [m.body for m in stored_messages(app, chat_id) if m.kind == "user"]


@pytest.fixture
def pair(actor):
    alice, bob = actor("alice"), actor("bob")
    return create_group(alice, "Team", "bob"), alice, bob


# ----- stored and shown exactly ------------------------------------------------------------------

@pytest.mark.parametrize("text", SPECIAL.values(), ids=SPECIAL.keys())
def test_special_characters_in_a_message_are_stored_and_shown_exactly(app, pair, text):
    chat_id, alice, bob = pair

    response = alice.send(chat_id, text, htmx=True)

    assert response.status_code == 200
    assert user_bodies(app, chat_id) == [text]
    for html, parse in ((response.get_data(as_text=True), parse_fragment),
                        (bob.get(f"/chats/{chat_id}").get_data(as_text=True), parse_document),
                        (bob.get(f"/chats/{chat_id}/messages?after=0").get_data(as_text=True), parse_fragment)):
        [body] = [b for a in parse(html).iter("article") for b in find_class(a, "msg-body")]
        assert text_of(body) == text
    [preview] = find_class(parse_fragment(bob.get("/chats/list").get_data(as_text=True)), "preview")
    assert text_of(preview) == f"Alice: {text}"


@pytest.mark.parametrize(("text", "kept"), NAMES)
def test_a_chat_name_is_stored_without_bidi_controls_and_shown_isolated(app, pair, text, kept):
    chat_id, alice, bob = pair

    response = alice.post(f"/chats/{chat_id}/rename", {"name": text})

    assert response.status_code == 200
    page = parse_document(bob.get(f"/chats/{chat_id}").get_data(as_text=True))
    assert text_of(page.find(".//title")) == f"{kept} · webchat"
    heading = name_in(page.find(".//section[@id='chat-pane']/header/h2"))
    listed = find_class(find_id(page, f"chat-item-{chat_id}"), "chat-title")[0]
    for name in (heading, listed):
        assert isolated(name) and text_of(name) == kept
    members = parse_document(bob.get(f"/chats/{chat_id}/members").get_data(as_text=True))
    assert text_of(name_in(members.find(".//section[@id='chat-pane']/header/h2"))) == kept
    [event] = [p for p in page.iter("p") if "msg-system" in p.get("class", "") and "renamed" in text_of(p)]
    assert f"“{kept}”" in text_of(event)


@pytest.mark.parametrize(("text", "kept"), NAMES)
def test_a_display_name_is_stored_without_bidi_controls_and_shown_isolated(app, anonymous, actor, text, kept):
    response = anonymous.post("/register", {"username": "zed", "display_name": text, "password": "password123"})
    assert response.status_code == 302
    anonymous.username = "zed"
    alice = actor("alice")
    chat_id = create_group(alice, "Team", "zed")
    anonymous.send(chat_id, "hello")

    page = parse_document(alice.get(f"/chats/{chat_id}").get_data(as_text=True))

    [author] = find_class(page, "msg-author")
    assert isolated(author) and text_of(author) == kept
    who = find_class(parse_document(anonymous.get("/").get_data(as_text=True)), "who")[0]
    assert text_of(who) == f"{kept} @zed"
    assert isolated(name_in(who)) and text_of(name_in(who)) == kept
    members = parse_document(alice.get(f"/chats/{chat_id}/members").get_data(as_text=True))
    [listed] = [e for e in members.iter("bdi") if text_of(e) == kept]
    assert text_of(listed) == kept


# ----- NUL: refused in words, nothing changes ----------------------------------------------------

@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_message_with_a_nul_is_refused_in_words_and_nothing_is_stored(app, pair, htmx):
    chat_id, alice, _ = pair
    before = snapshot(app)

    response = alice.send(chat_id, NUL, htmx=htmx)

    assert response.status_code == 422
    assert NUL_MESSAGE in text_of(parse_document(response.get_data(as_text=True)))
    assert snapshot(app) == before


def test_a_chat_name_with_a_nul_is_refused_in_words_when_creating_or_renaming(app, pair):
    chat_id, alice, _ = pair
    before = snapshot(app)

    created = alice.post("/chats", {"name": NUL, "members": "bob"})
    renamed = alice.post(f"/chats/{chat_id}/rename", {"name": NUL})

    for response in (created, renamed):
        assert response.status_code == 422
        assert NUL_MESSAGE in text_of(find_class(parse_document(response.get_data(as_text=True)), "form-error")[0])
    assert snapshot(app) == before


def test_a_display_name_with_a_nul_is_refused_at_registration_in_words(app, anonymous):
    before = snapshot(app)

    response = anonymous.post("/register", {"username": "zed", "display_name": NUL, "password": "password123"})

    assert response.status_code == 422
    errors = [text_of(e) for e in find_class(parse_document(response.get_data(as_text=True)), "field-error")]
    assert errors and NUL_MESSAGE in errors[0]
    assert snapshot(app) == before


def test_a_username_with_a_nul_is_refused_at_registration_with_the_username_rule(app, anonymous):
    before = snapshot(app)

    response = anonymous.post("/register", {"username": "ze\x00d", "display_name": "Zed", "password": "password123"})

    assert response.status_code == 422
    assert "Usernames are 3–32 characters" in text_of(parse_document(response.get_data(as_text=True)))
    assert snapshot(app) == before


def test_signing_in_with_a_nul_in_the_username_is_a_plain_wrong_username_or_password(app, anonymous, make_user):
    make_user("alice")

    response = anonymous.post("/login", {"username": "alice\x00", "password": "password123"})

    assert response.status_code == 401
    assert "Wrong username or password." in response.get_data(as_text=True)


@pytest.mark.parametrize(("url", "field"), [("/dm", "username"), ("/chats", "members"),
                                            ("/chats/{chat}/members", "usernames")],
                         ids=["direct message", "new group", "add members"])
def test_naming_people_with_a_nul_is_refused_in_words_and_changes_nothing(app, pair, url, field):
    chat_id, alice, _ = pair
    before = snapshot(app)

    response = alice.post(url.format(chat=chat_id), {field: "bob\x00", "name": "Group"})

    assert response.status_code == 422
    error = text_of(find_class(parse_document(response.get_data(as_text=True)), "form-error")[0])
    assert "no username has (a NUL)" in error
    assert snapshot(app) == before


# ----- the limits count code points, the same on every database ------------------------------------

CHARACTERS = {"1-byte": "a", "2-byte": "\u00e9", "3-byte": "\u20ac", "4-byte emoji": "\U0001f600",
              "4-byte CJK": "\U0002070e"}


@pytest.mark.parametrize("char", CHARACTERS.values(), ids=CHARACTERS.keys())
def test_a_message_of_4000_characters_of_any_width_is_stored_whole_and_4001_is_refused(app, pair, char):
    chat_id, alice, _ = pair

    accepted = alice.send(chat_id, char * 4000)
    before = snapshot(app)
    refused = alice.send(chat_id, char * 4001)

    assert accepted.status_code == 302
    assert user_bodies(app, chat_id) == [char * 4000]
    assert refused.status_code == 422
    assert "That message is 4,001 characters long; the limit is 4,000." in refused.get_data(as_text=True)
    assert snapshot(app) == before


def test_a_chat_name_of_80_four_byte_characters_is_kept_and_81_is_refused(app, pair):
    chat_id, alice, _ = pair

    assert alice.post(f"/chats/{chat_id}/rename", {"name": "\U0001f600" * 80}).status_code == 200
    before = snapshot(app)
    refused = alice.post(f"/chats/{chat_id}/rename", {"name": "\U0001f600" * 81})

    assert refused.status_code == 422
    assert "Chat names can be at most 80 characters." in refused.get_data(as_text=True)
    assert snapshot(app) == before
    page = parse_document(alice.get(f"/chats/{chat_id}").get_data(as_text=True))
    assert text_of(page.find(".//section[@id='chat-pane']/header/h2")) == "\U0001f600" * 80


def test_a_display_name_of_64_four_byte_characters_is_kept_and_65_is_refused(app, anonymous):
    from .conftest import Actor

    refused = Actor(app).post("/register", {"username": "long", "display_name": "\U0002070e" * 65,
                                            "password": "password123"})
    accepted = anonymous.post("/register", {"username": "zed", "display_name": "\U0002070e" * 64,
                                            "password": "password123"})

    assert refused.status_code == 422
    assert "Display names can be at most 64 characters." in refused.get_data(as_text=True)
    assert accepted.status_code == 302
    anonymous.username = "zed"
    assert text_of(find_class(parse_document(anonymous.get("/").get_data(as_text=True)), "who")[0]) \
        == "\U0002070e" * 64 + " @zed"


# ----- over the socket -------------------------------------------------------------------------------

@pytest.fixture
def people(live_server):
    crowd = People(live_server.url)
    yield crowd
    crowd.close()


def test_special_characters_sent_over_the_socket_reach_the_other_member_exactly(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Characters", [bob])
    sender, receiver = alice.open_tab(), bob.open_tab()
    receiver.view(chat)

    for text in SPECIAL.values():
        client_id = sender.send(chat, text)
        sent = sender.wait_for(lambda f, c=client_id: confirms(f, c))
        [message] = messages_in(sent)
        frame = receiver.wait_for_message(message["id"])
        [body] = [b for a in parse_fragment(frame).iter("article") for b in find_class(a, "msg-body")]
        assert text_of(body) == text


def test_over_the_socket_4000_four_byte_characters_are_stored_whole_and_4001_are_refused_in_words(people):
    alice = people.new("alice")
    chat = alice.create_chat("Limit")
    tab = alice.open_tab()
    tab.view(chat)

    accepted = tab.send(chat, "\U0001f600" * 4000)
    [message] = messages_in(tab.wait_for(lambda f: confirms(f, accepted)))
    refused = tab.send(chat, "\U0002070e" * 4001)
    failed = tab.wait_for(lambda f: f'id="pending-{refused}"' in f)

    assert "That message is 4,001 characters long; the limit is 4,000." in failed
    assert message["id"] in alice.stored_ids(chat)
    page = parse_fragment(alice.get(f"/chats/{chat}/messages?after=0").text)
    bodies = [text_of(b) for a in page.iter("article") for b in find_class(a, "msg-body")]
    assert bodies == ["\U0001f600" * 4000]


def test_a_nul_sent_over_the_socket_is_refused_in_words_and_the_socket_stays_open(people):
    alice = people.new("alice")
    chat = alice.create_chat("Nul")
    tab = alice.open_tab()
    before = alice.stored_ids(chat)

    client_id = tab.send(chat, NUL)
    failed = tab.wait_for(lambda f: f'id="pending-{client_id}"' in f)

    assert "pending--failed" in failed and "can&#39;t store" in failed
    assert alice.stored_ids(chat) == before
    tab.assert_open()
