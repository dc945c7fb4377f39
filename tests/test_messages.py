"""Messages: sending (form and htmx), validation, idempotency, history and polling, formatting, safety."""
import uuid

import pytest

from .support.pages import (
    chat_list,
    composer,
    message_body,
    message_id_from,
    message_ids,
    older_link,
    parse,
    system_messages,
    text_of,
)
from .support.records import create_group, post_messages, set_user, stored_messages


@pytest.fixture
def pair(actor):
    """alice and bob in a group chat "Team": (chat id, alice, bob)."""
    alice, bob = actor("alice"), actor("bob")
    return create_group(alice, "Team", "bob"), alice, bob


def user_messages(app, chat_id):
    return [m for m in stored_messages(app, chat_id) if m.kind == "user"]


class Recorder:
    """A hub connection that keeps the text of what it is given."""

    def __init__(self):
        self.payloads = []

    def deliver(self, payload):
        self.payloads.append(getattr(payload, "text", payload))  # a str, or a delivery carrying .text


# ----- sending -------------------------------------------------------------------------------

def test_sending_by_plain_form_redirects_to_the_new_message(pair):
    chat_id, alice, _ = pair

    response = alice.send(chat_id, "Hello, team")

    assert response.status_code == 302
    [stored] = user_messages(alice.app, chat_id)
    assert response.headers["Location"] == f"/chats/{chat_id}#m-{stored.id}"
    assert (stored.author, stored.body) == ("alice", "Hello, team")
    page = alice.get(response.headers["Location"])
    assert message_ids(page)[-1] == stored.id
    assert "Hello, team" in message_body(page, stored.id).text


def test_sending_by_htmx_answers_with_the_message_and_a_fresh_composer(pair):
    chat_id, alice, _ = pair
    sent_client_id = str(uuid.uuid4())

    response = alice.send(chat_id, "Hello, team", client_id=sent_client_id, htmx=True)

    assert response.status_code == 200
    [stored] = user_messages(alice.app, chat_id)
    assert message_ids(response) == [stored.id]
    assert message_body(response, stored.id).text.strip() == "Hello, team"
    fresh = composer(response)
    assert fresh["oob"] is True
    assert fresh["client_id"] != sent_client_id
    assert fresh["body"] == ""
    assert fresh["error"] is None


def test_an_htmx_send_not_from_the_composer_leaves_the_composer_alone(pair):
    chat_id, alice, _ = pair

    response = alice.post(f"/chats/{chat_id}/messages", {"body": "retried in the background",
                                                         "client_id": str(uuid.uuid4())}, htmx=True)

    assert response.status_code == 200
    assert len(message_ids(response)) == 1
    assert parse(response).by_id("composer") is None  # a draft typed meanwhile is not wiped


def send_from_line(actor, chat_id, body, client_id):
    """As the page's outbox sends (static/outbox.js): its line still being sent makes the request."""
    return actor.post(f"/chats/{chat_id}/messages", {"body": body, "client_id": client_id}, htmx=True,
                      trigger=f"pending-{client_id}")


def test_a_send_from_a_pending_line_answers_with_the_message_carrying_its_client_id_and_the_lines_end(pair):
    chat_id, alice, _ = pair
    client_id = str(uuid.uuid4())

    response = send_from_line(alice, chat_id, "from the outbox", client_id)

    [stored] = user_messages(alice.app, chat_id)
    page = parse(response)
    assert message_ids(response) == [stored.id]
    assert page.by_id(f"m-{stored.id}").get("data-client-id") == client_id
    assert page.by_id(f"pending-{client_id}").get("hx-swap-oob") == "delete"
    assert page.by_id("composer") is None


@pytest.mark.parametrize(("sender", "body", "status", "words"), [
    ("alice", "x" * 4001, 422, "That message is 4,001 characters long"),
    ("carol", "no longer a member", 404, "There is nothing here, or you don't have access to it."),
], ids=["too-long", "not-a-member"])
def test_a_send_from_a_pending_line_that_is_refused_marks_that_line_not_sent_and_leaves_the_composer(
        pair, actor, sender, body, status, words):
    chat_id, alice, _ = pair
    sender = alice if sender == "alice" else actor(sender)
    client_id = str(uuid.uuid4())

    response = send_from_line(sender, chat_id, body, client_id)

    assert response.status_code == status
    line = parse(response).by_id(f"pending-{client_id}")
    assert line.get("hx-swap-oob") == "true" and "pending--failed" in line.classes
    assert words in line.find(cls="pending-reason").text
    assert line.find(cls="pending-body").text == body  # kept for Retry and Edit
    assert parse(response).by_id("composer") is None  # it may hold the next message already
    assert "HX-Retarget" not in response.headers
    assert user_messages(alice.app, chat_id) == []


