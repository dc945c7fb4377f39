"""Search in Chromium: type in the top bar's box, see the match marked, click it and land in the
chat at that message, with and without JavaScript."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from .support.browser import BrowserPeople, open_shared_chat, post_messages

pytestmark = pytest.mark.browser


@pytest.fixture
def person(chromium, live_server):
    people = BrowserPeople(chromium, live_server.url)
    yield people
    people.close()


def search_box(page):
    return page.get_by_role("searchbox", name="Search messages")


def test_a_search_result_opens_its_chat_scrolled_to_the_message_which_is_marked(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    word = f"kumquat{uuid.uuid4().hex[:6]}"
    post_messages(bob, chat_id, [f"the <b>launch</b> code is {word}, keep it quiet"])
    post_messages(bob, chat_id, [f"filler message {i}" for i in range(60)])  # pushes it off the newest page

    search_box(alice).fill(word)
    search_box(alice).press("Enter")

    hit = alice.locator(".search-hit")
    expect(hit).to_have_count(1)
    expect(alice).to_have_url(re.compile(rf"/search\?q={word}$"))
    expect(hit.locator("mark")).to_have_text(word)
    expect(hit.locator(".search-snippet")).to_contain_text("the <b>launch</b> code is")
    expect(hit.locator(".search-author")).to_have_text(bob.username.upper())

    hit.locator("a").click()

    expect(alice).to_have_url(re.compile(rf"/chats/{chat_id}/messages/\d+$"))
    message_id = int(alice.url.rsplit("/", 1)[1])
    target = alice.locator(f"#m-{message_id}")
    expect(target).to_contain_text(word)
    expect(target).to_have_class(re.compile(r"\bmsg--highlight\b"))
    expect(target).to_be_in_viewport()
    expect(alice.locator("#messages .msg", has_text="filler message 59")).to_have_count(0)  # history, not the end
    expect(alice.locator(f'#chat-list a[data-chat-id="{chat_id}"]')).to_have_attribute("aria-current", "page")

    # The same address, opened anew (shared, bookmarked), lands there too.
    alice.goto(f"/chats/{chat_id}/messages/{message_id}")
    expect(alice.locator(f"#m-{message_id}")).to_be_in_viewport()
    expect(alice.locator(f"#m-{message_id}")).to_have_class(re.compile(r"\bmsg--highlight\b"))


def test_a_recent_result_opens_the_live_chat_at_the_message(person):
    alice, bob = person(), person()
    chat_id = open_shared_chat(alice, bob)
    word = f"zeppelin{uuid.uuid4().hex[:6]}"
    post_messages(bob, chat_id, [f"the {word} lands at noon", *[f"chatter {i}" for i in range(30)]])

    search_box(alice).fill(word[:-2])  # still typing: the last word is a prefix
    search_box(alice).press("Enter")
    alice.locator(".search-hit a").click()

    expect(alice.locator("#messages .msg--highlight")).to_contain_text(word)
    expect(alice.locator("#messages .msg--highlight")).to_be_in_viewport()
    expect(alice.locator("#connection")).to_have_attribute("data-state", "live")
    post_messages(bob, chat_id, ["and one more thing"])  # the chat is live: it arrives
    expect(alice.locator("#messages .msg", has_text="and one more thing")).to_have_count(1)


def test_search_works_without_javascript(person):
    alice = person(java_script_enabled=False)
    alice.fill("input[name=name]", "Plain")
    alice.fill("input[name=members]", "")
    alice.click("text=Create chat")
    alice.wait_for_url("**/chats/*")
    chat_id = int(alice.url.rsplit("/", 1)[1])
    word = f"quokka{uuid.uuid4().hex[:6]}"
    post_messages(alice, chat_id, [f"a {word} appeared"])

    search_box(alice).fill(word)
    search_box(alice).press("Enter")
    expect(alice.locator(".search-hit mark")).to_have_text(word)
    alice.locator(".search-hit a").click()

    expect(alice).to_have_url(re.compile(rf"/chats/{chat_id}/messages/(\d+)#m-\1$"))
    expect(alice.locator("#messages .msg:target")).to_contain_text(word)
