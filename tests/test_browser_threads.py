"""Threads in a real browser: two people converse in a thread's pane (text and a file) while a
third watches the channel, and on a phone the pane is a screen of its own.

This module runs its own server whose pages poll only every 120 s while the socket is up, so
whatever appears within a test while a page is live came over the socket.
"""
import re

import pytest
from playwright.sync_api import expect

from .support.browser import BrowserPeople, expect_live

pytestmark = pytest.mark.browser


@pytest.fixture
def person(chromium, server):
    """person() or person("bob", **context options) -> a page of a new signed-in user, live."""
    made = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    yield made
    made.close()


def create_group(owner, *others, name: str) -> int:
    owner.fill("input[name=name]", name)
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def open_chat(page, chat_id: int) -> None:
    page.goto(f"/chats/{chat_id}")
    expect_live(page)


def channel_message(page, text: str):
    return page.locator("#messages > .msg", has_text=text)


def reply_in_pane(page, text: str) -> None:
    page.fill("#thread-composer-text", text)
    page.keyboard.press("Enter")
    expect(page.locator("#thread-pane .thread-replies > .msg", has_text=text)).to_have_count(1)


def test_two_people_converse_in_a_thread_while_a_third_watches_the_channel(person):
    alice, bob, carol = person("alice"), person("bob"), person("carol")
    chat_id = create_group(alice, bob, carol, name="Release")
    for page in (bob, carol):
        open_chat(page, chat_id)
    alice.fill("#composer textarea", "Shall we ship on Friday?")
    alice.keyboard.press("Enter")
    parent = channel_message(carol, "Shall we ship on Friday?")
    expect(parent).to_be_visible()
    parent_id = parent.get_attribute("data-id")

    # Bob opens the thread from the message: the pane beside the chat, the address the thread's.
    channel_message(bob, "Shall we ship on Friday?").hover()
    channel_message(bob, "Shall we ship on Friday?").locator(".msg-action--thread").click()
    expect(bob.locator("#thread-pane .thread-parent")).to_contain_text("Shall we ship on Friday?")
    expect(bob).to_have_url(re.compile(rf"/chats/{chat_id}/threads/{parent_id}$"))
    expect(bob.locator("#messages")).to_be_visible()  # beside the chat, not instead of it
    expect(bob.locator("#thread-composer-text")).to_be_focused()
    reply_in_pane(bob, "Friday works for me")

    summary = parent.locator(".thread-summary")
    expect(summary.locator(".thread-count")).to_have_text("1 reply")
    expect(summary.locator(".thread-repliers .avatar")).to_have_count(1)

    # Alice opens it from the summary under her message; Bob sees her typing in the thread only.
    channel_message(alice, "Shall we ship on Friday?").locator(".thread-summary").click()
    expect(alice.locator("#thread-pane .thread-replies")).to_contain_text("Friday works for me")
    alice.locator("#thread-composer-text").press_sequentially("Thurs")
    expect(bob.locator(f"#typing-{chat_id}-t{parent_id} span")).to_have_count(1)
    expect(bob.locator(f"#typing-{chat_id} span")).to_have_count(0)
    alice.locator("#thread-composer-text").fill("Thursday would be safer")
    alice.keyboard.press("Enter")
    expect(bob.locator("#thread-pane .thread-replies > .msg", has_text="Thursday would be safer")).to_have_count(1)
    reply_in_pane(bob, "Thursday then")

    # Carol, in the channel, sees the count and the repliers change, and none of the replies.
    expect(summary.locator(".thread-count")).to_have_text("3 replies")
    expect(summary.locator(".thread-repliers .avatar")).to_have_count(2)
    expect(summary.locator(".thread-repliers .avatar").first).to_have_attribute("title", bob.display_name)
    for text in ("Friday works for me", "Thursday would be safer", "Thursday then"):
        expect(carol.locator("#messages .msg:visible", has_text=text)).to_have_count(0)
    # In both panes: the replies once each, in order.
    for page in (alice, bob):
        replies = page.locator("#thread-pane .thread-replies > .msg .msg-body")
        expect(replies).to_have_text(["Friday works for me", "Thursday would be safer", "Thursday then"])
    expect(carol.locator("#messages > .msg--placeholder")).to_have_count(3)  # holding their places, hidden

    # Bob edits his reply in the pane: Alice's pane shows the new text; the channel still nothing.
    item = bob.locator("#thread-pane .thread-replies > .msg", has_text="Thursday then")
    item.hover()
    item.locator(".msg-action--edit").click()
    item.locator(".msg-editor textarea").fill("Thursday it is")
    item.locator(".msg-editor textarea").press("Enter")
    edited = alice.locator("#thread-pane .thread-replies > .msg", has_text="Thursday it is")
    expect(edited.locator(".msg-edited")).to_be_visible()
    expect(carol.locator("#messages .msg:visible", has_text="Thursday it is")).to_have_count(0)

    # Bob sends a file from the pane (the chat's composer keeps none of it): Alice's pane shows it
    # live with its caption; Carol's channel, nothing.
    bob.set_input_files("#thread-composer input[type=file]", files=[
        {"name": "release-notes.txt", "mimeType": "text/plain", "buffer": b"Thursday: 1.4"}])
    expect(bob.locator("#thread-composer .attach-item")).to_contain_text("release-notes.txt")
    expect(bob.locator("#composer .attach-item")).to_have_count(0)
    bob.locator("#thread-composer-text").fill("the notes")
    bob.locator("#thread-composer-text").press("Enter")
    expect(bob.locator("#thread-composer .attach-item")).to_have_count(0)  # a fresh composer
    expect(bob.locator("#thread-composer-text")).to_have_value("")
    for page in (alice, bob):
        sent = page.locator("#thread-pane .thread-replies > .msg", has_text="the notes")
        expect(sent.locator(".attachment-name")).to_have_text("release-notes.txt")
    expect(summary.locator(".thread-count")).to_have_text("4 replies")
    expect(carol.locator("#messages .msg:visible", has_text="the notes")).to_have_count(0)
    expect(carol.locator("#messages .attachment-name")).to_have_count(0)

    # "Also send to the channel": the reply shows in Carol's channel too, marked as a reply.
    alice.fill("#thread-composer-text", "Shipping Thursday, everyone")
    alice.check("#thread-composer input[name=broadcast]")
    alice.locator("#thread-composer-text").press("Enter")
    expect(channel_message(carol, "Shipping Thursday, everyone")).to_have_class(re.compile(r"msg--reply"))
    expect(alice.locator("#thread-composer input[name=broadcast]")).not_to_be_checked()  # a fresh composer

    # Esc closes the pane, and the address is the chat's again.
    alice.locator("#thread-composer-text").press("Escape")
    expect(alice.locator("#thread-pane[data-thread]")).to_have_count(0)
    expect(alice).to_have_url(re.compile(rf"/chats/{chat_id}$"))


def test_on_a_phone_the_thread_is_a_screen_of_its_own_with_a_way_back(person):
    alice = person("alice")
    alice.set_viewport_size({"width": 380, "height": 720})
    chat_id = create_group(alice, name="Pocket")
    alice.fill("#composer textarea", "A thought to discuss")
    alice.keyboard.press("Enter")
    message = channel_message(alice, "A thought to discuss")
    expect(message).to_be_visible()
    alice.goto(f"/chats/{chat_id}/threads/{message.get_attribute('data-id')}")
    expect_live(alice)
    pane = alice.locator("#thread-pane")
    expect(pane).to_be_visible()
    box = pane.bounding_box()
    assert box["x"] <= 1 and box["width"] >= 370  # it covers the chat
    back = pane.locator(".thread-close")
    expect(back).to_be_visible()
    expect(back).to_contain_text("Back")
    back.click()
    expect(alice.locator("#thread-pane[data-thread]")).to_have_count(0)
    expect(alice).to_have_url(re.compile(rf"/chats/{chat_id}$"))
    expect(message).to_be_visible()
