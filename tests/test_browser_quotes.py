"""Quote-replies in a real browser: Quote puts a preview in the composer and the sent message
shows it; the preview follows an edit of the original live; and clicking a preview jumps to an
original 300 messages up, loading older history until it is there.

This module runs its own server whose pages poll only every 120 s while the socket is up, so
whatever appears within a test came over the socket.
"""
import re
import uuid
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from .support.browser import CSRF, BrowserPeople, expect_live

pytestmark = pytest.mark.browser


@pytest.fixture
def person(chromium, server):
    """person() or person("bob") -> a page of a new signed-in user, live."""
    made = BrowserPeople(chromium, server.url, live=True, timeout=15_000)
    yield made
    made.close()


def create_group(owner, *others) -> int:
    """The owner creates a group with the others from the welcome pane and lands in it."""
    if urlsplit(owner.url).path != "/":
        owner.goto("/")
    owner.fill("input[name=name]", f"room {uuid.uuid4().hex[:4]}")
    owner.fill("input[name=members]", " ".join(p.username for p in others))
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    expect_live(owner)
    return int(owner.url.rsplit("/", 1)[1])


def store_history(server, chat_id: int, entries) -> list[int]:
    """Store messages (username, text, index of an earlier entry it quotes or None) straight
    into the live server's database through the app's own send path, in one transaction: a
    long history in a moment. Their ids, in order."""
    from sqlalchemy import select

    from webchat import create_app
    from webchat.core import group_commit, messaging
    from webchat.extensions import db
    from webchat.models import User

    app = create_app({"SQLALCHEMY_DATABASE_URI": server.env["DATABASE_URL"], "SECRET_KEY": "test",
                      "REDIS_URL": None, "RATELIMIT_ENABLED": False})
    ids: list[int] = []
    with app.test_request_context():
        try:
            batch = []
            for username, text, quotes in entries:
                if quotes is not None and quotes >= len(ids) + len(batch):
                    raise AssertionError("an entry quotes only earlier ones")
                if quotes is not None and quotes >= len(ids):  # it quotes one of this batch: store that first
                    ids += [r.message.id for r in group_commit.store_drafts(batch)]
                    batch = []
                user_id = db.session.scalar(select(User.id).where(User.username == username))
                sender = messaging.sender_in(chat_id, user_id)
                batch.append(messaging.draft_message(sender, text, None,
                                                     reply_to_id=None if quotes is None else ids[quotes]))
            ids += [r.message.id for r in group_commit.store_drafts(batch)]
        finally:
            db.session.remove()
            db.engine.dispose()
    return ids


def edit(page, chat_id: int, message_id: int, body: str) -> None:
    token = CSRF.search(page.context.request.get("/settings").text()).group(1)
    response = page.context.request.post(f"/chats/{chat_id}/messages/{message_id}/edit", max_redirects=0,
                                         form={"csrf_token": token, "body": body})
    assert response.status == 302, response.text()[:300]


def in_view(page, message_id: int) -> bool:
    return page.evaluate("""id => {
      const box = document.getElementById("messages").getBoundingClientRect();
      const r = document.getElementById("m-" + id).getBoundingClientRect();
      return r.bottom > box.top && r.top < box.bottom;
    }""", message_id)


def test_quote_reply_previews_follow_edits_and_jump_to_an_original_300_messages_up(person, server):
    alice, bob = person("alice"), person("bob")
    chat_id = create_group(alice, bob)
    history = [(alice.username, "Where do we keep the release notes?", None)]
    history += [(bob.username if n % 2 else alice.username, f"filler {n}", None) for n in range(1, 301)]
    history += [(bob.username, "In the wiki, under Releases", 0)]
    ids = store_history(server, chat_id, history)
    original, answer = ids[0], ids[-1]

    for page in (alice, bob):
        page.goto(f"/chats/{chat_id}")
        expect_live(page)
    expect(bob.locator(f"#m-{original}")).to_have_count(0)  # 300 messages up: not loaded
    preview = bob.locator(f"#m-{answer} .quote")
    expect(preview).to_contain_text("Where do we keep the release notes?")

    # alice quotes bob's answer from the composer, changes her mind, quotes it again and sends.
    alice.locator(f"#m-{answer}").hover()
    alice.click(f"#m-{answer} .msg-action--quote")
    quoting = alice.locator("#composer .composer-quote")
    expect(quoting).to_contain_text(bob.display_name)
    expect(quoting).to_contain_text("In the wiki, under Releases")
    expect(alice.locator("#composer-text")).to_be_focused()
    alice.click("#composer [data-quote-cancel]")
    expect(quoting).to_have_count(0)
    alice.locator(f"#m-{answer}").hover()
    alice.click(f"#m-{answer} .msg-action--quote")
    expect(quoting).to_have_count(1)
    alice.fill("#composer-text", "Thanks, found them")
    alice.keyboard.press("Enter")
    expect(quoting).to_have_count(0)  # the next message quotes nothing
    thanks = bob.locator("#messages > .msg--user", has_text="Thanks, found them")
    expect(thanks.locator(".quote")).to_have_attribute("data-quote", str(answer))
    expect(thanks.locator(".quote")).to_contain_text("In the wiki, under Releases")
    expect(alice.locator("#messages > .msg--user", has_text="Thanks, found them").locator(".quote")).to_have_count(1)

    # The original is edited: bob's preview of it follows, live.
    edit(alice, chat_id, original, "Where are the release notes kept?")
    expect(preview).to_contain_text("Where are the release notes kept?")

    # bob clicks the preview: older history loads until the original is there, marked and in view,
    # "Finding the quoted message…" showing meanwhile.
    bob.evaluate("""() => {
      const status = document.getElementById("quote-finding");
      new MutationObserver(() => { if (!status.hidden) window.quoteFindingShown = true; })
        .observe(status, {attributes: true});
    }""")
    preview.click()
    target = bob.locator(f"#m-{original}")
    expect(target).to_have_class(re.compile(r"\bmsg--highlight\b"), timeout=30_000)
    expect(target.locator(".msg-body")).to_have_text("Where are the release notes kept?")
    expect(bob.locator("#quote-finding")).to_be_hidden()
    assert bob.evaluate("() => window.quoteFindingShown === true")
    assert in_view(bob, original)
    assert urlsplit(bob.url).path == f"/chats/{chat_id}"  # found in the page, not on a page of its own
    assert bob.locator("#messages > .msg--user").count() >= 302
