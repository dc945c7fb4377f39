"""Throttling for real: a socket flooding sends, a user opening dozens of sockets, an address
hammering registration or login. Each is refused with a clear message while everyone else
carries on; with REDIS_URL every host counts against the same limits.

The module's server runs the shipped limits (webchat/config.py), unlike the other live servers,
which raise them for tests that send fast. Every person here makes their HTTP requests from an
address of their own in 127.0.0.0/8, so the per-address limits see them as different clients.
"""
import contextlib
import html
import http.client
import os
import random
import re
import time
import uuid

import pytest
import websocket
from playwright.sync_api import expect
from sqlalchemy import create_engine, select, text

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, open_shared_chat, send
from .support.pages import chat_list, form_error, parse, text_of
from .support.stored import set_public
from .support.wsclient import (
    PASSWORD,
    Person,
    Reader,
    confirms,
    connect,
    message_ids,
    new_client_id,
    server_worker_pids,
    unique_name,
)

# The shipped defaults (webchat/config.py).
SEND_BUDGET, SEND_WINDOW = 20, 10
FRAMES_PER_SECOND, FRAME_BURST = 20, 60
REGISTER_LIMIT = 20
LOGIN_FAILURES_PER_ACCOUNT = 5
LOGIN_FAILURES_PER_ADDRESS = 4 * LOGIN_FAILURES_PER_ACCOUNT
SOCKETS_PER_USER = 50
CHATS_PER_MINUTE = 10
PUT_INTO_PER_HOUR = 20
REACTION_BUDGET = 30
LOOKUPS_PER_HOUR = 200
SHIPPED = {
    "WEBCHAT_SEND_LIMIT": f"{SEND_BUDGET} per {SEND_WINDOW} seconds",
    "WEBCHAT_REACTION_LIMIT": f"{REACTION_BUDGET} per 10 seconds",
    "WEBCHAT_CHAT_CREATE_LIMIT": f"{CHATS_PER_MINUTE} per minute; 100 per day",
    "WEBCHAT_MEMBER_ADD_LIMIT": "300 per 10 minutes; 2000 per day",
    "WEBCHAT_PUT_INTO_CHATS_LIMIT": f"{PUT_INTO_PER_HOUR} per hour",
    "WEBCHAT_USERNAME_LOOKUP_LIMIT": f"{LOOKUPS_PER_HOUR} per hour; 1000 per day",
    "WEBCHAT_SOCKET_FRAMES_PER_SECOND": str(FRAMES_PER_SECOND),
    "WEBCHAT_REGISTER_LIMIT": f"{REGISTER_LIMIT} per hour",
    "WEBCHAT_LOGIN_FAILURE_LIMIT": "5 per 5 minutes",
    "WEBCHAT_SOCKETS_PER_USER": str(SOCKETS_PER_USER),
}
TOO_FAST = "You're sending messages too fast"
REDIS_URL = os.environ.get("WEBCHAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"


def random_loopback() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"


class PersonAt(Person):
    """A Person whose HTTP requests come from an address of its own (sockets still from 127.0.0.1)."""

    def __init__(self, base_url: str, username: str | None = None, password: str = PASSWORD,
                 address: str | None = None) -> None:
        super().__init__(base_url, username, password)
        self.address = address or random_loopback()

    def request(self, method, path, form=None, headers=None):
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                                    source_address=(self.address, 0))
        return super().request(method, path, form, headers)


@pytest.fixture(scope="module")
def server():
    with services.module_server("throttling", _TMP, extra_env=SHIPPED) as live:
        yield live


@pytest.fixture
def people(server):
    made: list[Person] = []

    def new(prefix: str = "user", base_url: str | None = None) -> PersonAt:
        person = PersonAt.register(base_url or server.url, prefix)
        made.append(person)
        return person
    yield new
    for person in made:
        person.close_tabs()


def answers_to(tab, client_ids: list[str], timeout: float) -> dict[str, str]:
    """Read until every client id is confirmed or refused: {client id: "sent" | the refusal's frame}."""
    pending = set(client_ids)
    answers: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while pending:
        frame = tab.recv(max(0.0, deadline - time.monotonic()))
        assert frame is not None, f"{len(pending)} of {len(client_ids)} sends never answered"
        for client_id in list(pending):
            if confirms(frame, client_id):
                answers[client_id] = "sent"
            elif f'id="pending-{client_id}"' in frame and "pending--failed" in frame:
                answers[client_id] = html.unescape(frame)
            else:
                continue
            pending.discard(client_id)
    return answers


