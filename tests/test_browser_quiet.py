"""Live updates for chats a page is not showing, in Chromium: every frame reaches every member's
every tab (the same bytes for all), and a tab on the dashboard or on another chat takes from it
what it shows — the chat list's order and previews, the unread and "@" badges, the tab title —
without a single console error, also across a cut socket.

The module's own server polls every 120 s while the socket is up, so what changes in a test came
over the socket (or, while it is cut, by polling every 2 s).
"""
import re
import time
import uuid

import pytest
from playwright.sync_api import expect

from .support import pages
from .support.browser import SocketCut, open_shared_chat, send
from .support.page_errors import OUTAGE_NOISE

pytestmark = pytest.mark.browser


def message(page, text):
    return page.locator("#messages > .msg", has_text=text)


def shown(page, text):
    expect(message(page, text)).to_have_count(1)
    expect(page.locator(".pending")).to_have_count(0)


def edit(page, old_text, new_text):
    item = message(page, old_text)
    item.hover()
    item.locator(".msg-action--edit").click()
    box = item.locator(".msg-editor textarea")
    box.fill(new_text)
    box.press("Enter")
    expect(message(page, new_text)).to_have_count(1)


def delete(page, text):
    page.once("dialog", lambda dialog: dialog.accept())
    item = message(page, text)
    item.hover()
    item.locator(".msg-action--delete").click()
    expect(message(page, text)).to_have_count(0)


def react(page, text, emoji):
    item = message(page, text)
    item.hover()
    item.locator(".reaction-picker > summary").click()
    item.locator(f".reaction-quick button[value='{emoji}']").click()
    expect(item.locator(f".reaction[data-emoji='{emoji}']")).to_have_count(1)


def post_over_http(page, chat_id: int, body: str) -> None:
    """A message sent from another device of the page's user (a plain form post)."""
    token = page.input_value("#composer input[name=csrf_token]")
    assert page.request.post(f"/chats/{chat_id}/messages", form={
        "body": body, "client_id": str(uuid.uuid4()), "csrf_token": token}).ok


def counts_in_title(page) -> str:
    """The unread counts the tab's title starts with ("(2, @1) …"), or ""."""
    return re.match(r"(\([^)]*\) )?", page.title()).group(0)


def what_a_fresh_load_shows(page):
    """The chat list entries and the title of a new tab of the page's user on the dashboard."""
    fresh = page.context.new_page()
    try:
        fresh.goto("/")
        fresh.wait_for_function("document.readyState === 'complete'")
        return pages.chat_list(fresh.content()), counts_in_title(fresh)
    finally:
        fresh.close()


def expect_as_fresh(*tabs, timeout=10.0) -> None:
    """Each tab's chat list (order, previews, badges) and title become what a fresh load shows."""
    deadline = time.monotonic() + timeout
    while True:
        truth = what_a_fresh_load_shows(tabs[0])
        shown_now = [(pages.chat_list(tab.content()), counts_in_title(tab)) for tab in tabs]
        if all(shown_tab == truth for shown_tab in shown_now):
            return
        assert time.monotonic() < deadline, f"the tabs show {shown_now}, a fresh load {truth}"
        tabs[0].wait_for_timeout(200)


def test_tabs_on_the_dashboard_and_another_chat_follow_a_chat_live_without_a_console_error(person, page_errors):
    alice, bob, carol = person(), person(), person()
    here = open_shared_chat(bob, alice)  # the chat bob's chat tab shows
    alice.goto("/")
    there = open_shared_chat(alice, bob, carol)  # where everything happens
    bob.goto(f"/chats/{here}")
    dashboard = bob.context.new_page()
    dashboard.goto("/")
    dashboard.username = f"{bob.username} (dashboard)"
    dashboard_socket = SocketCut(dashboard)
    # Past the one poll a page makes 2 s after it loads: what follows reaches the tabs by socket.
    dashboard.wait_for_timeout(2_500)

    # In the chat neither of bob's tabs shows: typing, messages, a deletion, a reaction, an edit
    # of the newest message; carol's open page reads them all (receipts to every member).
    alice.locator("#composer textarea").press_sequentially("lunch")
    expect(carol.locator(f"#typing-{there}")).to_have_attribute("data-words", f"{alice.username.upper()} is typing…")
    send(alice, "lunch plans?")
    shown(alice, "lunch plans?")
    send(alice, "oops, wrong chat")
    shown(alice, "oops, wrong chat")
    delete(alice, "oops, wrong chat")
    send(alice, f"@{bob.username} pizza or sushi?")
    shown(alice, "pizza or sushi?")
    react(alice, "lunch plans?", "👍")
    edit(alice, "pizza or sushi?", f"@{bob.username} pizza or tacos?")
    expect(message(carol, "pizza or tacos?")).to_have_count(1)
    for tab in (bob, dashboard):
        expect(tab.locator(f"#chat-item-{there} .preview")).to_contain_text("pizza or tacos?")
        expect(tab.locator(f"#mentions-{there}")).to_have_text("@1")
    expect_as_fresh(dashboard, bob)
    expect(dashboard).to_have_title("(2, @1) webchat")

    # In the chat bob's chat tab shows: what the dashboard hears of it (typing, messages, a read).
    bob.locator("#composer textarea").press_sequentially("back")
    send(bob, "back here")
    shown(bob, "back here")
    post_over_http(alice, here, "from alice's phone")
    shown(bob, "from alice's phone")
    expect_as_fresh(dashboard, bob)
    expect(dashboard.locator("#chat-list .chat-item").first).to_have_attribute("data-chat-id", str(here))

    # The dashboard's socket is cut while the chat goes on, and comes back.
    dashboard_socket.cut()
    send(alice, "while you were away")
    shown(alice, "while you were away")
    delete(alice, "lunch plans?")
    dashboard_socket.restore()
    send(alice, "welcome back")
    shown(alice, "welcome back")
    expect(dashboard.locator(f"#chat-item-{there} .preview")).to_contain_text("welcome back")
    expect_as_fresh(dashboard, bob)

    page_errors.expect_none(alice, bob, carol, dashboard)


def test_a_page_that_loses_the_server_for_a_while_throws_no_uncaught_error_and_catches_up(person, server, page_errors):
    # The browser still says which requests failed, and htmx logs each failed request itself
    # (htmx:sendError) before any listener hears of it; what the page's scripts throw is gone.
    page_errors.allow(OUTAGE_NOISE, "the server is stopped for a while")
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    dashboard = bob.context.new_page()
    dashboard.goto("/")
    dashboard.username = f"{bob.username} (dashboard)"

    server.stop()
    for tab in (bob, dashboard):
        expect(tab.locator("#connection")).to_have_attribute("data-state", "polling")
    bob.wait_for_timeout(5_000)  # failed polls, reads and reconnects meanwhile
    server.start()
    for tab in (bob, dashboard):
        expect(tab.locator("#connection")).to_have_attribute("data-state", "live", timeout=40_000)
    send(alice, "you are back")
    shown(bob, "you are back")
    expect(dashboard.locator(f"#chat-item-{chat_id} .preview")).to_contain_text("you are back")
    page_errors.expect_none(bob, dashboard)