def test_an_htmx_send_with_after_returns_every_message_since_in_id_order(pair):
    chat_id, alice, bob = pair
    mine = message_id_from(alice.send(chat_id, "one"))
    bob.send(chat_id, "two")
    bob.send(chat_id, "three")

    response = alice.send(chat_id, "four", htmx=True, after=mine)

    ids = [m.id for m in user_messages(alice.app, chat_id)]
    assert message_ids(response) == ids[1:]
    assert [message_body(response, i).text.strip() for i in ids[1:]] == ["two", "three", "four"]
    # Sending marks everything before your own message as read.
    assert chat_list(alice.get("/chats/list"))[0]["unread"] == 0


def test_an_htmx_send_with_after_at_the_newest_message_returns_just_the_new_one(pair):
    chat_id, alice, _ = pair
    newest = stored_messages(alice.app, chat_id)[-1].id

    response = alice.send(chat_id, "just this", htmx=True, after=newest)

    assert message_ids(response) == [user_messages(alice.app, chat_id)[0].id]


@pytest.mark.parametrize(("body", "message"), [
    ("", "Type a message before sending."),
    ("   \n\t  ", "Type a message before sending."),
    ("x" * 4001, "That message is 4,001 characters long; the limit is 4,000. Nothing was sent"),
], ids=["empty", "whitespace-only", "4001-characters"])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_an_empty_or_too_long_message_is_refused_and_the_composer_keeps_the_text(pair, body, message, htmx):
    chat_id, alice, _ = pair
    client_id = str(uuid.uuid4())

    response = alice.send(chat_id, body, client_id=client_id, htmx=htmx)

    assert response.status_code == 422
    assert user_messages(alice.app, chat_id) == []
    kept = composer(response)
    assert message in kept["error"]
    assert kept["body"] == body
    assert kept["client_id"] == client_id  # a corrected retry still cannot be stored twice
    if htmx:
        assert response.headers["HX-Retarget"] == "#composer"
        assert "<html" not in response.get_data(as_text=True)
        assert message_ids(response) == []
    else:
        assert "<html" in response.get_data(as_text=True)


def test_a_message_of_exactly_4000_characters_is_stored_whole(pair):
    chat_id, alice, _ = pair
    body = "a" * 3999 + "Z"

    response = alice.send(chat_id, body)

    assert response.status_code == 302
    [stored] = user_messages(alice.app, chat_id)
    assert stored.body == body
    assert body in message_body(alice.get(f"/chats/{chat_id}"), stored.id).text


def test_surrounding_whitespace_is_trimmed_but_inner_lines_are_kept(pair):
    chat_id, alice, _ = pair

    alice.send(chat_id, "\n  first line\nsecond line  \n\n")

    [stored] = user_messages(alice.app, chat_id)
    assert stored.body == "first line\nsecond line"
    assert message_body(alice.get(f"/chats/{chat_id}"), stored.id).find("br") is not None


# ----- idempotent sending --------------------------------------------------------------------

@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_sending_twice_with_one_client_id_stores_one_message(pair, htmx):
    chat_id, alice, _ = pair
    client_id = str(uuid.uuid4())

    first = alice.send(chat_id, "only once", client_id=client_id, htmx=htmx)
    second = alice.send(chat_id, "only once", client_id=client_id, htmx=htmx)

    [stored] = user_messages(alice.app, chat_id)
    assert first.status_code == second.status_code == (200 if htmx else 302)
    if htmx:
        assert message_ids(first) == message_ids(second) == [stored.id]
    else:
        assert message_id_from(first) == message_id_from(second) == stored.id


def test_a_client_id_used_in_another_chat_is_refused_with_409(pair):
    chat_id, alice, _ = pair
    other_chat = create_group(alice, "Elsewhere")
    client_id = str(uuid.uuid4())
    alice.send(chat_id, "here", client_id=client_id)

    response = alice.send(other_chat, "there", client_id=client_id)

    assert response.status_code == 409
    assert "This message id was already used in another chat." in composer(response)["error"]
    assert user_messages(alice.app, other_chat) == []
    assert len(user_messages(alice.app, chat_id)) == 1


