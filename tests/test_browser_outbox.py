"""The outbox in Chromium (static/outbox.js): what a person sends while the connection is down
shows at once as "Sending…", is kept across a reload, and reaches the others once each and in
order when the connection is back; what the server refuses says so until it is deleted.

The connection is cut with context.set_offline(True), which Chromium does not apply to an open
WebSocket, so the page's socket is cut as well (support.browser.SocketCut). A reload needs the
network, so the page is reloaded online with its socket still unanswered and its sends held by the
test: the outbox can carry nothing then either.
"""
import re

import pytest
from playwright.sync_api import expect

from .support.browser import SocketCut, open_shared_chat, send, shown_ids
from .support.page_errors import OUTAGE_NOISE

pytestmark = pytest.mark.browser

SENT_OVER_HTTP = re.compile(r"/chats/\d+/messages$")
TOO_LONG = "word " * 800 + "x"  # 4001 characters; the server's limit is 4000 (MAX_MESSAGE_LENGTH)
def bodies(page, selector: str) -> list[str]:
    return page.locator(selector).evaluate_all("els => els.map(e => e.textContent.trim())")


def test_messages_sent_offline_show_at_once_survive_a_reload_and_arrive_once_each_in_order(person, page_errors):
    # While the browser is offline the page's polls cannot be made, and the browser and htmx say so.
    page_errors.allow(OUTAGE_NOISE, "the browser is held offline")
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    socket = SocketCut(alice)

    alice.context.set_offline(True)
    socket.cut()
    for text in ("one", "two", "three"):
        send(alice, text)
        expect(alice.locator("#composer textarea")).to_have_value("")
    pending = alice.locator("#messages > .pending")
    expect(pending).to_have_count(3)
    expect(pending.locator(".pending-sending")).to_have_text(["Sending…"] * 3)
    assert bodies(alice, "#messages > .pending .pending-body") == ["one", "two", "three"]
    alice.fill("#composer textarea", "a draft, not sent yet")

    # Reloaded with nothing to carry the messages: the socket unanswered, the sends held.
    held = []
    alice.route(SENT_OVER_HTTP, lambda route: held.append(route) if route.request.method == "POST"
                else route.continue_())
    alice.context.set_offline(False)
    alice.reload()
    expect(pending).to_have_count(3)
    assert bodies(alice, "#messages > .pending .pending-body") == ["one", "two", "three"]
    expect(alice.locator("#composer textarea")).to_have_value("a draft, not sent yet")
    expect(bob.locator("#messages .msg", has_text=re.compile("^(one|two|three)$"))).to_have_count(0)

    # The connection is back: the held send goes on, and the socket is answered again.
    socket.answer = True
    socket.sockets[-1].close(code=1012, reason="back")
    for route in held:
        route.continue_()
    alice.unroute(SENT_OVER_HTTP)

    for page in (bob, alice):
        for text in ("one", "two", "three"):
            expect(page.locator("#messages > .msg .msg-body", has_text=re.compile(f"^{text}$"))).to_have_count(1)
    expect(pending).to_have_count(0)
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    for page in (bob, alice):  # stored once each, in the order sent
        page.reload()
        mine = [b for b in bodies(page, "#messages > .msg .msg-body") if b in ("one", "two", "three")]
        assert mine == ["one", "two", "three"]
        ids = shown_ids(page)
        assert ids == sorted(set(ids))
    expect(pending).to_have_count(0)
    expect(alice.locator("#composer textarea")).to_have_value("a draft, not sent yet")


def test_a_message_the_server_refuses_says_not_sent_across_a_reload_until_deleted(person):
    alice = person()
    open_shared_chat(alice)
    before = alice.locator("#messages > .msg").count()

    send(alice, TOO_LONG)
    failed = alice.locator("#messages > .pending--failed")
    expect(failed.locator(".pending-error")).to_have_text(
        re.compile(r"^Not sent — That message is 4,001 characters long"))
    for action in ("Retry", "Edit", "Delete"):
        expect(failed.get_by_role("button", name=action)).to_be_visible()
    expect(failed.locator(".pending-sending")).to_be_hidden()

    alice.reload()
    expect(failed.locator(".pending-error")).to_have_text(
        re.compile(r"^Not sent — That message is 4,001 characters long"))
    expect(failed.locator(".pending-body")).to_have_text(TOO_LONG)

    failed.get_by_role("button", name="Delete").click()
    expect(alice.locator("#messages > .pending")).to_have_count(0)
    expect(alice.locator("#composer textarea")).to_have_value("")
    alice.reload()
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    expect(alice.locator("#messages > .pending")).to_have_count(0)
    expect(alice.locator("#messages > .msg")).to_have_count(before)


def test_a_second_tab_of_the_sender_sends_what_the_first_could_not_and_each_shows_it_once(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    SocketCut(alice).cut()
    held = []
    alice.route(SENT_OVER_HTTP, lambda route: held.append(route) if route.request.method == "POST"
                else route.continue_())
    for text in ("first", "second"):
        send(alice, text)
    expect(alice.locator("#messages > .pending--sending")).to_have_count(2)

    # The same person opens the chat in another tab, which can send: it shows what is waiting
    # and sends it.
    other = alice.context.new_page()
    other.goto(alice.url)
    for text in ("first", "second"):
        expect(bob.locator("#messages > .msg .msg-body", has_text=re.compile(f"^{text}$"))).to_have_count(1)
        expect(other.locator("#messages > .msg .msg-body", has_text=re.compile(f"^{text}$"))).to_have_count(1)
    expect(other.locator("#messages > .pending")).to_have_count(0)

    # The first tab's own sends go through after all: stored once, shown once.
    for route in held:
        route.continue_()
    alice.unroute(SENT_OVER_HTTP)
    for text in ("first", "second"):
        expect(alice.locator("#messages > .msg .msg-body", has_text=re.compile(f"^{text}$"))).to_have_count(1)
    expect(alice.locator("#messages > .pending")).to_have_count(0)
    bob.reload()
    assert [b for b in bodies(bob, "#messages > .msg .msg-body") if b in ("first", "second")] == ["first", "second"]
