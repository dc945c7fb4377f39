"""One person's share of a worker: the work budget every user's sockets and polls spend together
(core/work_budget.py), and catching up on thousands of changed messages (core/changes.py).

The module's server runs the shipped socket pace and work budget (webchat/config.py); the send
limit stays raised so the tests can fill chats quickly.
"""
import html
import os
import re
import threading
import time

import pytest
from playwright.sync_api import expect
from sqlalchemy import create_engine, text

import webchat.database  # noqa: F401  (its connect hook gives this file's SQLite engine the search index's function)

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, SocketCut, open_shared_chat
from .support.page_errors import OUTAGE_NOISE
from .support.wsclient import Flooder, Person, message_ids

# The shipped defaults (webchat/config.py, core/work_budget.py, core/changes.py).
WORK_PER_SECOND, WORK_BURST = 40, 200
MESSAGES_PER_UNIT = 20
RELOAD_AFTER, CATCH_UP_PAGE = 500, 50
SHIPPED = {"WEBCHAT_SOCKET_FRAMES_PER_SECOND": "20", "WEBCHAT_WORK_PER_SECOND": str(WORK_PER_SECOND),
           "WEBCHAT_WORK_BURST": str(WORK_BURST)}
RELOAD = re.compile(r'<template data-reload-view data-chat="(\d+)">')
CHANGES = re.compile(r"<template data-message-changes\b[^>]*>(.*?)</template>", re.S)


@pytest.fixture(scope="module")
def server():
    with services.module_server("work_budget", _TMP, extra_env=SHIPPED) as live:
        yield live


@pytest.fixture
def people(server):
    made: list[Person] = []

    def new(prefix: str = "user") -> Person:
        made.append(Person.register(server.url, prefix))
        return made[-1]
    yield new
    for person in made:
        person.close_tabs()


# ----- one user flooding views on many sockets ------------------------------------------------------

def test_one_user_flooding_views_on_many_sockets_is_served_within_one_budget_and_others_get_every_message(people):
    alice, mallory = people("alice"), people("mallory")
    carol, dave = people("carol"), people("dave")
    chat, elsewhere = alice.create_chat("Long", [mallory]), carol.create_chat("Elsewhere", [dave])
    alice.send_many(chat, [f"history {i}" for i in range(130)])
    dave_tab = dave.open_tab()
    dave_tab.view(elsewhere)

    view_all = {"type": "view", "chat": chat, "after": 0}
    tabs = [mallory.open_tab() for _ in range(20)]
    started = time.monotonic()
    # A replay served is one whose last message arrived (it is sent in steps, each paid as it goes).
    flooders = [Flooder(tab, view_all, lambda frame: "history 129<" in frame) for tab in tabs]
    try:
        time.sleep(1)  # the flood is on
        sent = [carol.send(elsewhere, f"meanwhile {i}") for i in range(10)]
        for message_id in sent:  # dave gets every message while mallory floods
            dave_tab.wait_for_message(message_id, timeout=10)
        assert dave.get(f"/chats/{elsewhere}/messages?after={sent[0]}").status == 200
        # mallory's own polls wait their turn: 429, when to come back, and why. (Her sockets pay
        # as they go, so the budget may hold a unit for an instant: a few polls in a row meet it spent.)
        polls = [mallory.get(f"/chats/{chat}/messages?after=0", headers={"HX-Request": "true"})
                 for _ in range(5)]
        refused = next((poll for poll in polls if poll.status != 200), polls[0])
        assert refused.status == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "You're asking webchat for a lot at once" in html.unescape(refused.text)
        time.sleep(max(0.0, 6 - (time.monotonic() - started)))
    finally:
        replays = sum(f.stop() for f in flooders)
    elapsed = time.monotonic() - started
    # Every full replay costs at least 1 frame + 130 messages / 20: all of mallory's sockets
    # together get no more than her budget allows in the time (the burst, then 40 units a second).
    allowed = (WORK_BURST + WORK_PER_SECOND * elapsed) / (1 + 130 / MESSAGES_PER_UNIT)
    print(f"\n20 sockets flooding full replays for {elapsed:.1f} s: {replays} served (budget: {allowed:.0f})")
    assert 1 <= replays <= allowed


# ----- catching up on thousands of changed messages --------------------------------------------------

def change_every_message(server, chat_id: int) -> list[int]:
    """Edit every message of the chat in the database itself, as if each had been edited (its change
    number is its id); the change numbers, in order."""
    engine = create_engine(server.env["DATABASE_URL"])
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE messages SET change_seq = id, body = 'edited ' || id, "
                              "html = '<p>edited ' || id || '</p>', edited_at = CURRENT_TIMESTAMP "
                              "WHERE chat_id = :chat AND kind = 'user'"), {"chat": chat_id})
            conn.execute(text("UPDATE chats SET last_change_seq = (SELECT max(change_seq) FROM messages "
                              "WHERE chat_id = :chat) WHERE id = :chat"), {"chat": chat_id})
            return list(conn.scalars(text("SELECT change_seq FROM messages WHERE chat_id = :chat AND kind = 'user' "
                                          "ORDER BY change_seq"), {"chat": chat_id}))
    finally:
        engine.dispose()