@pytest.mark.parametrize("client_id", ["short", "has spaces in it", "x" * 65, "<script>alert(1)</script>"])
def test_a_malformed_client_id_is_refused_with_400(pair, client_id):
    chat_id, alice, _ = pair

    response = alice.send(chat_id, "hello", client_id=client_id)

    assert response.status_code == 400
    assert "its id is malformed" in composer(response)["error"]
    assert user_messages(alice.app, chat_id) == []


def test_a_client_cannot_create_system_messages(pair):
    chat_id, alice, _ = pair
    before = stored_messages(alice.app, chat_id)

    response = alice.post(f"/chats/{chat_id}/messages", {
        "body": "Bob left", "client_id": str(uuid.uuid4()), "kind": "system", "author_id": "",
        "html": "<b>forged</b>", "mentions": "bob",
    })

    assert response.status_code == 302
    after = stored_messages(alice.app, chat_id)
    assert [m for m in after if m.kind == "system"] == [m for m in before if m.kind == "system"]
    [new] = after[len(before):]
    assert (new.kind, new.author, new.body) == ("user", "alice", "Bob left")
    assert "forged" not in new.html
    page = alice.get(f"/chats/{chat_id}")
    assert "Bob left" not in system_messages(page)


# ----- hidden system messages ----------------------------------------------------------------

def test_hidden_system_messages_are_absent_from_the_page_polling_and_history(app, pair):
    chat_id, alice, bob = pair
    post_messages(app, chat_id, "bob", [f"early {i}" for i in range(60)])
    alice.post(f"/chats/{chat_id}/rename", {"name": "Renamed"})
    bob.send(chat_id, "late")
    alice.post(f"/chats/{chat_id}/read", {"upto": str(stored_messages(app, chat_id)[-1].id)})  # newest page
    assert system_messages(alice.get(f"/chats/{chat_id}"))  # shown by default
    set_user(app, "alice", hide_system_messages=True)

    page = alice.get(f"/chats/{chat_id}")
    polled = alice.get(f"/chats/{chat_id}/messages?after=0")
    history = alice.get(f"/chats/{chat_id}/messages?before={message_ids(page)[0]}")

    for response in (page, polled, history):
        assert response.status_code == 200
        assert system_messages(response) == []
        assert not parse(response).find_all(cls="msg--system")
        # Each hidden event keeps its place as an empty, hidden placeholder (no text at all),
        # so the page's sequence numbers show no false gap.
        for placeholder in parse(response).find_all(cls="msg--placeholder"):
            assert "hidden" in placeholder.attrs and not placeholder.text.strip()
    assert "renamed" not in text_of(page) and "renamed" not in text_of(history)
    def shown(response):
        return [m for m in parse(response).find_all(cls="msg") if "msg--placeholder" not in m.classes]
    assert len(message_ids(page)) == 50 and len(shown(page)) == 49  # the rename is a placeholder
    assert message_body(page, message_ids(page)[-1]).text.strip() == "late"
    assert len(shown(history)) == 12
    assert "Alice renamed the chat" not in text_of(alice.get("/"))  # nor as the list preview


# ----- history and polling -------------------------------------------------------------------

@pytest.fixture
def long_chat(app, pair):
    """Team with 120 messages from bob after its 2 system messages: (chat id, alice, all ids)."""
    chat_id, alice, _ = pair
    post_messages(app, chat_id, "bob", [f"message {i}" for i in range(120)])
    return chat_id, alice, [m.id for m in stored_messages(app, chat_id)]


def test_a_long_chat_shows_the_newest_50_and_a_link_to_older_ones(long_chat):
    chat_id, alice, ids = long_chat
    alice.post(f"/chats/{chat_id}/read", {"upto": str(ids[-1])})  # all read: the chat opens at its newest page

    page = alice.get(f"/chats/{chat_id}")

    shown = message_ids(page)
    assert shown == ids[-50:]
    link = older_link(page)
    assert link is not None
    assert link.get("href") == f"/chats/{chat_id}?before={shown[0]}"
    assert link.get("hx-get") == f"/chats/{chat_id}/messages?before={shown[0]}"


