"""The keyboard and screen-reader paths in Chromium: the focus lands in the composer when a chat
opens, a skip link comes first, the message list is one tab stop (arrow keys move, Enter opens a
message's actions as a menu, Esc closes), Up-arrow edits one's last message, Alt+↑/↓ changes chat,
search runs as one types, the people picker starts a direct message, and what screen readers hear:
the typing line as text and new messages from others in one line each.

This module runs its own server (pages poll every 120 s while the socket is up), so whatever
appears live within a test came over the socket.
"""
import re
import uuid

import pytest
from playwright.sync_api import expect

from .support.browser import BrowserPeople, expect_live, post_messages, send

pytestmark = [pytest.mark.browser, pytest.mark.rendering]


@pytest.fixture
def person(chromium, server):
    """person() or person("bob", **context options) -> a page of a new signed-in user, live."""
    made = BrowserPeople(chromium, server.url, live=True, timeout=10_000)
    yield made
    made.close()


def create_group(owner, *others, name: str = "room") -> int:
    owner.goto("/")
    owner.fill("input[name=name]", f"{name} {uuid.uuid4().hex[:4]}")
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def composer(page):
    return page.locator("#composer-text")


def message(page, text):
    return page.locator("#messages > .msg", has_text=text)


def focused(page) -> str:
    """What has the focus: its id, else its tag and classes."""
    return page.evaluate("""() => {
      const el = document.activeElement;
      return el.id || (el.tagName.toLowerCase() + "." + Array.from(el.classList).join("."));
    }""")


def to_top(page) -> None:
    """Nothing focused and the next Tab starting from the top of the page, as after a fresh load."""
    page.evaluate("""() => {
      const mark = document.createElement("span");
      mark.tabIndex = -1;
      document.body.prepend(mark);
      mark.focus();
      mark.remove();
    }""")


def tabs_to_composer(page) -> int:
    """Tab presses from the top of the page until the composer has the focus."""
    to_top(page)
    for count in range(1, 200):
        page.keyboard.press("Tab")
        if focused(page) == "composer-text":
            return count
    raise AssertionError("Tab never reached the composer")


# ----- focus when a chat opens, skip links -------------------------------------------------------