def composer_text(page: str) -> str:
    match = re.search(r'<form id="composer".*?<textarea[^>]*>(.*?)</textarea>', page, re.S)
    assert match, page[:500]
    return html.unescape(match.group(1))


# ----- one socket flooding sends ----------------------------------------------------------------

def test_a_socket_sending_hundreds_of_messages_a_second_stores_its_budget_and_is_told_to_slow_down(people):
    alice, bob = people("alice"), people("bob")
    carol, dave = people("carol"), people("dave")
    chat, elsewhere = alice.create_chat("Flooded", [bob]), carol.create_chat("Elsewhere", [dave])
    before = alice.stored_ids(chat)
    flooder, bob_tab, dave_tab = alice.open_tab(), bob.open_tab(), dave.open_tab()

    client_ids = [new_client_id() for _ in range(200)]
    started = time.monotonic()
    for i, client_id in enumerate(client_ids):  # as fast as the socket takes them
        flooder.send_json({"type": "send", "chat": chat, "body": f"flood {i}", "client_id": client_id})
    # Meanwhile others on the same worker are served as usual.
    dave_tab.wait_for_message(carol.send(elsewhere, "are you there?"), timeout=2)
    answers = answers_to(flooder, client_ids, timeout=60)
    elapsed = time.monotonic() - started

    sent = [c for c in client_ids if answers[c] == "sent"]
    assert client_ids[:SEND_BUDGET] == sent[:SEND_BUDGET]
    assert answers[client_ids[SEND_BUDGET]] != "sent"
    assert len(sent) <= 2 * SEND_BUDGET  # a slow machine may reach a second window, never more
    for i, client_id in enumerate(client_ids):
        if answers[client_id] != "sent":
            assert TOO_FAST in answers[client_id] and f"flood {i}" in answers[client_id]  # the text, kept
    stored = alice.stored_ids(chat)
    assert len(stored) == len(before) + len(sent)
    bob_tab.collect(0.5)
    assert sorted(message_ids(bob_tab.frames, chat)) == stored[len(before):]
    # The frames were read no faster than the socket's pace: the burst, then 20 a second.
    assert elapsed >= 0.8 * (len(client_ids) - FRAME_BURST) / FRAMES_PER_SECOND
    print(f"\n200 send frames: {len(sent)} stored, {200 - len(sent)} refused, answered in {elapsed:.1f} s")


def test_a_socket_send_repeated_by_its_page_spends_the_budget_once(people):
    alice, bob = people("alice"), people("bob")
    chat = alice.create_chat("Repeats", [bob])
    tab = alice.open_tab()
    client_id = tab.send(chat, "said once")
    assert answers_to(tab, [client_id], timeout=10) == {client_id: "sent"}
    stored = alice.stored_ids(chat)
    for _ in range(SEND_BUDGET):  # the same frame again and again, as a page retrying on reconnects does
        tab.send(chat, "said once", client_id)
        assert answers_to(tab, [client_id], timeout=10) == {client_id: "sent"}
    assert alice.stored_ids(chat) == stored

    # Repeats are free: what is left of the budget still sends.
    client_ids = [tab.send(chat, f"new {i}") for i in range(SEND_BUDGET - 1)]
    assert set(answers_to(tab, client_ids, timeout=10).values()) == {"sent"}
    assert len(alice.stored_ids(chat)) == len(stored) + SEND_BUDGET - 1