def test_older_pages_go_back_50_at_a_time_in_order_until_the_first_message(long_chat):
    chat_id, alice, ids = long_chat

    second = alice.get(f"/chats/{chat_id}/messages?before={ids[-50]}")
    assert message_ids(second) == ids[-100:-50]
    assert older_link(second).get("hx-get") == f"/chats/{chat_id}/messages?before={ids[-100]}"

    last = alice.get(f"/chats/{chat_id}/messages?before={ids[-100]}")
    assert message_ids(last) == ids[:-100]
    assert older_link(last) is None
    assert system_messages(last)[0] == "Alice created the chat “Team”"


def test_the_older_link_works_without_javascript_too(long_chat):
    chat_id, alice, ids = long_chat

    page = alice.get(f"/chats/{chat_id}?before={ids[-50]}")

    assert "<html" in page.get_data(as_text=True)
    assert message_ids(page) == ids[-100:-50]
    assert older_link(page).get("href") == f"/chats/{chat_id}?before={ids[-100]}"
    assert "Newer messages" in text_of(page)
    first_page = alice.get(f"/chats/{chat_id}?before={ids[-100]}")
    assert message_ids(first_page) == ids[:-100]
    assert older_link(first_page) is None


def test_polling_with_after_returns_only_newer_messages_in_order(long_chat):
    chat_id, alice, ids = long_chat

    response = alice.get(f"/chats/{chat_id}/messages?after={ids[100]}")

    assert response.status_code == 200
    assert message_ids(response) == ids[101:]
    assert message_ids(alice.get(f"/chats/{chat_id}/messages?after={ids[-1]}")) == []


def test_polling_fetches_without_marking_read_and_the_pages_read_report_clears_the_count(pair):
    """Read markers move when a visible tab reports what it showed (POST /read), not on fetch."""
    chat_id, alice, bob = pair
    newest = stored_messages(alice.app, chat_id)[-1].id
    for text in ("one", "two", "three"):
        bob.send(chat_id, text)
    assert chat_list(alice.get("/"))[0]["unread"] == 3

    polled = alice.get(f"/chats/{chat_id}/messages?after={newest}")
    assert chat_list(alice.get("/"))[0]["unread"] == 3

    alice.post(f"/chats/{chat_id}/read", {"upto": str(message_ids(polled)[-1])})
    assert chat_list(alice.get("/"))[0]["unread"] == 0


# ----- formatting ----------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "tag", "text"), [
    ("some **bold** text", "strong", "bold"),
    ("some *italic* text", "em", "italic"),
    ("some _italic_ text", "em", "italic"),
    ("run `make test` now", "code", "make test"),
    ("~~gone~~ here", "s", "gone"),
    ("```\nline one\nline two\n```", "pre", "line one\nline two\n"),
    ("[the docs](https://example.com/docs)", "a", "the docs"),
    ("see https://example.com/page", "a", "https://example.com/page"),
    ("- one\n- two", "ul", "one"),
    ("1. first\n2. second", "ol", "first"),
    ("> quoted words", "blockquote", "quoted words"),
], ids=["bold", "italic-star", "italic-underscore", "code", "strikethrough", "fenced-code", "link", "autolink",
        "bullet-list", "numbered-list", "quote"])
def test_markdown_in_a_message_is_rendered(pair, source, tag, text):
    chat_id, alice, _ = pair

    alice.send(chat_id, source)

    [stored] = user_messages(alice.app, chat_id)
    body = message_body(alice.get(f"/chats/{chat_id}"), stored.id)
    [element] = body.find_all(tag)
    assert text in element.text


def test_links_in_messages_open_safely(pair):
    chat_id, alice, _ = pair

    alice.send(chat_id, "[docs](https://example.com/docs) and https://example.org")

    [stored] = user_messages(alice.app, chat_id)
    links = message_body(alice.get(f"/chats/{chat_id}"), stored.id).find_all("a")
    assert [a.get("href") for a in links] == ["https://example.com/docs", "https://example.org"]
    assert {a.get("rel") for a in links} == {"nofollow noopener noreferrer"}


def test_markdown_that_a_chat_does_not_need_stays_plain_text(pair):
    chat_id, alice, _ = pair

    alice.send(chat_id, "# Not a heading\n\n![img](https://example.com/x.png)")

    [stored] = user_messages(alice.app, chat_id)
    body = message_body(alice.get(f"/chats/{chat_id}"), stored.id)
    assert body.find("h1") is None
    assert body.find("img") is None
    assert "# Not a heading" in body.text


