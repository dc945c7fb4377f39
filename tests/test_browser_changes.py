"""Editing and deleting messages in Chromium: in place, live on the other member's page, and
after that page was cut off (its socket closed by the test) it converges to the same state.
(Catch-up of changes over a reconnected socket is tested with socket clients in test_message_changes.)"""
import pytest
from playwright.sync_api import expect

from .support.browser import SocketCut, open_shared_chat, send

pytestmark = pytest.mark.browser




def message(page, text):
    return page.locator("#messages > .msg", has_text=text)


def edit_in_place(page, old_text, new_text):
    item = message(page, old_text)
    item.hover()
    item.locator(".msg-action--edit").click()
    box = item.locator(".msg-editor textarea")
    expect(box).to_be_focused()
    box.fill(new_text)
    box.press("Enter")


def test_an_edit_shows_in_place_for_the_author_and_live_for_the_other_member(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "meet at 10")
    expect(message(bob, "meet at 10")).to_have_count(1)

    edit_in_place(alice, "meet at 10", "meet at **11**")

    for page in (alice, bob):
        edited = message(page, "meet at 11")
        expect(edited).to_have_count(1)
        expect(edited.locator("strong")).to_have_text("11")
        expect(edited.locator(".msg-edited")).to_have_text("(edited)")
        expect(message(page, "meet at 10")).to_have_count(0)
    expect(alice.locator(".msg-editor")).to_have_count(0)
    # Only the author is offered editing.
    message(bob, "meet at 11").hover()
    expect(message(bob, "meet at 11").locator(".msg-action--edit")).to_be_hidden()


def test_escape_cancels_an_edit_and_a_refused_edit_keeps_the_text_in_the_editor(person, page_errors):
    page_errors.allow(r"Failed to load resource: .* 422", "the edit this test makes is refused")
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "keep me")
    item = message(alice, "keep me")
    item.hover()
    item.locator(".msg-action--edit").click()
    item.locator(".msg-editor textarea").fill("x" * 4001)
    item.locator(".msg-editor textarea").press("Enter")
    expect(item.locator(".msg-editor .form-error")).to_contain_text("the limit is 4,000")
    expect(item.locator(".msg-editor textarea")).to_have_value("x" * 4001)

    item.locator(".msg-editor textarea").press("Escape")

    expect(alice.locator(".msg-editor")).to_have_count(0)
    expect(item.locator(".msg-body")).to_have_text("keep me")
    expect(message(bob, "keep me")).to_have_count(1)


def test_a_deleted_message_becomes_a_deleted_line_on_every_page(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "oops, wrong chat")
    expect(message(bob, "oops, wrong chat")).to_have_count(1)
    alice.on("dialog", lambda dialog: dialog.accept())

    item = message(alice, "oops, wrong chat")
    item.hover()
    item.locator(".msg-action--delete").click()

    for page in (alice, bob):
        expect(page.locator("#messages > .msg--deleted")).to_have_count(1)
        expect(page.locator("#messages > .msg--deleted")).to_contain_text("This message was deleted.")
        expect(message(page, "oops, wrong chat")).to_have_count(0)


def test_a_page_cut_off_during_edits_and_deletes_converges_by_polling(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    for text in ("one", "two", "three"):
        send(alice, text)
    expect(bob.locator("#messages > .msg--user")).to_have_count(3)
    bob_socket = SocketCut(bob)
    bob.evaluate("window.notReloaded = true")
    bob_socket.cut()  # what bob misses now can only reach him by catching up

    alice.on("dialog", lambda dialog: dialog.accept())
    edit_in_place(alice, "one", "one, reworded")
    expect(message(alice, "one, reworded")).to_have_count(1)
    item = message(alice, "two")
    item.hover()
    item.locator(".msg-action--delete").click()
    expect(alice.locator("#messages > .msg--deleted")).to_have_count(1)

    expect(message(bob, "one, reworded")).to_have_count(1, timeout=20_000)
    expect(bob.locator("#connection")).to_have_attribute("data-state", "polling")
    expect(bob.locator("#messages > .msg--deleted")).to_have_count(1)
    expect(message(bob, "two")).to_have_count(0)
    assert bob.evaluate("window.notReloaded") is True
    assert bob.inner_text("#messages").count("three") == 1
