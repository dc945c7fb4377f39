"""Live delivery in a real browser: the socket, reconnect and catch-up, and polling when the socket is gone.

This module runs its own server whose pages poll only every 120 s while the socket is up, so
anything that arrives within a test arrived over the socket (or by catch-up after reconnect),
and every 2 s while it is down, so the polling fallback shows quickly.
"""
import time
import uuid

import pytest
from playwright.sync_api import expect

from .support.browser import open_shared_chat, send, shown_ids
from .support.page_errors import OUTAGE_NOISE

pytestmark = pytest.mark.browser



def test_two_people_see_each_others_messages_over_the_socket_at_once(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    for sender, receiver, text in ((alice, bob, "hello bob"), (bob, alice, "hi alice")):
        started = time.monotonic()
        send(sender, text)
        expect(receiver.locator("#messages .msg", has_text=text)).to_have_count(1, timeout=5_000)
        print(f"{text!r} shown to the other page after {1000 * (time.monotonic() - started):.0f} ms")
        expect(sender.locator("#messages .msg", has_text=text)).to_have_count(1)
        expect(sender.locator(".pending")).to_have_count(0)
        expect(sender.locator("#composer textarea")).to_have_value("")


def test_pages_catch_up_after_a_server_restart_without_reload_duplicates_or_lost_drafts(person, server, page_errors):
    page_errors.allow(OUTAGE_NOISE, "the server is restarted")
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    send(alice, "before the restart")
    expect(bob.locator("#messages .msg", has_text="before the restart")).to_have_count(1)
    for page in (alice, bob):
        page.evaluate("window.notReloaded = true")
    bob.fill("#composer textarea", "a draft bob is still writing")

    server.restart()
    # Sent over HTTP while the pages are still reconnecting.
    token = alice.input_value("#composer input[name=csrf_token]")
    for i in range(5):
        response = alice.request.post(f"/chats/{chat_id}/messages", form={
            "body": f"while away {i}", "client_id": str(uuid.uuid4()), "csrf_token": token})
        assert response.ok

    for page in (alice, bob):
        expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=30_000)
        for i in range(5):
            expect(page.locator("#messages .msg", has_text=f"while away {i}")).to_have_count(1)
        ids = shown_ids(page)
        assert ids == sorted(set(ids)), "messages shown twice or out of order"
        assert page.evaluate("window.notReloaded") is True
    expect(bob.locator("#composer textarea")).to_have_value("a draft bob is still writing")


def test_when_the_socket_is_cut_and_refused_the_page_keeps_receiving_by_polling(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    bob_socket = {}

    # Playwright runs this handler on its dispatcher: it may only start things (connect_to_server
    # sends without waiting); closing from here would wait on itself. Later sockets get no
    # server at all: they open and never answer, as behind a broken proxy.
    def route(ws):
        if "first" not in bob_socket:
            bob_socket["first"] = ws
            ws.connect_to_server()

    bob.route_web_socket("**/socket", route)
    bob.goto(f"/chats/{chat_id}")
    expect(bob.locator("#connection")).to_have_attribute("data-state", "live")
    bob.fill("#composer textarea", "draft kept")
    bob_socket["first"].close(code=1011, reason="cut by the test")

    expect(bob.locator("#connection")).to_have_attribute("data-state", "polling", timeout=15_000)
    send(alice, "arrives by polling")
    expect(bob.locator("#messages .msg", has_text="arrives by polling")).to_have_count(1, timeout=10_000)
    expect(bob.locator("#connection")).to_contain_text("Polling")
    expect(bob.locator("#composer textarea")).to_have_value("draft kept")

    # Sending still works, over HTTP.
    bob.fill("#composer textarea", "bob sends by http")
    bob.keyboard.press("Enter")
    expect(alice.locator("#messages .msg", has_text="bob sends by http")).to_have_count(1)
    expect(bob.locator("#messages .msg", has_text="bob sends by http")).to_have_count(1)


def test_a_chat_someone_adds_you_to_appears_in_your_list_live(person):
    alice, bob = person(), person()
    bob.goto("/")
    expect(bob.locator("#connection")).to_have_attribute("data-state", "live")
    alice.fill("input[name=name]", "surprise room")
    alice.fill("input[name=members]", bob.username)
    alice.click("text=Create chat")
    expect(bob.locator("#chat-list", has_text="surprise room")).to_be_visible(timeout=5_000)
    # Let alice's page finish the navigation to the new chat before the test closes it.
    alice.wait_for_url("**/chats/*")
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")


def test_a_removed_member_stops_seeing_the_chat_at_once(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    alice.goto(f"/chats/{chat_id}/members")
    alice.locator(f"form[action$='/members/{bob.username}/remove'] button").click()
    expect(bob.locator("#chat-pane")).to_contain_text("no longer in this chat", timeout=5_000)
    expect(bob.locator(f"#chat-item-{chat_id}")).to_have_count(0)
    alice.goto(f"/chats/{chat_id}")
    send(alice, "after bob left")
    expect(alice.locator("#messages .msg", has_text="after bob left")).to_have_count(1)
    bob.wait_for_timeout(500)
    assert bob.locator(".msg", has_text="after bob left").count() == 0