def test_a_mention_of_a_member_is_highlighted_and_a_non_member_is_not(pair, make_user):
    chat_id, alice, _ = pair
    make_user("carol")

    alice.send(chat_id, "hi @bob, @Bob and @carol; mail bob@example.com")

    [stored] = user_messages(alice.app, chat_id)
    page = parse(alice.get(f"/chats/{chat_id}"))
    article = page.by_id(f"m-{stored.id}")
    mentions = article.find_all("span", cls="mention")
    assert [(m.get("data-user"), m.text) for m in mentions] == [("bob", "@bob"), ("bob", "@bob")]
    assert article.get("data-mentions") == "bob"
    assert "@carol" in article.text
    assert "bob@example.com" in article.text


def test_a_mention_inside_code_or_a_link_is_not_highlighted(pair):
    chat_id, alice, _ = pair

    alice.send(chat_id, "`@bob` and [@bob](https://example.com)")

    [stored] = user_messages(alice.app, chat_id)
    body = message_body(alice.get(f"/chats/{chat_id}"), stored.id)
    assert body.find_all("span", cls="mention") == []


@pytest.mark.parametrize(("source", "shown"), [
    ("party :tada:", "party 🎉"),
    (":+1: and :thumbsup: and :THUMBSUP:", "👍 and 👍 and 👍"),
    ("**:heart:** :tada::tada:", "❤️ 🎉🎉"),
    ("[:wave:](https://example.com)", "👋"),
], ids=["tada", "aliases", "in-emphasis-and-a-run", "link-words"])
def test_shortcodes_become_emoji(pair, source, shown):
    chat_id, alice, _ = pair

    alice.send(chat_id, source)

    [stored] = user_messages(alice.app, chat_id)
    assert message_body(alice.get(f"/chats/{chat_id}"), stored.id).text.strip() == shown
    assert stored.body == source  # what the editor shows: as typed


def test_shortcodes_in_code_urls_and_other_words_stay_as_typed(pair):
    chat_id, alice, _ = pair
    source = ("`:tada:` https://example.com/:tada:/x a:b:c 10:30:00 :no_such_emoji:\n"
              "```\n:tada:\n```")

    alice.send(chat_id, source)

    [stored] = user_messages(alice.app, chat_id)
    body = message_body(alice.get(f"/chats/{chat_id}"), stored.id)
    assert "🎉" not in body.text and "🅱" not in body.text
    assert body.find("code").text == ":tada:"
    assert body.find("a").get("href") == "https://example.com/:tada:/x"
    assert body.find("a").text == "https://example.com/:tada:/x"
    assert "a:b:c 10:30:00 :no_such_emoji:" in body.text
    assert body.find("pre").text == ":tada:\n"


def test_an_edit_turns_shortcodes_into_emoji_and_keeps_the_text_as_typed(pair):
    chat_id, alice, _ = pair
    alice.send(chat_id, "first")
    [stored] = user_messages(alice.app, chat_id)

    alice.post(f"/chats/{chat_id}/messages/{stored.id}/edit", {"body": "done :white_check_mark:"})

    [edited] = user_messages(alice.app, chat_id)
    assert message_body(alice.get(f"/chats/{chat_id}"), stored.id).text.strip() == "done ✅"
    assert edited.body == "done :white_check_mark:"
    edit_form = alice.get(f"/chats/{chat_id}/messages/{stored.id}/edit").get_data(as_text=True)
    assert "done :white_check_mark:" in edit_form


# ----- hostile input -------------------------------------------------------------------------

HOSTILE = [
    "<img src=x onerror=alert(1)>",
    "<script>alert(1)</script>",
    '<div hx-get="/logout" hx-trigger="load">click</div>',
    "[x](javascript:alert(1))",
    '<a href="javascript:alert(1)" onclick="alert(1)">y</a>',
    "[x](JaVaScRiPt:alert(1)) <iframe src=//evil.example></iframe>",
    '<span class="mention" data-user="alice" style="color:red">fake</span>',
]