def test_the_send_budget_is_one_per_user_across_sockets_and_http_and_http_gets_429_keeping_the_text(people):
    alice, bob = people("alice"), people("bob")
    chat = alice.create_chat("Budget", [bob])
    first, second = alice.open_tab(), alice.open_tab()
    for tab in (first, second):
        client_ids = [tab.send(chat, f"from a tab {i}") for i in range(SEND_BUDGET // 2)]
        assert set(answers_to(tab, client_ids, timeout=10).values()) == {"sent"}
    stored = alice.stored_ids(chat)

    refused = alice.request("POST", f"/chats/{chat}/messages",
                            {"body": "over http, with htmx", "client_id": new_client_id(), "csrf_token": alice.csrf()},
                            headers={"HX-Request": "true", "HX-Trigger": "composer", "HX-Target": "messages"})
    assert refused.status == 429
    assert refused.headers["HX-Retarget"] == "#composer"
    assert composer_text(refused.text) == "over http, with htmx"
    wait = re.search(r"Wait (\d+) seconds?", html.unescape(refused.text))
    assert TOO_FAST in html.unescape(refused.text) and wait

    plain = alice.post(f"/chats/{chat}/messages", {"body": "over http, no JavaScript", "client_id": new_client_id()})
    assert plain.status == 429
    assert composer_text(plain.text) == "over http, no JavaScript" and TOO_FAST in html.unescape(plain.text)
    assert "Traceback" not in plain.text

    client_id = first.send(chat, "and the socket again")
    assert TOO_FAST in answers_to(first, [client_id], timeout=5)[client_id]
    assert alice.stored_ids(chat) == stored

    bob.send(chat, "bob is not throttled")  # another user of the same chat
    time.sleep(int(wait.group(1)) + 0.5)  # what the message told alice to wait
    alice.send(chat, "after the wait")


# ----- chats, members, edits, reactions and renames -------------------------------------------------

HTMX = {"HX-Request": "true", "HX-Target": "chat-pane"}
CREATING_TOO_FAST = "You're creating chats too fast. Wait"


def htmx_post(person: Person, path: str, form: dict, headers: dict | None = None):
    return person.request("POST", path, {**form, "csrf_token": person.csrf()}, headers={**HTMX, **(headers or {})})


def chats_of(person: Person) -> list[int]:
    response = person.get("/chats/list")
    assert response.status == 200, response
    return [entry["id"] for entry in chat_list(response.text)]


def test_a_user_creating_chats_fast_is_refused_after_the_limit_with_a_reason_and_nothing_is_stored(people):
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    made = [alice.create_chat(f"Spam {i}", [bob]) for i in range(CHATS_PER_MINUTE)]

    plain = alice.post("/chats", {"name": "One too many", "members": bob.username})
    fragment = htmx_post(alice, "/chats", {"name": "One too many", "members": bob.username})
    direct = alice.post("/dm", {"username": carol.username})

    assert plain.status == fragment.status == direct.status == 429
    assert CREATING_TOO_FAST in form_error(plain.text) and "<html" in plain.text
    assert re.search(r"Wait \d+ seconds? before starting another\. Nothing was changed\.", form_error(fragment.text))
    assert "<html" not in fragment.text
    assert CREATING_TOO_FAST in form_error(direct.text)
    assert parse(plain.text).find("input", name="members").get("value") == bob.username  # what was typed stays
    assert sorted(chats_of(bob)) == sorted(made)
    assert sorted(chats_of(alice)) == sorted(made) and chats_of(carol) == []
    bob.create_chat("Bob is not throttled", [alice])


def test_one_user_puts_another_into_at_most_the_cap_of_new_chats_an_hour_whatever_the_door(people):
    alice, bob, carol = people("alice"), people("bob"), people("carol")
    accomplices = [people("accomplice") for _ in range(3)]  # chats alice is in, made fast by others
    chats = [a.create_chat(f"Trap {i}", [alice]) for a in accomplices for i in range(CHATS_PER_MINUTE)]

    answers = [alice.post(f"/chats/{chat}/members", {"usernames": bob.username}) for chat in chats]

    assert [a.status for a in answers] == [200] * PUT_INTO_PER_HOUR + [429] * (len(chats) - PUT_INTO_PER_HOUR)
    refusal = form_error(answers[PUT_INTO_PER_HOUR].text)
    assert re.fullmatch(rf"You've added {bob.username.title()} to {PUT_INTO_PER_HOUR} chats within the hour\. Wait \d+ "
                        r"minutes before adding them to another\. Nothing was changed\.", refusal), refusal
    assert sorted(chats_of(bob)) == sorted(chats[:PUT_INTO_PER_HOUR])
    fragment = htmx_post(alice, f"/chats/{chats[-1]}/members", {"usernames": bob.username})
    assert fragment.status == 429 and "<html" not in fragment.text and "You've added" in form_error(fragment.text)
    own = alice.post("/chats", {"name": "Mine", "members": bob.username})  # a chat of her own is no way around
    assert own.status == 429 and "You've added" in form_error(own.text)
    assert sorted(chats_of(bob)) == sorted(chats[:PUT_INTO_PER_HOUR])
    # The cap is per pair: alice may still add someone else, and someone else may add bob.
    assert alice.post(f"/chats/{chats[-1]}/members", {"usernames": carol.username}).status == 200
    assert accomplices[-1].post(f"/chats/{chats[-1]}/members", {"usernames": bob.username}).status == 200
    assert chats[-1] in chats_of(bob) and chats_of(carol) == [chats[-1]]


def most_in(budget: int, window: float, started: float) -> int:
    """The most a budget allows since `started`: it is whole again in every window that began since
    (a window starts at the first use after the last one ended), however slow a busy machine is."""
    return budget * (int((time.monotonic() - started) // window) + 1)


def post_with_and_without_javascript(person: Person, path: str, forms: list[dict]):
    """Post each form quickly, every other one as htmx does: the answers, in order."""
    return [htmx_post(person, path, form) if i % 2 == 0 else person.post(path, form) for i, form in enumerate(forms)]


def test_a_hundred_quick_edits_are_refused_after_the_send_budget_and_broadcast_nothing_more(people):
    alice, bob = people("alice"), people("bob")
    chat = alice.create_chat("Edited", [bob])
    started = time.monotonic()
    message = alice.send(chat, "the original")  # spends one of the budget
    bob_tab = bob.open_tab()

    answers = post_with_and_without_javascript(alice, f"/chats/{chat}/messages/{message}/edit",
                                               [{"body": f"edit {i}"} for i in range(100)])

    saved = [i for i, a in enumerate(answers) if a.status in (200, 302)]
    assert saved[:SEND_BUDGET - 1] == list(range(SEND_BUDGET - 1))
    assert {a.status for a in answers[SEND_BUDGET - 1:]} - {200, 302} == {429}
    assert len(saved) + 1 <= most_in(SEND_BUDGET, SEND_WINDOW, started)
    plain, fragment = answers[SEND_BUDGET - 1], answers[SEND_BUDGET]  # the first refusals
    assert plain.status == fragment.status == 429
    assert fragment.headers["HX-Retarget"] == f"#edit-m-{message}"
    for answer, i in ((plain, SEND_BUDGET - 1), (fragment, SEND_BUDGET)):
        assert re.fullmatch(r"You're sending and editing too fast\. Wait \d+ seconds? and save it again — your "
                            r"text is kept\.", form_error(answer.text))
        assert parse(answer.text).find("textarea").text == f"edit {i}"
    assert f"edit {saved[-1]}" in text_of(bob.get(f"/chats/{chat}").text)
    broadcast = {int(m) for frame in bob_tab.collect(1.0) if "data-message-changes" in frame
                 for m in re.findall(r"edit (\d+)", frame)}
    assert broadcast == set(saved)


def test_quick_reactions_have_a_budget_of_their_own_so_a_reply_still_goes_out(people):
    alice, bob = people("alice"), people("bob")
    chat = alice.create_chat("Reacted", [bob])
    message = bob.send(chat, "react to me")
    bob_tab = bob.open_tab()
    started = time.monotonic()

    answers = post_with_and_without_javascript(alice, f"/chats/{chat}/messages/{message}/reactions",
                                               [{"emoji": "👍"}] * 100)

    toggled = [i for i, a in enumerate(answers) if a.status in (200, 302)]
    assert toggled[:REACTION_BUDGET] == list(range(REACTION_BUDGET))
    assert answers[REACTION_BUDGET].status == answers[REACTION_BUDGET + 1].status == 429
    assert len(toggled) <= most_in(REACTION_BUDGET, 10, started)
    for refused in answers[REACTION_BUDGET:REACTION_BUDGET + 2]:
        assert re.search(r"You're reacting too fast\. Wait \d+ seconds? and react again\.", text_of(refused.text))
    changes = [f for f in bob_tab.collect(1.0) if "data-message-changes" in f]
    assert len(changes) == len(toggled)
    alice.send(chat, "but a reply still goes out")


def test_sixty_renames_make_at_most_the_send_budgets_worth_of_system_messages(people):
    alice, bob = people("alice"), people("bob")
    chat = alice.create_chat("Renamed", [bob])
    before = bob.stored_ids(chat)
    started = time.monotonic()

    answers = post_with_and_without_javascript(alice, f"/chats/{chat}/rename",
                                               [{"name": f"Name {i}"} for i in range(60)])

    renamed = [i for i, a in enumerate(answers) if a.status == 200]
    assert renamed[:SEND_BUDGET] == list(range(SEND_BUDGET))
    assert answers[SEND_BUDGET].status == answers[SEND_BUDGET + 1].status == 429
    assert len(renamed) <= most_in(SEND_BUDGET, SEND_WINDOW, started)
    for refused in answers[SEND_BUDGET:SEND_BUDGET + 2]:
        assert re.fullmatch(r"You're renaming too fast: every rename is a message to everyone in the chat\. Wait "
                            r"\d+ seconds? and try again\. Nothing was changed\.", form_error(refused.text))
    assert "<html" not in answers[SEND_BUDGET].text and "<html" in answers[SEND_BUDGET + 1].text
    assert len(bob.stored_ids(chat)) == len(before) + len(renamed)
    assert f"Name {renamed[-1]}" in text_of(bob.get(f"/chats/{chat}/members").text)


def test_joining_and_leaving_a_channel_in_a_loop_is_refused_after_the_send_budget(server, people):
    alice, mallory = people("alice"), people("mallory")
    chat = alice.create_chat("Open to all", [])
    set_public(server, chat)
    started = time.monotonic()

    joins = []
    for _ in range(SEND_BUDGET + 5):
        joins.append(mallory.post(f"/chats/{chat}/join"))
        if joins[-1].status == 429:
            break
        assert mallory.post(f"/chats/{chat}/leave").status == 302

    assert joins[-1].status == 429
    assert re.search(r"You're joining channels too fast: every join is a message to everyone in the channel\. "
                     r"Wait \d+ seconds? and try again\. Nothing was changed\.", text_of(joins[-1].text))
    assert SEND_BUDGET <= len(joins) - 1 <= most_in(SEND_BUDGET, SEND_WINDOW, started)
    assert sum("joined" in body for body in message_texts(alice, chat)) == len(joins) - 1


def message_texts(person: Person, chat: int) -> list[str]:
    return [m.text for m in parse(person.get(f"/chats/{chat}?before=2147483647").text).find_all("article")]


# ----- usernames ---------------------------------------------------------------------------------------

def test_a_hundred_unknown_names_are_not_listed_and_trying_more_is_throttled(people):
    mallory, bob, carol, dave = people("mallory"), people("bob"), people("carol"), people("dave")
    exist = [bob.username, carol.username, dave.username]
    guesses = [unique_name("nobody") for _ in range(LOOKUPS_PER_HOUR // 2)]

    mixed = mallory.post("/chats", {"name": "Probe", "members": " ".join(exist + guesses[3:])})
    none_exist = htmx_post(mallory, "/chats", {"name": "Probe", "members": " ".join(guesses)})
    few = mallory.post("/chats", {"name": "Probe", "members": " ".join(guesses[:3])})

    assert mixed.status == none_exist.status == few.status == 422
    doubt = ("Couldn't start the chat: check the usernames — one or more of the {} that aren't people you can find "
             "don't match anyone you can add. Nothing was changed.")
    assert form_error(mixed.text) == doubt.format(97)  # the people she may find (a member: all) are not doubted
    assert form_error(none_exist.text) == doubt.format(100)
    for name in exist + guesses:
        assert name not in form_error(mixed.text)
    # Each unknown name cost a lookup: the budget of an hour is spent, at any door that looks names up.
    for refused in (mallory.post("/chats", {"name": "Probe", "members": " ".join(guesses)}),
                    htmx_post(mallory, "/chats", {"name": "Probe", "members": unique_name("nobody")}),
                    mallory.post("/dm", {"username": unique_name("nobody")})):
        assert refused.status == 429
        assert re.fullmatch(r"You've tried too many usernames that match no one you can find\. Wait \d+ "
                            r"minutes and try again\. Nothing was changed\.", form_error(refused.text))
    assert chats_of(mallory) == chats_of(bob) == []
    # People she may find (a member: everyone) cost no lookup: she can still start chats with them.
    assert mallory.create_chat("Still works", [dave, carol])


# ----- one user, dozens of sockets ----------------------------------------------------------------

def test_one_user_opening_dozens_of_sockets_is_refused_with_429_and_a_reason_and_others_still_connect(server, people):
    alice, bob = people("alice"), people("bob")
    tabs = [alice.open_tab(ready=False) for _ in range(SOCKETS_PER_USER)]
    tabs[-1].ready()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        connect(server.url, cookie=alice.session_cookie)
    assert refused.value.status_code == 429
    assert f"You have {SOCKETS_PER_USER} webchat tabs open already" in html.unescape(
        refused.value.resp_body.decode())
    bob.open_tab().assert_open()
    tabs[0].assert_open()


# ----- one address hammering registration or login --------------------------------------------------

def _register(person: PersonAt, username: str):
    # Each its own display name: a second "Hammer" would be refused as a lookalike of the first.
    return person.post("/register", {"username": username, "display_name": f"Hammer {username}",
                                     "password": PASSWORD})


def test_one_address_hammering_registration_is_refused_with_429_and_other_addresses_still_register(server):
    hammer = PersonAt(server.url)
    for i in range(REGISTER_LIMIT):
        if i % 2:
            assert _register(hammer, "x").status == 422  # refused attempts count too
        else:
            assert _register(hammer, unique_name("bulk")).status == 302
            hammer.cookies.clear()  # signed in: sign out by forgetting the cookie, as a script would
            hammer._csrf = None
    name = unique_name("onemore")
    refused = _register(hammer, name)
    assert refused.status == 429
    assert "Too many attempts. Try again in 60 minutes." in html.unescape(refused.text)
    assert PersonAt(server.url, name).post("/login", {"username": name, "password": PASSWORD}).status == 401

    assert _register(PersonAt(server.url), unique_name("neighbour")).status == 302


def test_one_address_failing_logins_across_many_accounts_is_refused_and_other_addresses_are_not(server, people):
    victim = people("victim")
    hammer = PersonAt(server.url)
    for _ in range(LOGIN_FAILURES_PER_ADDRESS):
        attempt = hammer.post("/login", {"username": unique_name("guess"), "password": "wrong"})
        assert attempt.status == 401
    refused = hammer.post("/login", {"username": victim.username, "password": PASSWORD})
    assert refused.status == 429 and "Too many attempts" in html.unescape(refused.text)

    assert PersonAt(server.url, victim.username).post(
        "/login", {"username": victim.username, "password": PASSWORD}).status == 302


def _sign_in(person: PersonAt, password: str = PASSWORD):
    person._csrf = None
    return person.post("/login", {"username": person.username, "password": password})


def test_someone_guessing_an_accounts_password_elsewhere_does_not_lock_its_owner_out_of_their_browser(
        server, people):
    owner, mallory = people("owner"), people("mallory")  # each browser signed in once: a device cookie
    assert owner.cookies.get("webchat_device") and mallory.cookies.get("webchat_device")
    assert owner.logout().status == 302
    guesser = PersonAt(server.url, owner.username)  # another address, no cookie of the owner's
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT):
        assert _sign_in(guesser, "wrong").status == 401
    assert _sign_in(guesser).status == 429  # locked out, the right password too

    assert _sign_in(PersonAt(server.url, owner.username, address=owner.address)).status == 429  # no cookie
    borrowed = PersonAt(server.url, owner.username)
    borrowed.cookies = {"webchat_device": mallory.cookies["webchat_device"]}  # another account's
    assert _sign_in(borrowed).status == 429
    tampered = PersonAt(server.url, owner.username)
    tampered.cookies = {"webchat_device": owner.cookies["webchat_device"][:-2] + "xx"}
    assert _sign_in(tampered).status == 429

    assert _sign_in(owner).status == 302  # the owner's own browser, cookie and all
    assert owner.get("/").status == 200


def test_a_known_browser_guessing_wrong_is_limited_on_its_own_and_a_password_change_forgets_it(server, people):
    owner = people("owner")
    old_cookie = owner.cookies["webchat_device"]
    assert owner.change_password("a-new-password-123").status == 302  # this browser is given a new one
    assert owner.cookies["webchat_device"] != old_cookie
    owner.logout()
    before = PersonAt(server.url, owner.username)
    before.cookies = {"webchat_device": old_cookie}  # a copy from before the change
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT):
        assert _sign_in(before, "wrong").status == 401
    assert _sign_in(before, "a-new-password-123").status == 429  # it counted as any browser: account locked

    assert _sign_in(owner, "a-new-password-123").status == 302  # the browser that changed it
    owner.logout()
    for _ in range(LOGIN_FAILURES_PER_ACCOUNT):
        assert _sign_in(owner, "wrong").status == 401
    refused = _sign_in(owner, "a-new-password-123")  # its own limit: five failures, then a wait
    assert refused.status == 429 and "Too many attempts" in html.unescape(refused.text)


# ----- the same limits across hosts, in Redis ------------------------------------------------------

@contextlib.contextmanager
def database_with_ids_from(offset: int):
    """A migrated database whose user and chat ids start after offset: Redis keys and channels are
    named by id, and the machine's Redis may be shared with other runs whose ids also start at 1."""
    from flask_migrate import upgrade

    from webchat import create_app
    from webchat.extensions import db
    from webchat.models import Chat, User

    base = os.environ.get("WEBCHAT_TEST_DATABASE_URL")
    with contextlib.ExitStack() as stack:
        if base:
            url = stack.enter_context(services.postgres_database(base, "throttling"))
        else:
            url = f"sqlite:///{_TMP / f'throttling-redis-{uuid.uuid4().hex[:6]}.db'}"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "test", "REDIS_URL": None})
        with app.app_context():
            upgrade()
            if db.engine.dialect.name == "postgresql":
                for table in (User.__tablename__, Chat.__tablename__):
                    db.session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), {offset})"))
            else:
                placeholder = User(id=offset, username=f"placeholder{offset}", display_name="Placeholder")
                placeholder.set_password(uuid.uuid4().hex)
                db.session.add_all([placeholder, Chat(id=offset, kind="group", name="Placeholder")])
            db.session.commit()
            db.engine.dispose()
        yield url


