"""Following threads in a real browser: one person with two tabs follows a thread in one and
watches the Threads view in the other — the view lists it, a reply makes it unread in both tabs
(and notifies, naming the thread), reading it in one tab clears it in the other, and unfollowing
flips the button in every tab and takes the thread off the view; the chat's notification level
holds for thread notifications.

This module runs its own server whose pages poll only every 120 s while the socket is up, so
whatever appears within the test came over the socket.
"""
import uuid

import pytest
from playwright.sync_api import expect

from .support.browser import CSRF, BrowserPeople, expect_live, open_shared_chat, post_messages

pytestmark = pytest.mark.browser


@pytest.fixture
def person(chromium, server):
    made = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    yield made
    made.close()


def reply(page, chat_id: int, parent: int, text: str) -> int:
    """Reply in the thread as the page's user, as a page without JavaScript does."""
    token = CSRF.search(page.context.request.get("/settings").text()).group(1)
    response = page.context.request.post(f"/chats/{chat_id}/threads/{parent}/replies", max_redirects=0, form={
        "csrf_token": token, "body": text, "client_id": str(uuid.uuid4())})
    assert response.status == 302, response.text()[:300]
    return int(response.headers["location"].rsplit("#t-", 1)[1])


def test_follow_unfollow_and_the_threads_views_unread_state_across_two_tabs(person):
    alice = person("alice", permissions=["notifications"])
    bob = person("bob")
    chat_id = open_shared_chat(alice, bob)
    (parent,) = post_messages(bob, chat_id, ["Who takes the release notes?"])

    watching = alice  # the Threads view
    expect(alice.locator(f"#m-{parent}")).to_be_visible()  # read: she has the chat open
    unread = alice.locator(f"#chat-item-{chat_id} .badge")
    expect(unread).to_have_attribute("data-count", "0")
    thread = alice.context.new_page()  # a second tab of alice's
    watching.click("a.threads-link")
    expect(watching.locator("#threads-heading")).to_be_visible()
    expect(watching.locator("#threads-list .thread-item")).to_have_count(0)
    thread.goto(f"/chats/{chat_id}/threads/{parent}")
    expect_live(thread)

    follow = thread.locator(f"#follow-{parent} button")
    expect(follow).to_have_text("Follow thread")
    follow.click()
    expect(follow).to_have_text("Unfollow thread")
    item = watching.locator(f"#thread-item-{parent}")
    expect(item).to_have_attribute("data-unread", "0")  # followed by choice: read up to now
    expect(item.locator(".thread-item-parent")).to_contain_text("Who takes the release notes?")

    # Away from the thread, a reply makes it unread in both tabs, and notifies naming it.
    thread.goto(f"/chats/{chat_id}")
    expect_live(thread)
    reply(bob, chat_id, parent, "Not me this time")
    for tab in (watching, thread):
        expect(tab.locator("#threads-badge")).to_have_attribute("data-count", "1")
        expect(tab.locator("#threads-badge .badge")).to_have_text("1")
    expect(item).to_have_attribute("data-unread", "1")
    expect(item.locator(".thread-item-unread")).to_have_text("1 new")
    # The channel's own count is not touched by a reply kept in its thread.
    expect(unread).to_have_attribute("data-count", "0")
    watching.wait_for_function("() => (window.webchat.lastNotification || {}).body === 'Not me this time'")
    note = watching.evaluate("window.webchat.lastNotification")
    assert note["threadId"] == parent and note["title"].startswith(bob.display_name + " replied in a thread in ")

    # Reading it in one tab clears it in the other.
    thread.goto(f"/chats/{chat_id}/threads/{parent}")
    for tab in (watching, thread):
        expect(tab.locator("#threads-badge")).to_have_attribute("data-count", "0")
    expect(item).to_have_attribute("data-unread", "0")

    # Unfollowing in one tab flips the button in the other and takes the thread off the view.
    watching.goto(f"/chats/{chat_id}/threads/{parent}")
    expect_live(watching)
    watching_button = watching.locator(f"#follow-{parent} button")
    expect(watching_button).to_have_text("Unfollow thread")
    thread.locator(f"#follow-{parent} button").click()
    expect(watching_button).to_have_text("Follow thread")
    thread.goto("/threads")
    expect_live(thread)
    expect(thread.locator("#threads-list .thread-item")).to_have_count(0)
    # And following again from the other tab's (live-swapped) button works too.
    watching_button.click()
    expect(thread.locator(f"#thread-item-{parent}")).to_have_attribute("data-unread", "0")

    # The chat's notification level holds in threads too: with "mentions", only a reply naming her.
    token = CSRF.search(watching.context.request.get("/settings").text()).group(1)
    assert watching.request.post(f"/chats/{chat_id}/notifications", form={"notify": "mentions", "csrf_token": token}).ok
    watching.goto("/threads")
    expect_live(watching)
    expect(watching.locator(f"#chat-item-{chat_id}")).to_have_attribute("data-notify", "mentions")
    watching.evaluate("""() => {
      window.notified = [];
      document.addEventListener("webchat:notified", (e) => window.notified.push(e.detail.reason));
    }""")
    reply(bob, chat_id, parent, "no name here")
    expect(watching.locator("#threads-badge")).to_have_attribute("data-count", "1")
    reply(bob, chat_id, parent, f"@{alice.username} over to you")
    expect(watching.locator("#threads-badge")).to_have_attribute("data-mentions", "1")
    # The server notifies in the order of the replies: the first said nothing.
    watching.wait_for_function("body => (window.webchat.lastNotification || {}).body === body",
                               arg=f"@{alice.username} over to you")
    assert watching.evaluate("window.notified") == ["mention"]


def test_a_followed_threads_reply_does_not_notify_while_its_pane_is_open_and_does_once_it_is_closed(person):
    alice = person("alice", permissions=["notifications"])
    bob = person("bob")
    chat_id = open_shared_chat(alice, bob)
    (parent,) = post_messages(alice, chat_id, ["Release on Friday?"])
    reply(bob, chat_id, parent, "Yes")  # alice follows her thread from its first reply
    alice.wait_for_function("() => (window.webchat.lastNotification || {}).body === 'Yes'")  # not in view
    alice.goto(f"/chats/{chat_id}/threads/{parent}")  # the pane open, in view
    expect_live(alice)
    alice.evaluate("""() => {
      window.notified = [];
      document.addEventListener("webchat:notified", (e) => window.notified.push(e.detail.chatId));
    }""")

    reply(bob, chat_id, parent, "seen in the pane")
    expect(alice.locator("#thread-pane .msg", has_text="seen in the pane")).to_have_count(1)
    alice.locator("#thread-pane .thread-close").click()  # the channel stays: its replies are not shown
    expect(alice.locator("#thread-pane[data-thread]")).to_have_count(0)
    expect_live(alice)
    reply(bob, chat_id, parent, "after the pane closed")

    # The server notifies in the order of the replies: the one in view said nothing.
    alice.wait_for_function("() => (window.webchat.lastNotification || {}).body === 'after the pane closed'")
    assert alice.evaluate("window.notified") == [chat_id]
