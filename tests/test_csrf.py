"""Cross-site request forgery: a post without this session's token is refused and changes nothing,
whether it comes from a script, from another signed-in session, or from a form on another site
in Chromium; and a token is finite but a page open longer than it lives keeps working.

Against gunicorn: the shared live server, and one of this module's own whose tokens live
LIFETIME seconds (pages open that long with the socket down, sending over HTTP).
"""
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, send
from .support.sites import another_site
from .support.stored import LiveDatabase
from .support.wsclient import Person

REFUSAL = "Your session has expired or the form was stale."
LIFETIME = 3




@pytest.fixture(scope="module")
def short_tokens():
    """A server whose CSRF tokens live LIFETIME seconds."""
    with services.module_server("csrf", _TMP, {"WEBCHAT_CSRF_LIFETIME": str(LIFETIME)}) as live:
        database = LiveDatabase(live)
        yield live, database
        database.close()


FORMS = {
    "send a message": ("/chats/{chat}/messages", {"body": "forged", "client_id": "forged-00001"}),
    "rename the chat": ("/chats/{chat}/rename", {"name": "Forged"}),
    "add a member": ("/chats/{chat}/members", {"usernames": "{other}"}),
    "change preferences": ("/settings", {"action": "preferences", "hide_presence": "1"}),
    "change the password": ("/settings", {"action": "password", "current_password": "password123",
                                          "new_password": "forged-password"}),
    "log out": ("/logout", {}),
}


def fill(value: str, chat: int, other: Person) -> str:
    return value.format(chat=chat, other=other.username)


@pytest.mark.parametrize("token", ["none", "another session's", "garbage"])
@pytest.mark.parametrize(("path", "form"), list(FORMS.values()), ids=list(FORMS))
def test_a_post_without_this_sessions_token_is_refused_and_changes_nothing(people, stored, path, form, token):
    alice, mallory = people.new("alice"), people.new("mallory")
    chat = alice.create_chat("Team")
    data = {k: fill(v, chat, mallory) for k, v in form.items()}
    if token == "another session's":
        data["csrf_token"] = mallory.csrf()
    elif token == "garbage":
        data["csrf_token"] = "IjQ2ZjE5ZTQ2Ij.forged.signature"
    before = stored.rows_about(chat, [alice.username, mallory.username])

    refused = alice.post(fill(path, chat, mallory), data, csrf=False)

    assert refused.status == 400
    assert REFUSAL in refused.text
    assert stored.rows_about(chat, [alice.username, mallory.username]) == before
    assert alice.get("/").status == 200  # still signed in, password unchanged
    assert Person(alice.base_url, alice.username).login().get("/").status == 200


def test_a_token_older_than_its_lifetime_is_refused_and_the_refusal_carries_a_fresh_one(short_tokens):
    server, stored = short_tokens
    alice = Person.register(server.url, "alice")
    chat = alice.create_chat("Team")
    old_token = alice.csrf()
    time.sleep(LIFETIME + 1)

    refused = alice.post(f"/chats/{chat}/messages", {"body": "too late", "client_id": uuid.uuid4().hex,
                                                     "csrf_token": old_token}, csrf=False)

    assert refused.status == 400
    assert REFUSAL in refused.text
    assert "too late" not in stored.message_bodies(chat)
    fresh = refused.headers["X-CSRF-Token"]
    again = alice.post(f"/chats/{chat}/messages", {"body": "in time", "client_id": uuid.uuid4().hex,
                                                   "csrf_token": fresh}, csrf=False)
    assert again.status == 302, again
    assert [b for b in stored.message_bodies(chat) if b in ("too late", "in time")] == ["in time"]


def test_the_token_url_hands_out_a_token_that_works_for_this_session_only(short_tokens):
    server, stored = short_tokens
    alice, mallory = Person.register(server.url, "alice"), Person.register(server.url, "mallory")
    chat = alice.create_chat("Team")
    answer = alice.get("/csrf-token", headers={"Accept": "application/json"})
    assert answer.status == 200
    assert answer.headers["Cache-Control"] == "no-store"
    token = re.search(r'"token":\s*"([^"]+)"', answer.text).group(1)

    stolen = mallory.post("/settings", {"action": "preferences", "hide_presence": "1", "csrf_token": token}, csrf=False)
    assert stolen.status == 400
    sent = alice.post(f"/chats/{chat}/messages", {"body": "fresh token", "client_id": uuid.uuid4().hex,
                                                  "csrf_token": token}, csrf=False)
    assert sent.status == 302, sent
    assert "fresh token" in stored.message_bodies(chat)


# ----- in Chromium ---------------------------------------------------------------------------------