def test_with_redis_two_hosts_count_one_registration_limit_per_address_and_one_send_budget_per_user():
    import redis

    problem = services.redis_reachable(REDIS_URL)
    if problem:
        services.unavailable(f"Redis at {REDIS_URL} is not reachable: {problem}")
    env = {**SHIPPED, "REDIS_URL": REDIS_URL, "WEBCHAT_REGISTER_LIMIT": "4 per hour"}
    offset = random.randrange(1, 2000) * 1_000_000
    client = redis.Redis.from_url(REDIS_URL)
    hammer_address = random_loopback()
    try:
        with database_with_ids_from(offset) as url, \
                services.LiveServer(url, _TMP, extra_env={**env, **services.SOCKET_FIRST_ENV}) as host_a, \
                services.LiveServer(url, _TMP, extra_env={**env, **services.SOCKET_FIRST_ENV}) as host_b:
            # Registration: 4 an hour from one address, wherever it lands.
            for host in (host_a, host_a, host_b, host_b):
                assert _register(PersonAt(host.url, address=hammer_address), unique_name("shared")).status == 302
            assert _register(PersonAt(host_a.url, address=hammer_address), unique_name("fifth")).status == 429
            assert client.keys(f"LIMITS:*{hammer_address}*"), "the registration counter is not in Redis"

            # Sending: one budget for alice, whether her messages reach host A's socket or host B's HTTP.
            alice = PersonAt.register(host_a.url, "alice")
            chat = alice.create_chat("Across hosts")
            before = alice.stored_ids(chat)
            alice_on_b = PersonAt(host_b.url, alice.username)
            alice_on_b.cookies = dict(alice.cookies)  # the same browser: one secret, one database
            tab = alice.open_tab()
            client_ids = [tab.send(chat, f"via A {i}") for i in range(SEND_BUDGET // 2)]
            assert set(answers_to(tab, client_ids, timeout=10).values()) == {"sent"}
            for i in range(SEND_BUDGET // 2):
                alice_on_b.send(chat, f"via B {i}")
            refused = alice_on_b.post(f"/chats/{chat}/messages", {"body": "one too many", "client_id": new_client_id()})
            assert refused.status == 429 and TOO_FAST in html.unescape(refused.text)
            client_id = tab.send(chat, "one too many, on A")
            assert TOO_FAST in answers_to(tab, [client_id], timeout=5)[client_id]
            assert len(alice.stored_ids(chat)) == len(before) + SEND_BUDGET

            engine = create_engine(url)
            with engine.connect() as conn:
                alice_id = conn.scalar(select(text("id")).select_from(text("users")).where(
                    text("username = :name")).params(name=alice.username))
            engine.dispose()
            ttl = client.pttl(f"webchat:budget:send:{alice_id}")
            assert 0 < ttl <= SEND_WINDOW * 1000, "the send budget is not in Redis with its expiry"
            tab.close()
            alice.close_tabs()
            alice_on_b.close_tabs()
    finally:
        for key in client.keys(f"LIMITS:*{hammer_address}*"):
            client.delete(key)
        client.close()


# ----- one socket asking for the whole chat again and again ------------------------------------------

@pytest.fixture(scope="module")
def paced_server():
    """The shipped socket pace, with the send budget raised so the test can fill a chat quickly."""
    with services.module_server("paced", _TMP, extra_env={"WEBCHAT_SOCKET_FRAMES_PER_SECOND": "20"}) as live:
        yield live


def test_a_socket_asking_for_a_long_chat_again_and_again_is_served_slowly_and_the_worker_serves_others(
        paced_server):
    alice, mallory = Person.register(paced_server.url, "alice"), Person.register(paced_server.url, "mallory")
    carol, dave = Person.register(paced_server.url, "carol"), Person.register(paced_server.url, "dave")
    chat, elsewhere = alice.create_chat("Long", [mallory]), carol.create_chat("Elsewhere", [dave])
    alice.send_many(chat, [f"history {i}" for i in range(1000)])
    (worker,) = server_worker_pids(paced_server.process.pid)
    flooder, dave_tab = mallory.open_tab(), dave.open_tab()
    replays = Reader(flooder, count_if=lambda frame: "history 0<" in frame)  # one per full replay
    try:
        for _ in range(300):  # each asks for all 1,000 messages again
            flooder.view(chat, after=0)
        for i in range(5):
            dave_tab.wait_for_message(carol.send(elsewhere, f"meanwhile {i}"), timeout=3)
            time.sleep(0.5)
    finally:
        replays.stop()
    assert server_worker_pids(paced_server.process.pid) == [worker], "the worker was restarted"
    # The burst (6 pages) and 2 pages a second since: a handful of full replays, not 300.
    print(f"\n300 requests for the whole chat: {replays.counts} served while others were")
    assert 1 <= replays.counts < 20
    for person in (alice, mallory, carol, dave):
        person.close_tabs()


# ----- what a person sees ----------------------------------------------------------------------------

@pytest.mark.browser
def test_in_chromium_a_throttled_send_says_why_and_keeps_the_text_with_and_without_javascript(
        chromium, server, page_errors):
    page_errors.allow(r"Failed to load resource: .* 429", "the sends this test makes too fast are refused")
    people = BrowserPeople(chromium, server.url)
    try:
        alice = people()
        open_shared_chat(alice)
        # Alice's page without JavaScript is ready before she spends her budget: the post below
        # must land within the same send window, however slow a busy machine makes logging in.
        plain = people.contexts[0].browser.new_context(base_url=server.url, java_script_enabled=False)
        people.contexts.append(plain)
        page = plain.new_page()
        page.goto("/login")
        page.fill("input[name=username]", alice.username)
        page.fill("input[name=password]", "password123")
        page.click("button[type=submit]")
        page.goto(alice.url)
        page.fill("#composer textarea", "sent without javascript")

        for i in range(SEND_BUDGET):
            send(alice, f"quick {i}")
        expect(alice.locator("#messages .msg", has_text="quick ")).to_have_count(SEND_BUDGET)
        send(alice, "one too many")
        failed = alice.locator(".pending--failed")
        expect(failed).to_contain_text(TOO_FAST)
        expect(failed.locator(".pending-body")).to_have_text("one too many")

        with page.expect_response(lambda r: r.request.method == "POST") as posted:
            page.click("#composer button[type=submit]")
        assert posted.value.status == 429
        expect(page.locator("#composer .form-error")).to_contain_text(TOO_FAST)
        expect(page.locator("#composer textarea")).to_have_value("sent without javascript")
        expect(page.locator("#messages .msg", has_text="sent without javascript")).to_have_count(0)
    finally:
        people.close()