def assert_harmless(body):
    """Nothing in a message body can run, load, or drive htmx."""
    for element in body.elements():
        assert element.tag in {"p", "br", "strong", "em", "code", "pre", "a", "ul", "ol", "li", "blockquote",
                               "span", "del", "s"}, element
        assert not any(name.startswith(("on", "hx-", "data-hx", "style", "src")) for name in element.attrs), element
        assert not (element.get("href") or "").strip().lower().startswith(("javascript:", "data:", "vbscript:"))
        if element.tag == "span":
            assert element.get("data-user") != "alice"  # no forged mention either


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_input_is_stored_and_shown_as_text(pair, source):
    chat_id, alice, _ = pair

    response = alice.send(chat_id, source, htmx=True)

    [stored] = user_messages(alice.app, chat_id)
    assert stored.body == source
    for html in (response, alice.get(f"/chats/{chat_id}"), alice.get(f"/chats/{chat_id}/messages?after=0")):
        body = message_body(html, stored.id)
        assert_harmless(body)
        assert body.text.strip() == source


def test_a_page_full_of_hostile_messages_has_only_the_apps_own_scripts(pair):
    chat_id, alice, _ = pair
    for source in HOSTILE:
        alice.send(chat_id, source)

    page = parse(alice.get(f"/chats/{chat_id}"))

    scripts = page.find_all("script")
    assert scripts
    assert all(s.get("src", "").startswith("/static/") and not s.text.strip() for s in scripts)
    assert page.find_all("img") == []
    stored = {m.id for m in user_messages(alice.app, chat_id)}
    own_urls = {f"/chats/{chat_id}/members", "/chats/list", f"/chats/{chat_id}/messages", f"/chats/{chat_id}",
                f"/chats/{chat_id}/mentions", "/search", "/new", "/directory", "/threads", "/"}
    own_urls |= {f"/chats/{chat_id}/messages/{mid}/{action}" for mid in stored for action in ("edit", "reactions")}
    assert {el.get("hx-get") for el in page.find_all(hx_get=True)} <= own_urls


def test_message_bodies_are_marked_hx_disable(pair):
    chat_id, alice, _ = pair
    alice.send(chat_id, "hello")

    body = message_body(alice.get(f"/chats/{chat_id}"), user_messages(alice.app, chat_id)[0].id)

    assert "hx-disable" in body.attrs


# ----- CSRF ----------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "not-a-real-token"], ids=["missing", "forged"])
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
def test_a_post_without_a_valid_csrf_token_is_refused_and_stores_nothing(pair, token, htmx):
    chat_id, alice, _ = pair
    data = {"body": "forged", "client_id": str(uuid.uuid4())}
    if token:
        data["csrf_token"] = token

    response = alice.post(f"/chats/{chat_id}/messages", data, csrf=False, htmx=htmx)

    assert response.status_code == 400
    assert "Your session has expired or the form was stale." in text_of(response)
    assert user_messages(alice.app, chat_id) == []


def test_the_csrf_token_can_come_in_the_htmx_header(pair):
    chat_id, alice, _ = pair
    token = alice.csrf()

    response = alice.client.post(f"/chats/{chat_id}/messages",
                                 data={"body": "via header", "client_id": str(uuid.uuid4())},
                                 headers={"HX-Request": "true", "X-CSRFToken": token})

    assert response.status_code == 200
    assert [m.body for m in user_messages(alice.app, chat_id)] == ["via header"]


# ----- real-time publishing ------------------------------------------------------------------

def test_each_new_message_is_published_once_to_its_chat_and_a_repeat_publishes_nothing(app, pair):
    chat_id, alice, _ = pair
    other_chat = create_group(alice, "Elsewhere")
    hub = app.extensions["webchat.hub"]
    recorder, elsewhere = Recorder(), Recorder()
    hub.subscribe(f"chat:{chat_id}", recorder)
    hub.subscribe(f"chat:{other_chat}", elsewhere)
    client_id = str(uuid.uuid4())

    message_id = message_id_from(alice.send(chat_id, "to everyone", client_id=client_id))

    assert len(recorder.payloads) == 1
    assert f'id="m-{message_id}"' in recorder.payloads[0]
    assert message_ids(recorder.payloads[0]) == [message_id]
    assert elsewhere.payloads == []

    alice.send(chat_id, "to everyone", client_id=client_id)
    alice.send(chat_id, "", client_id=str(uuid.uuid4()))
    assert len(recorder.payloads) == 1


def test_chat_changes_are_published_as_system_messages(app, pair):
    chat_id, alice, _ = pair
    recorder = Recorder()
    app.extensions["webchat.hub"].subscribe(f"chat:{chat_id}", recorder)

    alice.post(f"/chats/{chat_id}/rename", {"name": "Renamed"})

    assert len(recorder.payloads) == 1
    assert system_messages(recorder.payloads[0]) == ["Alice renamed the chat to “Renamed”"]
