"""Search across one's chats, and a message's own address: what is found, what never is, and safety."""

import pytest
from sqlalchemy import update

from webchat.core.search import fts5_expression, parse_query
from webchat.extensions import db
from webchat.models import Message, utcnow

from .support.pages import message_ids, parse, text_of
from .support.records import create_group, post_messages, stored_messages


@pytest.fixture
def trio(actor):
    """alice, bob and carol, each signed in in their own browser."""
    return actor("alice"), actor("bob"), actor("carol")


def search(actor, q, **params):
    return actor.get("/search", query_string={"q": q, **params})


def hits(response) -> list[dict]:
    """The search results on a page, in order: ids, where, who, the snippet and the link."""
    found = []
    for item in parse(response).find_all("li", cls="search-hit"):
        snippet = item.find("span", cls="search-snippet")
        found.append({
            "id": int(item.get("data-message-id")),
            "chat_id": int(item.get("data-chat-id")),
            "chat": item.find("span", cls="search-chat").text,
            "author": item.find("span", cls="search-author").text,
            "text": " ".join(snippet.text.split()),
            "marks": [mark.text for mark in snippet.find_all("mark")],
            "href": item.find("a").get("href"),
        })
    return found


def found_ids(actor, q) -> list[int]:
    response = search(actor, q)
    assert response.status_code == 200, text_of(response)
    return [hit["id"] for hit in hits(response)]


# ----- what is found -------------------------------------------------------------------------