def wait_for_read_to_the_newest(server, chat_id: int, username: str, timeout: float = 10) -> None:
    engine = create_engine(server.env["DATABASE_URL"])
    try:
        deadline = time.monotonic() + timeout
        while True:
            with engine.connect() as conn:
                behind = conn.scalar(text(
                    "SELECT c.last_message_id - m.last_read_message_id FROM memberships m "
                    "JOIN chats c ON c.id = m.chat_id JOIN users u ON u.id = m.user_id "
                    "WHERE m.chat_id = :chat AND u.username = :username"), {"chat": chat_id, "username": username})
            if behind == 0:
                return
            assert time.monotonic() < deadline, f"{username} is still {behind} messages behind in reading"
            time.sleep(0.1)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def busy_chat(server):
    """A chat of 600 messages, every one edited since a page loaded it (change cursor 0)."""
    alice, bob = Person.register(server.url, "alice"), Person.register(server.url, "bob")
    chat = alice.create_chat("Busy", [bob])
    alice.send_many(chat, [f"message {i}" for i in range(600)])
    return alice, bob, chat, change_every_message(server, chat)


def test_a_page_thousands_of_changes_behind_is_told_to_reload_its_view_instead_of_sent_each_one(busy_chat):
    alice, bob, chat, change_numbers = busy_chat
    assert len(change_numbers) > RELOAD_AFTER
    newest = alice.stored_ids(chat)[-1]  # read by alice: bob's budget is for what is tested
    tab = bob.open_tab()
    tab.send_json({"type": "view", "chat": chat, "after": newest, "changes": 0})
    frames = tab.collect_until(lambda frame: '<nav id="chat-list"' in frame, timeout=10)
    assert [int(c) for f in frames for c in RELOAD.findall(f)] == [chat]
    assert not [f for f in frames if CHANGES.search(f)], "changed messages were sent one by one"

    polled = bob.get(f"/chats/{chat}/messages?after={newest}&changes=0", headers={"HX-Request": "true"})
    assert polled.status == 200
    assert RELOAD.findall(polled.text) == [str(chat)] and not CHANGES.search(polled.text)


def test_a_page_a_hundred_changes_behind_gets_them_all_in_pages_of_fifty(busy_chat):
    alice, bob, chat, change_numbers = busy_chat
    newest = alice.stored_ids(chat)[-1]  # read by alice: bob's budget is for what is tested
    cursor = change_numbers[-101]
    tab = bob.open_tab()
    tab.send_json({"type": "view", "chat": chat, "after": newest, "changes": cursor})
    frames = tab.collect_until(lambda frame: '<nav id="chat-list"' in frame, timeout=10)
    pages = [message_ids(m.group(1)) for f in frames for m in CHANGES.finditer(f)]
    assert [len(p) for p in pages] == [CATCH_UP_PAGE, CATCH_UP_PAGE]
    assert [i for p in pages for i in p] == change_numbers[-100:]  # change number = id here
    assert not any(RELOAD.search(f) for f in frames)

    got = []
    while True:  # over HTTP: a page at a time, each answer saying whether more are left
        polled = bob.get(f"/chats/{chat}/messages?after={newest}&changes={cursor}", headers={"HX-Request": "true"})
        assert polled.status == 200
        page = [m for c in CHANGES.finditer(polled.text) for m in message_ids(c.group(1))]
        assert len(page) <= CATCH_UP_PAGE
        got += page
        if polled.headers.get("HX-Trigger") != "messages-behind":
            break
        cursor = int(re.search(r'data-changes="(\d+)"', polled.text).group(1))
    assert got == change_numbers[-100:]