def test_opening_a_chat_puts_the_focus_in_its_composer_and_a_permalink_on_its_message(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    expect(composer(alice)).to_be_focused()  # a full page load
    send(alice, "look at this")
    mid = message(alice, "look at this").get_attribute("data-id")

    bob.reload()
    expect_live(bob)
    bob.click(f"#chat-list a[data-chat-id='{chat_id}']")  # htmx navigation
    expect(bob.locator("#messages")).to_have_attribute("data-chat-id", str(chat_id))
    expect(composer(bob)).to_be_focused()

    bob.goto(f"/chats/{chat_id}/messages/{mid}")
    expect(bob.locator(f"#m-{mid}")).to_be_focused()


def test_the_first_tab_stop_skips_to_the_composer_and_the_next_to_the_messages(person):
    alice, bob = person("alice"), person("bob")
    create_group(alice, bob)
    send(alice, "the newest one")
    to_top(alice)

    alice.keyboard.press("Tab")
    skip = alice.get_by_role("link", name="Skip to composer")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    alice.keyboard.press("Enter")
    expect(composer(alice)).to_be_focused()

    to_top(alice)
    alice.keyboard.press("Tab")
    alice.keyboard.press("Tab")
    expect(alice.get_by_role("link", name="Skip to messages")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(message(alice, "the newest one")).to_be_focused()


def test_the_dashboard_offers_a_skip_to_the_main_content_instead(person):
    alice = person("alice")
    to_top(alice)
    alice.keyboard.press("Tab")
    expect(alice.get_by_role("link", name="Skip to main content")).to_be_focused()
    expect(alice.get_by_role("link", name="Skip to composer")).to_be_hidden()


def test_tabbing_from_the_top_to_the_composer_takes_as_many_stops_with_forty_messages_as_with_two(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    post_messages(bob, chat_id, ["one https://example.com/a", "two"])
    alice.reload()
    few = tabs_to_composer(alice)

    post_messages(bob, chat_id, [f"more {i} https://example.com/{i}" for i in range(38)] + ["two"])
    alice.reload()
    expect(alice.locator("#messages > .msg--user")).to_have_count(41)
    assert tabs_to_composer(alice) == few


# ----- the message list: arrow keys, the actions menu, Esc ---------------------------------------

def test_arrow_keys_and_enter_open_a_messages_menu_where_edit_works_and_esc_closes_it(person):
    alice, bob = person("alice"), person("bob")
    create_group(alice, bob)
    for text in ("first words", "second words", "third words"):
        send(alice, text)
        expect(message(alice, text)).to_have_count(1)
    alice.get_by_role("link", name="Skip to messages").focus()
    alice.keyboard.press("Enter")
    expect(message(alice, "third words")).to_be_focused()

    alice.keyboard.press("ArrowUp")
    second = message(alice, "second words")
    expect(second).to_be_focused()
    alice.keyboard.press("Enter")
    menu = second.get_by_role("menu", name="Message actions")
    expect(menu).to_be_visible()
    expect(menu.get_by_role("menuitem", name="Edit")).to_be_focused()
    alice.keyboard.press("Escape")
    expect(second.get_by_role("menu")).to_have_count(0)
    expect(second).to_be_focused()

    alice.keyboard.press("Enter")
    alice.keyboard.press("ArrowRight")
    expect(menu.get_by_role("menuitem", name="Delete")).to_be_focused()
    alice.keyboard.press("ArrowLeft")
    expect(menu.get_by_role("menuitem", name="Edit")).to_be_focused()
    alice.keyboard.press("Enter")
    editor = second.locator(".msg-editor textarea")
    expect(editor).to_be_focused()
    editor.fill("second words, better")
    alice.keyboard.press("Enter")
    expect(second.locator(".msg-body")).to_have_text("second words, better")
    expect(second).to_be_focused()  # back on the message that was edited


def test_a_message_by_someone_else_offers_react_reply_quote_and_copy_link_but_not_edit(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    post_messages(alice, chat_id, ["alice says hi"])
    bob.goto(f"/chats/{chat_id}")
    bob.get_by_role("link", name="Skip to messages").focus()
    bob.keyboard.press("Enter")
    said = message(bob, "alice says hi")
    expect(said).to_be_focused()
    bob.keyboard.press("Enter")
    expect(said.get_by_role("menuitem")).to_have_text(["React", "Reply in thread", "Quote", "Copy link"])
    bob.keyboard.press("Enter")  # React opens its picker
    expect(said.locator(".reaction-picker[open]")).to_have_count(1)
    bob.keyboard.press("Escape")
    expect(said.locator(".reaction-picker[open]")).to_have_count(0)
    expect(said.get_by_role("menuitem", name="React")).to_have_count(0)  # the menu closed with the choice
    bob.keyboard.press("Escape")
    expect(said).to_be_focused()
    bob.keyboard.press("Escape")
    expect(composer(bob)).to_be_focused()


def test_copy_link_in_the_menu_copies_the_messages_own_address(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    send(alice, "remember this")
    said = message(alice, "remember this")
    mid = said.get_attribute("data-id")
    alice.context.grant_permissions(["clipboard-read", "clipboard-write"])
    said.focus()
    alice.keyboard.press("Enter")
    alice.keyboard.press("End")
    expect(said.get_by_role("menuitem", name="Copy link")).to_be_focused()
    alice.keyboard.press("Enter")
    expect(alice.locator("#announce")).to_have_text("Link copied.")
    assert alice.evaluate("navigator.clipboard.readText()").endswith(f"/chats/{chat_id}/messages/{mid}")
    expect(alice).to_have_url(re.compile(rf"/chats/{chat_id}$"))  # copied, not followed


def test_up_arrow_in_an_empty_composer_edits_ones_last_message_and_esc_returns_to_the_composer(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    send(alice, "my older note")
    send(alice, "my last note")
    expect(message(alice, "my last note")).to_have_count(1)
    post_messages(bob, chat_id, ["bob's later words"])
    expect(message(alice, "bob's later words")).to_have_count(1)

    composer(alice).focus()
    alice.keyboard.press("ArrowUp")
    editor = message(alice, "my last note").locator(".msg-editor textarea")
    expect(editor).to_be_focused()
    expect(editor).to_have_value("my last note")
    alice.keyboard.press("Escape")
    expect(alice.locator(".msg-editor")).to_have_count(0)
    expect(composer(alice)).to_be_focused()

    alice.keyboard.press("ArrowUp")
    expect(editor).to_be_focused()
    editor.fill("my last note, fixed")
    alice.keyboard.press("Enter")
    expect(alice.locator("#messages .msg-body", has_text="my last note, fixed")).to_have_count(1)
    expect(composer(alice)).to_be_focused()

    composer(alice).fill("not empty")
    alice.keyboard.press("ArrowUp")
    expect(alice.locator(".msg-editor")).to_have_count(0)


def test_alt_down_and_alt_up_open_the_next_and_previous_chat_of_the_list(person):
    alice, bob = person("alice"), person("bob")
    create_group(alice, bob, name="older")
    create_group(alice, bob, name="newer")
    links = alice.locator("#chat-list a[data-chat-id]")
    expect(links).to_have_count(2)
    first, second = (int(links.nth(i).get_attribute("data-chat-id")) for i in range(2))
    alice.goto(f"/chats/{first}")
    expect_live(alice)

    alice.keyboard.press("Alt+ArrowDown")
    expect(alice).to_have_url(re.compile(rf"/chats/{second}$"))
    expect(alice.locator("#messages")).to_have_attribute("data-chat-id", str(second))
    expect(composer(alice)).to_be_focused()
    alice.keyboard.press("Alt+ArrowUp")
    expect(alice.locator("#messages")).to_have_attribute("data-chat-id", str(first))


# ----- search as one types -----------------------------------------------------------------------

def test_search_shows_results_as_one_types_without_enter_and_asks_nothing_for_an_empty_box(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    word = f"quince{uuid.uuid4().hex[:6]}"
    post_messages(bob, chat_id, [f"bring the {word} jam"])
    asked = []
    alice.on("request", lambda r: asked.append(r.url) if "/search" in r.url else None)

    box = alice.get_by_role("searchbox", name="Search messages")
    box.press_sequentially(word, delay=20)
    expect(alice.locator(".search-hit")).to_have_count(1)
    expect(alice.locator(".search-hit mark")).to_have_text(word)
    expect(alice).to_have_url(re.compile(rf"/search\?q={word}$"))
    expect(box).to_be_focused()

    box.fill("")
    alice.wait_for_timeout(600)  # longer than the typing pause that would send it
    assert not [u for u in asked if re.search(r"[?&]q=(&|$)", u)], asked
    expect(alice.locator(".search-hit")).to_have_count(1)  # the results stay


# ----- the people picker -------------------------------------------------------------------------

def test_the_picker_starts_a_direct_message_with_someone_found_by_part_of_their_display_name(person):
    alice, bob = person("alice"), person("bob")
    create_group(alice, bob)
    part = bob.display_name.split()[1]  # "Bob 1a2b3c": a word of the name, not the username's start

    alice.get_by_role("link", name="New message").click()
    expect(alice.get_by_role("heading", name="New message")).to_be_visible()
    to = alice.get_by_role("combobox", name="To")
    to.press_sequentially(part, delay=20)
    option = alice.get_by_role("option", name=re.compile(bob.display_name))
    expect(option).to_contain_text(f"@{bob.username}")
    expect(option).to_have_attribute("aria-selected", "true")
    alice.keyboard.press("Enter")
    expect(to).to_have_value(f"{bob.username}, ")
    alice.keyboard.press("Enter")

    alice.wait_for_url(re.compile(r"/chats/\d+$"))
    expect(alice.locator("#chat-pane .chat-title")).to_have_text(bob.display_name)
    dm = int(alice.url.rsplit("/", 1)[1])
    expect(alice.locator(f"#chat-item-{dm}")).to_have_attribute("data-direct", "1")

    # Picking the same person again opens the same conversation.
    alice.get_by_role("link", name="New message").click()
    alice.get_by_role("combobox", name="To").press_sequentially(bob.username[:5], delay=20)
    alice.get_by_role("option", name=re.compile(bob.display_name)).click()
    alice.get_by_role("button", name="Start conversation").click()
    alice.wait_for_url(re.compile(rf"/chats/{dm}$"))


def test_without_javascript_the_picker_page_finds_people_and_starts_a_group(person, chromium, server, page_errors):
    page_errors.allow(r"Failed to load resource: .* 422 .*/new\b", "the unnamed group this test starts is refused")
    alice, bob, carol = person("alice"), person("bob"), person("carol")
    create_group(alice, bob, carol)
    plain = chromium.new_context(base_url=server.url, java_script_enabled=False)  # alice, no scripts
    try:
        plain.add_cookies(alice.context.cookies())
        tab = plain.new_page()
        tab.goto("/")
        find = tab.get_by_role("searchbox", name="Find people by name")
        tab.get_by_role("link", name="New message").click()
        find.fill(bob.display_name.split()[1])
        tab.get_by_role("button", name="Find").click()
        found = tab.locator(".people-found")
        found.get_by_role("link", name=re.compile(bob.display_name)).click()
        find.fill("carol")
        tab.get_by_role("button", name="Find").click()
        found.get_by_role("link", name=re.compile(carol.display_name)).click()
        expect(tab.get_by_role("combobox", name="To")).to_have_value(f"{bob.username}, {carol.username}")
        tab.get_by_role("button", name="Start conversation").click()
        expect(tab.locator(".form-error")).to_contain_text("Give the group a name")
        tab.get_by_label("Group name").fill("Plain group")
        tab.get_by_role("button", name="Start conversation").click()
        tab.wait_for_url(re.compile(r"/chats/\d+$"))
        expect(tab.locator("#chat-pane .chat-title")).to_have_text("Plain group")
    finally:
        plain.close()


# ----- what screen readers hear ------------------------------------------------------------------

def test_the_typing_line_is_text_in_a_polite_live_region(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    bob.goto(f"/chats/{chat_id}")
    expect_live(bob)
    composer(alice).press_sequentially("hel", delay=30)
    line = bob.locator(f'.typing-words[aria-live="polite"][data-typing-for="{chat_id}"]')
    expect(line).to_have_text(f"{alice.display_name} is typing…")
    expect(bob.locator("#messages")).not_to_have_attribute("aria-live", re.compile("."))


def test_a_message_from_someone_else_is_announced_in_one_line_and_ones_own_is_not(person):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    post_messages(bob, chat_id, [f"old words {i}" for i in range(3)])
    alice.reload()
    expect_live(alice)
    announce = alice.locator('#announce[aria-live="polite"]')
    expect(announce).to_have_text("")

    bob.goto(f"/chats/{chat_id}")
    expect_live(bob)
    send(bob, "lunch at noon?")
    expect(announce).to_have_text(f"{bob.display_name}: lunch at noon?")
    send(alice, "sure")
    expect(message(alice, "sure")).to_have_count(1)
    expect(announce).to_have_text(f"{bob.display_name}: lunch at noon?")
