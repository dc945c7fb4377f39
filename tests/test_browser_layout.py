"""Layout in Chromium: on a phone the chat list and the chat are two screens and nothing is wider
than the screen; dark mode follows the device or the user's setting."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from .support.browser import SocketCut, open_shared_chat, post_messages

pytestmark = [pytest.mark.browser, pytest.mark.rendering]

PHONE = {"width": 375, "height": 740}
DESKTOP = {"width": 1440, "height": 900}
LONG_URL = "https://example.com/" + "a-very-long-path-segment-without-any-spaces-" * 6 + "end"
CODE = "```\n" + "print('" + "x" * 200 + "')\n```"
LONG_WORD = "Supercalifragilisticexpialidocious" * 6
# Computed background colours of the page (static/app.css: --bg on <html>).
LIGHT_BG, DARK_BG = "rgb(246, 247, 249)", "rgb(15, 18, 22)"


def wide_by(page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")


def expect_background(page, colour: str) -> None:
    """The page's background colour, once its stylesheet has loaded."""
    expect(page.locator("html")).to_have_css("background-color", colour)


@pytest.mark.parametrize("width", [320, 375, 414, 768])
def test_no_page_scrolls_sideways_from_phone_widths_up_however_long_the_words_links_names_and_code(person, width):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    post_messages(bob, chat_id, [f"see {LONG_URL}", CODE, LONG_WORD, f"searchable{LONG_WORD}"])
    token = alice.locator("input[name=csrf_token]").first.get_attribute("value")
    alice.request.post("/settings", form={"csrf_token": token, "action": "profile", "display_name": "W" * 64})
    alice.set_viewport_size({"width": width, "height": 700})

    for url in ("/", f"/chats/{chat_id}", f"/chats/{chat_id}/members", f"/search?q=searchable{LONG_WORD[:20]}",
                "/search", "/settings", f"/new?q={bob.username}"):
        alice.goto(url)
        expect(alice.locator("body")).to_be_visible()
        assert wide_by(alice) <= 0, f"{url} at {width} px is {wide_by(alice)} px too wide"

    alice.goto(f"/chats/{chat_id}")
    expect(alice.locator("#messages .msg", has_text="print(")).to_have_count(1)
    expect(alice.get_by_role("textbox", name="Message")).to_be_in_viewport()
    expect(alice.get_by_role("button", name="Send")).to_be_in_viewport()
    alice.set_viewport_size({"width": width, "height": 330})  # an on-screen keyboard took the rest
    expect(alice.get_by_role("textbox", name="Message")).to_be_in_viewport()
    expect(alice.get_by_role("button", name="Send")).to_be_in_viewport()


@pytest.mark.parametrize("javascript", [True, False], ids=["with JavaScript", "without JavaScript"])
def test_on_a_phone_the_chat_list_and_the_chat_are_two_screens_with_a_way_back(person, javascript):
    alice, bob = person(java_script_enabled=javascript), person()
    if javascript:
        chat_id = open_shared_chat(alice, bob)
        post_messages(bob, chat_id, ["hello from bob"])
    else:
        alice.fill("input[name=name]", "two screens")
        alice.fill("input[name=members]", bob.username)
        alice.click("text=Create chat")
        chat_id = int(re.search(r"/chats/(\d+)", alice.url).group(1))
    alice.set_viewport_size(PHONE)
    chats = alice.get_by_role("navigation", name="Your chats")

    alice.goto("/")
    expect(chats).to_be_visible()
    expect(alice.get_by_role("heading", name=re.compile("^Welcome"))).to_be_visible()
    expect(alice.get_by_role("link", name="Chats", exact=True)).to_be_hidden()

    chats.get_by_role("link", name=re.compile("two screens|room")).click()
    expect(alice).to_have_url(re.compile(rf"/chats/{chat_id}$"))
    expect(alice.get_by_role("textbox", name="Message")).to_be_visible()
    expect(chats).to_be_hidden()

    alice.get_by_role("link", name="Chats", exact=True).click()
    expect(alice).to_have_url(re.compile(r"/$"))
    expect(chats).to_be_visible()
    expect(alice.get_by_role("textbox", name="Message")).to_have_count(0)

    alice.set_viewport_size(DESKTOP)  # side by side again: no back link needed
    alice.goto(f"/chats/{chat_id}")
    expect(chats).to_be_visible()
    expect(alice.get_by_role("textbox", name="Message")).to_be_visible()
    expect(alice.get_by_role("link", name="Chats", exact=True)).to_be_hidden()


def test_on_a_phone_a_chat_shows_the_connection_only_while_it_is_not_live(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    alice.set_viewport_size(PHONE)
    alice.goto(f"/chats/{chat_id}")
    cut = SocketCut(alice)
    connection = alice.locator("#connection")
    expect(connection).to_be_hidden()  # live: the chat has the whole screen
    expect(alice.get_by_role("navigation", name="Your chats")).to_be_hidden()

    cut.cut()
    expect(connection).to_be_visible()  # above the chat, saying what it is doing
    expect(connection).not_to_have_text(re.compile("^Live"))
    assert alice.evaluate("document.scrollingElement.scrollWidth <= innerWidth")
    expect(alice.get_by_role("textbox", name="Message")).to_be_in_viewport()

    cut.restore()
    expect(connection).to_have_attribute("data-state", "live")
    expect(connection).to_be_hidden()


def test_on_a_phone_search_is_an_icon_that_opens_the_search_box(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    word = f"quince{uuid.uuid4().hex[:6]}"
    post_messages(bob, chat_id, [f"the word is {word}"])
    alice.set_viewport_size(PHONE)
    box = alice.get_by_role("searchbox", name="Search messages")

    alice.goto(f"/chats/{chat_id}")
    expect(box).to_be_hidden()
    alice.get_by_role("link", name="Search messages").click()

    expect(alice).to_have_url(re.compile(r"/search$"))
    expect(box).to_be_visible()
    box.fill(word)
    box.press("Enter")
    expect(alice.locator(".search-hit")).to_have_count(1)
    assert wide_by(alice) <= 0


@pytest.mark.parametrize("scheme, background", [("dark", DARK_BG), ("light", LIGHT_BG)])
def test_every_page_follows_the_devices_light_or_dark_setting(person, scheme, background):
    alice = person(color_scheme=scheme)
    for url in ("/", "/settings"):
        alice.goto(url)
        expect_background(alice, background)
    alice.get_by_role("button", name="Log out").click()
    expect(alice).to_have_url(re.compile(r"/login$"))
    expect_background(alice, background)


def test_the_theme_chosen_in_settings_wins_over_the_device_and_can_follow_it_again(person):
    alice = person(color_scheme="light")

    def choose(words: str, theme: str) -> None:
        alice.goto("/settings")
        alice.get_by_role("radio", name=words).check()
        alice.get_by_role("button", name="Save theme").click()
        expect(alice.locator("html")).to_have_attribute("data-theme", theme)  # the page after saving
        expect(alice.get_by_text("Theme saved.")).to_be_visible()
        expect(alice.get_by_role("radio", name=words)).to_be_checked()

    choose("Dark", "dark")
    expect_background(alice, DARK_BG)
    alice.goto("/")
    expect_background(alice, DARK_BG)

    alice.emulate_media(color_scheme="dark")
    choose("Light", "light")
    expect_background(alice, LIGHT_BG)

    choose("Same as this device", "system")
    expect_background(alice, DARK_BG)
    alice.emulate_media(color_scheme="light")
    expect_background(alice, LIGHT_BG)