@pytest.mark.browser
def test_in_chromium_a_page_far_behind_on_changes_reloads_its_view_and_shows_what_a_fresh_load_shows(
        chromium, server, page_errors):
    page_errors.allow(OUTAGE_NOISE, "the server is stopped while every message is edited")
    people = BrowserPeople(chromium, server.url)
    try:
        alice, bob = people(), people()
        chat_id = open_shared_chat(alice, bob)
        token = alice.input_value("#composer input[name=csrf_token]")
        for i in range(RELOAD_AFTER + 20):
            assert alice.request.post(f"/chats/{chat_id}/messages", form={
                "body": f"message {i}", "client_id": f"00000000-0000-4000-8000-{i:012d}", "csrf_token": token}).ok
        # 520 messages in a burst: a loaded machine's Chromium takes its time laying them all out.
        expect(bob.locator("#messages .msg", has_text=f"message {RELOAD_AFTER + 19}")).to_have_count(1, timeout=30_000)
        # Bob has read it all before the outage, so his reloaded view and a fresh load both open
        # at the newest page (a read still on its way would make the two open at different places).
        wait_for_read_to_the_newest(server, chat_id, bob.username)
        bob.evaluate("window.notReloaded = true")
        bob.fill("#composer textarea", "a draft bob is still writing")

        server.stop()  # every page loses its socket while every message is edited
        change_every_message(server, chat_id)
        server.start()

        expect(bob.locator("#connection")).to_have_attribute("data-state", "live", timeout=30_000)
        expect(bob.locator("#messages .msg", has_text="edited")).not_to_have_count(0, timeout=15_000)
        fresh = bob.context.new_page()
        fresh.goto(f"/chats/{chat_id}")

        def shown(page):
            return page.eval_on_selector_all("#messages > .msg", "els => els.map(e => [e.id, e.dataset.rev, "
                                                                 "e.querySelector('.msg-body').textContent.trim()])")
        expect(bob.locator("#messages > .msg")).to_have_count(len(shown(fresh)))
        assert shown(bob) == shown(fresh)
        assert bob.get_attribute("#messages", "data-changes") == fresh.get_attribute("#messages", "data-changes")
        assert bob.evaluate("window.notReloaded") is True  # the view, not the whole page
        expect(bob.locator("#composer textarea")).to_have_value("a draft bob is still writing")
        page_errors.expect_none(bob)
    finally:
        people.close()


def test_with_redis_two_workers_spend_one_budget_for_a_user_and_other_users_are_untouched():
    import random

    from webchat.core.work_budget import SETTLE_UNITS, WorkBudget
    from webchat.realtime.redis_hub import RedisLiveState

    url = os.environ.get("WEBCHAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    problem = services.redis_reachable(url)
    if problem:
        services.unavailable(f"Redis at {url} is not reachable: {problem}")
    first, second = (WorkBudget(RedisLiveState(url), WORK_PER_SECOND, WORK_BURST) for _ in range(2))
    user, other = random.randrange(10**9, 10**10), random.randrange(10**10, 10**11)
    # Half the burst in each worker: within either one's own count, but the whole budget together.
    for _ in range(WORK_BURST // 2 // SETTLE_UNITS):
        assert first.charge(user, SETTLE_UNITS) == 0 and second.charge(user, SETTLE_UNITS) == 0
    assert first.charge(user, SETTLE_UNITS) > 0 and second.charge(user, SETTLE_UNITS) > 0
    assert first.wait_before(user, 1) > 0
    assert second.charge(other, SETTLE_UNITS) == 0
    ttl = first.shared.redis.pttl(f"webchat:work:user:{user}")
    assert 0 < ttl <= 1000 * (WORK_BURST + 2 * SETTLE_UNITS) / WORK_PER_SECOND + 1


@pytest.mark.browser
def test_in_chromium_a_polling_page_told_429_waits_and_asks_again_and_shows_no_error(chromium, server, page_errors):
    page_errors.allow(r"Failed to load resource: .* 429", "the polls this test makes too often are refused")
    people = BrowserPeople(chromium, server.url)
    try:
        alice, bob = people(), people()
        chat_id = open_shared_chat(alice, bob)
        cut = SocketCut(bob)
        cut.cut()
        expect(bob.locator("#connection")).to_have_attribute("data-state", "polling", timeout=15_000)
        refused = []
        bob.on("response", lambda r: refused.append(r.url) if r.status == 429 else None)
        # bob's own scripts, elsewhere, spend his budget: his page's polls meet 429 meanwhile. Four
        # at once: one alone, on a slow machine, asked less than the budget gives a second.
        stop = threading.Event()

        def spend(script):
            while not stop.is_set():
                script.get(f"/chats/{chat_id}/messages?after=0")
        spenders = [threading.Thread(target=spend, args=(Person(server.url, bob.username).login(),), daemon=True)
                    for _ in range(4)]
        for spender in spenders:
            spender.start()
        try:
            deadline = time.monotonic() + 30
            while not refused and time.monotonic() < deadline:
                bob.wait_for_timeout(200)
            assert refused, "the page's poll was never refused"
            assert alice.request.post(f"/chats/{chat_id}/messages", form={
                "body": "after the wait", "client_id": "00000000-0000-4000-8000-000000000001",
                "csrf_token": alice.input_value("#composer input[name=csrf_token]")}).ok
        finally:
            stop.set()
            for spender in spenders:
                spender.join(10)
        expect(bob.locator("#messages .msg", has_text="after the wait")).to_have_count(1, timeout=20_000)
        expect(bob.locator("#flash .flash--error")).to_have_count(0)
        expect(bob.locator("#messages .flash")).to_have_count(0)
    finally:
        people.close()