def test_search_finds_messages_of_your_chats_newest_first_with_the_match_marked(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Launch", "bob")
    older, _, newer = post_messages(alice.app, chat_id, "bob", [
        "The deploy is on Friday", "lunch anyone?", "Friday deploy moved to Monday"])

    response = search(alice, "deploy")

    assert response.status_code == 200
    assert [h["id"] for h in hits(response)] == [newer, older]
    first = hits(response)[0]
    assert first["chat"] == "Launch" and first["author"] == "Bob"
    assert first["text"] == "Friday deploy moved to Monday"
    assert first["marks"] == ["deploy"]
    assert first["href"] == f"/chats/{chat_id}/messages/{newer}#m-{newer}"


def test_every_word_must_appear_and_the_last_one_may_be_the_start_of_a_word(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Launch", "bob")
    both, _ = post_messages(alice.app, chat_id, "bob", ["release notes for version 2", "release party"])

    assert found_ids(alice, "release notes") == [both]
    assert found_ids(alice, "release no") == [both]  # typed so far
    assert found_ids(alice, "RELEASE Notes") == [both]
    assert found_ids(alice, "notes release") == [both]
    assert found_ids(alice, "releas party") == []  # only the last word is a prefix


def test_names_code_and_words_with_accents_are_found_as_typed(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Dev", "bob")
    code, mention, accent = post_messages(alice.app, chat_id, "bob", [
        "call parse_query() in search.py", "@alice can you look?", "déjà vu at the café"])

    assert found_ids(alice, "parse_query") == [code]
    assert found_ids(alice, "search.py") == [code]
    assert found_ids(alice, "@alice") == [mention]
    assert found_ids(alice, "café") == [accent]


def test_a_direct_chat_result_is_named_after_the_other_person(trio):
    alice, bob, _ = trio
    response = alice.post("/dm", {"username": "bob"})
    chat_id = int(response.headers["Location"].rsplit("/", 1)[1])
    post_messages(alice.app, chat_id, "bob", ["the password is in the vault"])

    [hit] = hits(search(alice, "vault"))
    assert hit["chat"] == "Bob"


def test_more_results_continue_with_older_messages_without_repeating_any(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Busy", "bob")
    ids = post_messages(alice.app, chat_id, "bob", [f"standup notes {i}" for i in range(25)])

    first = search(alice, "standup")
    more = parse(first).by_id("search-more").find("a")
    second = alice.get(more.get("href"))
    also_by_htmx = alice.get(more.get("hx-get"), htmx=True, target="search-more")

    assert [h["id"] for h in hits(first)] == ids[::-1][:20]
    assert [h["id"] for h in hits(second)] == ids[::-1][20:]
    assert parse(second).by_id("search-more") is None
    assert [h["id"] for h in hits(also_by_htmx)] == ids[::-1][20:]
    assert "<html" not in also_by_htmx.get_data(as_text=True)


def test_results_come_newest_first_from_the_whole_history_past_the_recent_messages(trio):
    """PostgreSQL looks at the newest messages first, then further back (search.RECENT_WINDOW)."""
    alice, bob, _ = trio
    alice.app.config["SEARCH_RECENT_WINDOW"] = 5
    chat_id = create_group(alice, "History", "bob")
    texts = [f"budget draft {i}" if i % 4 == 0 else f"other talk {i}" for i in range(40)]
    ids = post_messages(alice.app, chat_id, "bob", texts)
    budget = [i for i, t in zip(ids, texts, strict=True) if t.startswith("budget")][::-1]

    assert found_ids(alice, "budget") == budget
    assert found_ids(alice, "draft 36 budget") == [budget[0]]
    first = search(alice, "talk")
    second = alice.get(parse(first).by_id("search-more").find("a").get("href"))
    talk = [i for i, t in zip(ids, texts, strict=True) if t.startswith("other")][::-1]
    assert [h["id"] for h in hits(first)] + [h["id"] for h in hits(second)] == talk


def test_the_search_pane_alone_answers_htmx_navigation(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Launch", "bob")
    post_messages(alice.app, chat_id, "bob", ["ship it"])

    response = alice.get("/search?q=ship", htmx=True, target="chat-pane")

    html = response.get_data(as_text=True)
    assert "<html" not in html
    assert parse(html).find("section", id_="chat-pane") is not None
    assert len(hits(response)) == 1
    assert "HX-Request" in response.headers.get("Vary", "")


def test_the_top_bar_search_box_keeps_the_search_on_its_page(trio):
    alice, _, _ = trio
    box = parse(search(alice, "ship it")).find("form", cls="topbar-search").find("input", name="q")
    assert box.get("value") == "ship it"
    assert parse(alice.get("/")).find("form", cls="topbar-search").get("action") == "/search"


# ----- what is never found -------------------------------------------------------------------

def test_messages_of_a_chat_you_are_not_in_never_appear(trio):
    alice, bob, carol = trio
    secret = create_group(carol, "Secret", "bob")
    shared = create_group(alice, "Shared", "bob")
    post_messages(alice.app, secret, "bob", ["the launch code is 1234"])
    visible = post_messages(alice.app, shared, "bob", ["the launch is tomorrow"])

    assert found_ids(alice, "launch") == visible
    assert found_ids(alice, "code") == []
    assert len(found_ids(carol, "launch")) == 1


def test_after_leaving_a_chat_its_messages_are_no_longer_found(trio):
    alice, bob, _ = trio
    chat_id = create_group(bob, "Plans", "alice")
    post_messages(alice.app, chat_id, "bob", ["surprise party on Saturday"])
    assert len(found_ids(alice, "surprise")) == 1

    assert alice.post(f"/chats/{chat_id}/leave").status_code == 302

    assert found_ids(alice, "surprise") == []
    assert len(found_ids(bob, "surprise")) == 1


def test_a_removed_member_no_longer_finds_the_chats_messages(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Plans", "bob")
    post_messages(alice.app, chat_id, "alice", ["salary review next week"])
    assert len(found_ids(bob, "salary")) == 1

    alice.post(f"/chats/{chat_id}/members/bob/remove")

    assert found_ids(bob, "salary") == []


def test_a_deleted_message_is_not_found_by_its_old_words(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Oops", "bob")
    deleted, kept = post_messages(alice.app, chat_id, "bob", ["my pin is 4711 oops", "ignore the oops"])

    assert bob.post(f"/chats/{chat_id}/messages/{deleted}/delete", {}).status_code == 302

    assert found_ids(alice, "4711") == []
    assert found_ids(alice, "oops") == [kept]


def test_a_message_marked_deleted_is_never_found_even_if_its_text_were_left(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Oops", "bob")
    [message_id] = post_messages(alice.app, chat_id, "bob", ["leftover words"])
    with alice.app.app_context():
        db.session.execute(update(Message).where(Message.id == message_id).values(deleted_at=utcnow()))
        db.session.commit()

    assert found_ids(alice, "leftover") == []


def test_an_edited_message_is_found_by_its_new_words_not_its_old_ones(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Typos", "bob")
    [message_id] = post_messages(alice.app, chat_id, "bob", ["meeting at teh office"])

    response = bob.post(f"/chats/{chat_id}/messages/{message_id}/edit", {"body": "meeting at the office"})
    assert response.status_code == 302

    assert found_ids(alice, "teh") == []
    assert found_ids(alice, "the office") == [message_id]


def test_a_chats_number_is_not_a_word_of_its_messages(trio):
    """The index puts each message's chat id in front of its words: no search may match it."""
    alice, bob, _ = trio
    chat_id = create_group(alice, "Numbers", "bob")
    post_messages(alice.app, chat_id, "bob", ["nothing numeric here"])

    for query in (str(chat_id), f"#{chat_id}", f"'#{chat_id}'", f"here #{chat_id}"):
        assert found_ids(alice, query) == [], query


def test_chat_events_are_not_search_results(trio):
    alice, _, _ = trio
    create_group(alice, "Events", "bob")  # "Alice added Bob"

    assert found_ids(alice, "added") == []


# ----- safety --------------------------------------------------------------------------------

def test_html_in_a_message_is_shown_as_text_in_the_snippet(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Hostile", "bob")
    post_messages(alice.app, chat_id, "bob", ["<b>x</b> secret <img src=x onerror=alert(1)>"])

    response = search(alice, "secret")

    [hit] = hits(response)
    assert hit["marks"] == ["secret"]
    assert hit["text"] == "<b>x</b> secret <img src=x onerror=alert(1)>"
    html = response.get_data(as_text=True)
    assert "&lt;b&gt;x&lt;/b&gt; <mark>secret</mark> &lt;img" in html
    assert "<b>x</b>" not in html and "<img" not in html


def test_marker_characters_inside_a_message_never_break_the_snippets_markup(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Odd", "bob")
    post_messages(alice.app, chat_id, "bob", ["odd \x03</mark><script>x</script>\x02 bytes"])

    response = search(alice, "bytes")

    [hit] = hits(response)
    assert hit["marks"] == ["bytes"]
    assert "<script>" not in response.get_data(as_text=True)


def test_snippet_marker_characters_typed_into_a_message_mark_nothing_in_its_search_results(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Odd", "bob")
    bob.send(chat_id, "\x02fake\x03 highlight beside the \x02real\x03 word, tab\tand\r\nlines", htmx=True)

    [hit] = hits(search(alice, "real"))

    assert hit["marks"] == ["real"]
    assert hit["text"] == "fake highlight beside the real word, tab and lines"
    [message] = [m for m in stored_messages(alice.app, chat_id) if m.kind == "user"]
    assert message.body == "fake highlight beside the real word, tab\tand\r\nlines"


@pytest.mark.parametrize("query", [
    'secret"', '"secret', "secret*", "sec*ret", "NEAR(secret)", "secret NEAR", "secret OR x", "secret AND",
    "NOT secret", "(secret", "secret)", "body:secret", "-secret", "^secret", "secret:*", "secret & !x",
    "secret | x", "secret <-> x", "it's secret", "secret\\", "{secret}", "secret\x00", "+secret",
])
def test_query_syntax_typed_into_the_box_is_searched_as_text_never_an_error(trio, query):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Syntax", "bob")
    post_messages(alice.app, chat_id, "bob", ["the secret is out"])

    response = search(alice, query)

    assert response.status_code == 200, text_of(response)
    assert "went wrong" not in text_of(response)


@pytest.mark.parametrize("query", ['"', "*", "(", ":", "&&", "''", '" * ( ) : ^ -'])
def test_a_search_with_no_letters_or_digits_says_so(trio, query):
    alice, _, _ = trio
    response = search(alice, query)
    assert response.status_code == 422
    assert "no letters or digits to search for" in text_of(response)


def test_an_empty_search_shows_how_to_search_and_a_too_long_one_is_refused(trio):
    alice, _, _ = trio

    empty = alice.get("/search")
    assert empty.status_code == 200
    assert "Type words or names in the search box" in text_of(empty)
    assert hits(empty) == []

    long = search(alice, "word " * 60)
    assert long.status_code == 422
    assert "the limit is 200" in text_of(long)


def test_search_and_message_addresses_need_a_signed_in_user(anonymous):
    for url in ("/search?q=secret", "/chats/1/messages/1"):
        response = anonymous.get(url)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


# ----- a message's own address -----------------------------------------------------------------

def test_a_result_opens_its_chat_at_the_message_which_is_marked(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Launch", "bob")
    [message_id] = post_messages(alice.app, chat_id, "bob", ["the rocket is ready"])
    [hit] = hits(search(alice, "rocket"))

    page = alice.get(hit["href"].split("#")[0])

    assert page.status_code == 200
    pane = parse(page).find("section", id_="chat-pane")
    assert pane.get("data-chat-id") == str(chat_id)
    assert pane.get("data-focus") == f"m-{message_id}"
    assert message_id in message_ids(page)
    assert "data-paged" not in parse(page).by_id("messages").attrs  # the newest page: live


def test_the_address_of_an_old_message_opens_the_history_that_ends_with_it(trio):
    alice, bob, _ = trio
    chat_id = create_group(alice, "Long", "bob")
    ids = post_messages(alice.app, chat_id, "bob", [f"message {i}" for i in range(80)])
    old = ids[10]

    page = alice.get(f"/chats/{chat_id}/messages/{old}")

    shown = message_ids(page)
    assert shown[-1] == old
    assert "data-paged" in parse(page).by_id("messages").attrs
    assert parse(page).find("section", id_="chat-pane").get("data-focus") == f"m-{old}"

    pane = alice.get(f"/chats/{chat_id}/messages/{ids[-5]}", htmx=True, target="chat-pane")
    assert "<html" not in pane.get_data(as_text=True)
    assert ids[-5] in message_ids(pane)


def test_a_message_address_is_not_found_for_non_members_or_for_a_message_of_another_chat(trio):
    alice, bob, carol = trio
    secret = create_group(carol, "Secret", "bob")
    mine = create_group(alice, "Mine", "bob")
    [secret_message] = post_messages(alice.app, secret, "bob", ["hidden"])
    [my_message] = post_messages(alice.app, mine, "bob", ["visible"])

    assert alice.get(f"/chats/{secret}/messages/{secret_message}").status_code == 404
    assert alice.get(f"/chats/{mine}/messages/{secret_message}").status_code == 404
    assert bob.get(f"/chats/{secret}/messages/{my_message}").status_code == 404
    assert alice.get(f"/chats/{mine}/messages/{2**40}").status_code == 404
    assert alice.get(f"/chats/{mine}/messages/{my_message}").status_code == 200


def test_each_typed_word_is_looked_for_in_each_of_the_searchers_chats_and_only_a_plain_last_word_is_a_prefix():

    query = parse_query('say "hi" to bob*')
    assert query.terms == ("say", '"hi"', "to", "bob*")
    assert query.prefix is False
    assert fts5_expression(parse_query('say "Hi" to bo'), [5, 12]) == (
        '("0000000005say" AND "0000000005hi" AND "0000000005to" AND "0000000005bo"*)'
        ' OR ("0000000012say" AND "0000000012hi" AND "0000000012to" AND "0000000012bo"*)')
    assert fts5_expression(parse_query("search.py"), [5]) == '("0000000005search 0000000005py")'