def evil_page(target: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input name="{k}" value="{v}">' for k, v in fields.items())
    return (f'<!doctype html><form method="post" action="{target}">{inputs}</form>'
            "<script>document.forms[0].submit()</script>")


@pytest.mark.browser
@pytest.mark.parametrize("token", ["none", "another session's"])
def test_a_form_on_another_site_that_posts_into_a_chat_stores_nothing(
        chromium, live_server, stored, token, page_errors):
    page_errors.allow(r"Failed to load resource: .* 400", "the forged post is refused")
    people = BrowserPeople(chromium, live_server.url)
    try:
        alice = people()
        alice.fill("input[name=name]", "Team")
        alice.click("text=Create chat")
        alice.wait_for_url("**/chats/*")
        chat = int(alice.url.rsplit("/", 1)[1])
        fields = {"body": "forged from another site", "client_id": uuid.uuid4().hex}
        if token == "another session's":
            fields["csrf_token"] = Person.register(live_server.url, "mallory").csrf()
        alice.context.route("http://evil.example/**", lambda route: route.fulfill(
            content_type="text/html", body=evil_page(f"{live_server.url}/chats/{chat}/messages", fields)))

        with alice.expect_navigation(url=re.compile(re.escape(live_server.url))):
            alice.goto("http://evil.example/")

        assert "forged from another site" not in stored.message_bodies(chat)
        alice.goto(f"/chats/{chat}")  # still signed in, and the chat shows nothing forged
        expect(alice.locator("#messages")).not_to_contain_text("forged from another site")
    finally:
        people.close()


@pytest.mark.browser
def test_a_first_visit_by_a_link_from_another_site_can_sign_in(chromium, live_server):
    """The session a cross-site request gets is kept when it is a link (a GET): only posts from
    other sites are kept from replacing the browser's session."""
    person = Person.register(live_server.url, "linked")
    context = chromium.new_context()
    try:
        page = context.new_page()
        with another_site(f'<!doctype html><a href="{live_server.url}/login">our chat</a>') as site:
            page.goto(site)
            page.click("text=our chat")
            page.wait_for_url(live_server.url + "/login")
        page.fill("input[name=username]", person.username)
        page.fill("input[name=password]", person.password)
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        expect(page.locator(".topbar .who")).to_contain_text(f"@{person.username}")
    finally:
        context.close()


@pytest.fixture
def tab_without_socket(chromium, short_tokens):
    """A page signed in on the short-token server, in a chat of its own, whose socket never answers."""
    server, stored = short_tokens
    people = BrowserPeople(chromium, server.url)
    page = people()
    page.route_web_socket(re.compile(r"/socket$"), lambda ws: None)
    page.fill("input[name=name]", "Long open")
    page.click("text=Create chat")
    page.wait_for_url("**/chats/*")
    page.chat = int(page.url.rsplit("/", 1)[1])
    refusals = []
    page.on("response", lambda r: refusals.append(r.url) if r.status == 400 else None)
    page.refusals = refusals
    yield page, server, stored
    people.close()


@pytest.mark.browser
def test_a_tab_open_longer_than_the_token_lifetime_still_sends_over_http_and_logs_out(tab_without_socket):
    page, server, stored = tab_without_socket
    page.wait_for_timeout((2 * LIFETIME + 1) * 1000)  # every token the page was served has expired

    send(page, "sent long after the page loaded")

    expect(page.locator("#messages .msg", has_text="sent long after the page loaded")).to_have_count(1)
    expect(page.locator("#composer textarea")).to_have_value("")
    assert stored.message_bodies(page.chat).count("sent long after the page loaded") == 1
    assert page.refusals == []  # never refused: the token was fresh before it was used
    expect(page.locator("#connection")).not_to_have_attribute("data-state", "live")  # it went over HTTP

    page.wait_for_timeout((2 * LIFETIME + 1) * 1000)
    page.get_by_role("button", name="Log out").click()  # a plain form post
    page.wait_for_url(server.url + "/login")
    assert page.refusals == []


@pytest.mark.browser
def test_a_send_refused_for_a_stale_token_goes_again_by_itself_with_the_fresh_token_it_brought(
        tab_without_socket, page_errors):
    page_errors.allow(r"Failed to load resource: (net::ERR_FAILED|.* 400)|htmx:(sendError|afterRequest)",
                      "the token requests this test aborts, and the send refused for its stale token")
    page, server, stored = tab_without_socket
    page.route("**/csrf-token", lambda route: route.abort())  # no fresh token in advance
    page.wait_for_timeout((LIFETIME + 1) * 1000)

    send(page, "refused once")

    expect(page.locator("#messages .msg", has_text="refused once")).to_have_count(1)
    expect(page.locator("#messages > .pending")).to_have_count(0)
    expect(page.locator("#flash")).to_be_empty()  # nothing for the person to do
    assert len(page.refusals) == 1  # refused once, then sent with the token the refusal brought
    assert stored.message_bodies(page.chat).count("refused once") == 1
