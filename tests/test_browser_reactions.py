"""Reactions in Chromium: picked from the React menu or by clicking a reaction, live on the other
member's page with who reacted on hover, one's own marked for oneself only, refusals in words, and
a page cut off from its socket converging to the same reactions.

Like test_browser_changes.py, this module runs its own server whose pages poll only every 120 s
while the socket is up (every 2 s while it is down): what shows within a test came over the
socket, or, once cut, by the page's polling catch-up.
"""
import pytest
from playwright.sync_api import expect

from .support.browser import SocketCut, open_shared_chat, send

pytestmark = pytest.mark.browser

MINE_BORDER = "rgb(26, 95, 209)"  # --accent (light theme): base.html's rule for one's own reactions




def message(page, text):
    return page.locator("#messages > .msg", has_text=text)


def reaction(page, text, emoji):
    return message(page, text).locator(f".reaction[data-emoji='{emoji}']")


def open_picker(page, text):
    item = message(page, text)
    item.hover()
    item.locator(".reaction-picker > summary").click()
    expect(item.locator(".reaction-quick button").first).to_be_visible()  # loaded on opening
    return item


def pick(page, text, emoji):
    open_picker(page, text).locator(f".reaction-quick button[value='{emoji}']").click()


def border(locator) -> str:
    return locator.evaluate("el => getComputedStyle(el).borderTopColor")


def test_a_reaction_shows_live_with_who_reacted_and_ones_own_is_marked_for_oneself(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "release on friday?")
    expect(message(bob, "release on friday?")).to_have_count(1)

    pick(alice, "release on friday?", "👍")

    for page in (alice, bob):
        expect(reaction(page, "release on friday?", "👍")).to_have_text("👍 1")
        expect(reaction(page, "release on friday?", "👍")).to_have_attribute("title", alice.username.upper())
    expect(alice.locator(".reaction-picker[open]")).to_have_count(0)  # the menu closed with the change
    assert border(reaction(alice, "release on friday?", "👍")) == MINE_BORDER
    assert border(reaction(bob, "release on friday?", "👍")) != MINE_BORDER

    reaction(bob, "release on friday?", "👍").click()

    both = f"{alice.username.upper()} and {bob.username.upper()}"
    for page in (alice, bob):
        expect(reaction(page, "release on friday?", "👍")).to_have_text("👍 2")
        expect(reaction(page, "release on friday?", "👍")).to_have_attribute("title", both)
    assert border(reaction(bob, "release on friday?", "👍")) == MINE_BORDER

    # A reaction only bob has is marked on his page and not on alice's.
    pick(bob, "release on friday?", "🎉")
    expect(reaction(alice, "release on friday?", "🎉")).to_have_text("🎉 1")
    expect(reaction(bob, "release on friday?", "🎉")).to_have_text("🎉 1")
    assert border(reaction(bob, "release on friday?", "🎉")) == MINE_BORDER
    assert border(reaction(alice, "release on friday?", "🎉")) != MINE_BORDER

    reaction(bob, "release on friday?", "🎉").click()
    for page in (alice, bob):
        expect(reaction(page, "release on friday?", "🎉")).to_have_count(0)
        expect(reaction(page, "release on friday?", "👍")).to_have_text("👍 2")


def test_any_emoji_can_be_typed_in_and_text_is_refused_in_words(person, page_errors):
    page_errors.allow(r"Failed to load resource: .* 422", "the text this test reacts with is refused")
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "new logo")
    expect(message(bob, "new logo")).to_have_count(1)

    box = open_picker(bob, "new logo").locator(".reaction-any input[name=emoji]")
    box.fill("nice")
    box.press("Enter")
    expect(bob.locator("#flash")).to_contain_text("Reactions are a single emoji")
    expect(message(bob, "new logo").locator(".reaction")).to_have_count(0)

    box.fill("🦄")
    box.press("Enter")

    for page in (alice, bob):
        expect(reaction(page, "new logo", "🦄")).to_have_text("🦄 1")


def test_an_open_react_menu_stays_open_when_someone_else_reacts_meanwhile(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "vote here")
    expect(message(bob, "vote here")).to_have_count(1)
    menu = open_picker(bob, "vote here").locator(".reaction-picker")
    bob.locator(".reaction-any input[name=emoji]").fill("🍕")

    pick(alice, "vote here", "😮")

    expect(reaction(bob, "vote here", "😮")).to_have_text("😮 1")
    expect(menu).to_have_attribute("open", "")
    expect(bob.locator(".reaction-any input[name=emoji]")).to_have_value("🍕")
    bob.locator(".reaction-any input[name=emoji]").press("Enter")
    expect(reaction(alice, "vote here", "🍕")).to_have_text("🍕 1")
    expect(reaction(bob, "vote here", "🍕")).to_have_text("🍕 1")
    expect(bob.locator(".reaction-picker[open]")).to_have_count(0)


def test_a_page_cut_off_from_its_socket_converges_to_the_same_reactions(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    send(alice, "pizza tonight")
    expect(message(bob, "pizza tonight")).to_have_count(1)
    bob_socket = SocketCut(bob)
    pick(alice, "pizza tonight", "👍")
    reaction(bob, "pizza tonight", "👍").click()
    for page in (alice, bob):
        expect(reaction(page, "pizza tonight", "👍")).to_have_text("👍 2")
    bob.evaluate("window.notReloaded = true")

    bob_socket.cut()  # what bob misses now can only reach him by catching up
    reaction(alice, "pizza tonight", "👍").click()  # alice takes hers back while bob is away
    pick(alice, "pizza tonight", "😂")
    expect(reaction(alice, "pizza tonight", "👍")).to_have_text("👍 1")

    expect(reaction(bob, "pizza tonight", "👍")).to_have_text("👍 1", timeout=20_000)
    expect(reaction(bob, "pizza tonight", "👍")).to_have_attribute("title", bob.username.upper())
    expect(reaction(bob, "pizza tonight", "😂")).to_have_text("😂 1")
    assert bob.evaluate("window.notReloaded") is True
    assert bob.inner_text("#messages").count("pizza tonight") == 1


def test_without_javascript_a_reaction_is_added_and_taken_back_through_the_reaction_page(person):
    alice, bob = person(), person(java_script_enabled=False)
    chat_id = open_shared_chat(alice)
    alice.goto(f"/chats/{chat_id}/members")
    alice.fill("input[name=usernames]", bob.username)
    alice.locator("input[name=usernames]").press("Enter")
    expect(alice.locator("body")).to_contain_text(bob.username.upper())
    alice.goto(f"/chats/{chat_id}")
    send(alice, "no scripts here")
    expect(message(alice, "no scripts here")).to_have_count(1)
    expect(alice.locator(".pending")).to_have_count(0)  # stored before bob loads the page
    bob.goto(f"/chats/{chat_id}")

    message(bob, "no scripts here").locator(".reaction-picker > summary").click()
    message(bob, "no scripts here").get_by_role("link", name="Choose a reaction…").click()
    bob.locator(".reaction-quick button[value='🎉']").click()

    expect(reaction(bob, "no scripts here", "🎉")).to_have_text("🎉 1")
    expect(reaction(alice, "no scripts here", "🎉")).to_have_text("🎉 1")  # live for the page with scripts
    reaction(bob, "no scripts here", "🎉").click()
    bob.get_by_role("button", name="Take back your 🎉").click()
    expect(message(bob, "no scripts here")).to_have_count(1)
    expect(reaction(bob, "no scripts here", "🎉")).to_have_count(0)
    expect(reaction(alice, "no scripts here", "🎉")).to_have_count(0)
