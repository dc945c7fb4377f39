"""How a conversation reads in Chromium: one header for a run of messages by one author, a line
for each day in the reader's time zone and language (across a midnight), avatars (initials, or a
picture chosen in the settings), and the receipt under one's latest message.

Messages are sent through the page, then given past times in the database (as if sent then),
and the page is loaded again: what it shows is worked out from those times.
"""
import io
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import bindparam, update

from .support.browser import open_shared_chat, send, shown_ids
from .support.stored import LiveDatabase

pytestmark = pytest.mark.browser

ZONE = "Pacific/Auckland"  # far from the server's UTC: its midnight is not the server's
CONT = re.compile(r"\bmsg--cont\b")  # a message joining its author's run


@pytest.fixture(scope="module")
def stored(server):
    database = LiveDatabase(server)
    yield database
    database.close()


def sent(page, text: str) -> int:
    """Send text from the page's composer; the id of the message once the page shows it."""
    before = set(shown_ids(page))
    send(page, text)
    expect(page.locator("#messages > .msg", has_text=text)).to_have_count(1)
    [new] = set(shown_ids(page)) - before
    return new


def backdate(stored: LiveDatabase, times: dict[int, datetime]) -> None:
    messages = stored.metadata.tables["messages"]
    with stored.engine.begin() as conn:
        conn.execute(update(messages).where(messages.c.id == bindparam("mid")).values(created_at=bindparam("at")),
                     # In UTC, as the app stores every time (SQLite would drop the offset).
                     [{"mid": mid, "at": at.astimezone(UTC)} for mid, at in times.items()])


def article(page, message_id: int):
    return page.locator(f"#m-{message_id}")


def day_lines(page) -> list[str]:
    return page.eval_on_selector_all("#messages > .day-divider", "els => els.map(e => e.textContent)")


def day_words(day: datetime, now: datetime) -> str:
    """A day as Chromium words it in British English ("Friday 4 December")."""
    return f"{day:%A} {day.day} {day:%B}" + (f" {day.year}" if day.year != now.year else "")


def test_runs_share_a_header_and_days_are_lines_in_the_readers_zone_across_a_midnight(person, stored):
    alice = person(timezone_id=ZONE, locale="en-GB")
    bob = person(timezone_id=ZONE, locale="en-GB")
    chat_id = open_shared_chat(alice, bob)
    events = shown_ids(alice)  # the chat's creation and joins
    ids = {name: sent(alice if name.startswith("a") else bob, f"message {name}")
           for name in ["a-old", "a-2358", "a-0002", "a-0003", "b-0004", "a-0020", "a-0024"]}
    # The midnight that began yesterday, in the reader's zone: what is sent now joins none of it.
    now = datetime.now(ZoneInfo(ZONE))
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    old = midnight - timedelta(days=3, hours=-10)
    backdate(stored, {**{event: old - timedelta(hours=1) for event in events},
                      ids["a-old"]: old, ids["a-2358"]: midnight - timedelta(minutes=2),
                      ids["a-0002"]: midnight + timedelta(minutes=2), ids["a-0003"]: midnight + timedelta(minutes=3),
                      ids["b-0004"]: midnight + timedelta(minutes=4), ids["a-0020"]: midnight + timedelta(minutes=20),
                      ids["a-0024"]: midnight + timedelta(minutes=24)})

    alice.reload()

    two_days_ago = midnight - timedelta(minutes=2)
    expect(alice.locator("#messages > .day-divider")).to_have_count(3)
    assert day_lines(alice) == [day_words(old, now), day_words(two_days_ago, now), "Yesterday"]
    # Each line stands right before its day's first message.
    firsts = alice.eval_on_selector_all("#messages > .day-divider", "els => els.map(e => e.nextElementSibling.id)")
    assert firsts == [f"m-{events[0]}", f"m-{ids['a-2358']}", f"m-{ids['a-0002']}"]
    # Two minutes apart but either side of the reader's midnight: two headers.
    joined = {name for name, mid in ids.items() if "msg--cont" in article(alice, mid).get_attribute("class")}
    assert joined == {"a-0003", "a-0024"}
    # Times in the reader's zone: 00:02 in Auckland, whatever the server's clock says.
    expect(article(alice, ids["a-0002"]).locator(".msg-meta time")).to_have_text("00:02")
    expect(article(alice, ids["a-2358"]).locator(".msg-meta time")).to_have_text("23:58")
    # The header of a run shows who; the messages joining it show their time only when pointed at.
    expect(article(alice, ids["a-0002"]).locator(".avatar")).to_be_visible()
    expect(article(alice, ids["a-0002"]).locator(".msg-handle")).to_be_visible()
    later = article(alice, ids["a-0003"])
    expect(later.locator(".avatar")).to_be_hidden()
    expect(later.locator(".msg-handle")).to_be_hidden()
    expect(later.locator(".msg-meta time")).to_have_css("opacity", "0")
    later.hover()
    expect(later.locator(".msg-meta time")).to_have_css("opacity", "1")

    # Messages arriving live: a line for today first, then a run of their own.
    live = sent(alice, "and one more, live")
    expect(article(alice, live)).not_to_have_class(CONT)
    again = sent(alice, "and again")
    expect(article(alice, again)).to_have_class(CONT)
    assert day_lines(alice) == [day_words(old, now), day_words(two_days_ago, now), "Yesterday", "Today"]
    assert article(alice, live).evaluate("el => el.previousElementSibling.textContent") == "Today"
    # Bob's page, in the same zone, shows the same; the messages reached it over the socket.
    expect(article(bob, again)).to_have_class(CONT)
    expect(bob.locator("#messages > .day-divider").last).to_have_text("Today")

    # An edit replaces the message on both pages: it stays in its run.
    alice.evaluate("url => htmx.ajax('POST', url, {source: document.body, swap: 'none', values: {body: 'edited'}})",
                   f"/chats/{chat_id}/messages/{again}/edit")
    for page in (alice, bob):
        expect(article(page, again).locator(".msg-body")).to_have_text("edited")
        expect(article(page, again)).to_have_class(CONT)
    expect(article(alice, again).locator(".msg-receipt")).to_have_count(1)  # still under my latest


def test_the_day_lines_follow_the_readers_zone(person, stored):
    alice = person(timezone_id="Pacific/Auckland", locale="en-GB")
    bob = person(timezone_id="America/Los_Angeles", locale="en-US")
    open_shared_chat(alice, bob)
    events = shown_ids(alice)
    first, second = sent(alice, "before"), sent(alice, "after")
    # 23:58 and 00:02 UTC of a day a week ago: one day in both zones, four minutes apart.
    day = (datetime.now(ZoneInfo("UTC")) - timedelta(days=7)).replace(hour=0, minute=2, second=0, microsecond=0)
    backdate(stored, {**{event: day - timedelta(minutes=5) for event in events},
                      first: day - timedelta(minutes=4), second: day})

    alice.reload()
    bob.reload()

    assert len(day_lines(alice)) == 1 and len(day_lines(bob)) == 1
    in_auckland = day.astimezone(ZoneInfo("Pacific/Auckland"))
    assert day_lines(alice) == [day_words(in_auckland, datetime.now(ZoneInfo("Pacific/Auckland")))]
    in_la = day.astimezone(ZoneInfo("America/Los_Angeles"))
    assert bob.locator("#messages > .day-divider").text_content().startswith(f"{in_la:%A}, {in_la:%B} {in_la.day}")
    expect(article(bob, second).locator(".msg-meta time")).to_have_text(f"{in_la:%I:%M %p}")
    expect(article(bob, second)).to_have_class(CONT)


def test_avatars_show_initials_by_default_and_the_picture_once_chosen(person, tmp_path):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    message = sent(alice, "who am I?")
    initials = article(bob, message).locator(".avatar")
    expect(initials).to_have_text(alice.username[0].upper())
    background = initials.evaluate("el => getComputedStyle(el).backgroundColor")
    assert background not in ("rgba(0, 0, 0, 0)", "rgb(107, 114, 128)")  # a colour of alice's own

    picture = tmp_path / "me.png"
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), "purple").save(buffer, "PNG")
    picture.write_bytes(buffer.getvalue())
    alice.goto("/settings")
    alice.set_input_files("input[name=avatar]", str(picture))
    alice.click("text=Save picture")
    expect(alice.locator(".flash")).to_contain_text("Picture saved")
    expect(alice.locator(".avatar-setting img.avatar")).to_be_visible()

    bob.reload()
    shown = article(bob, message).locator("img.avatar")
    expect(shown).to_be_visible()
    bob.wait_for_function("img => img.complete && img.naturalWidth === 128", arg=shown.element_handle())
    assert shown.evaluate("el => [el.clientWidth, el.clientHeight]") == [36, 36]


def test_the_latest_of_my_messages_says_sent_delivered_then_seen_by_its_reader(person):
    alice, bob, carol = person(), person(), person()
    chat_id = open_shared_chat(alice, bob, carol)
    for page in (bob, carol):
        page.goto("/")  # on the dashboard: messages reach them, but they do not read them
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    first = sent(alice, "did you read this?")
    receipt = article(alice, first).locator(".msg-receipt")
    expect(receipt).to_have_text("Delivered", timeout=5_000)

    bob.goto(f"/chats/{chat_id}")

    expect(receipt).to_have_text(f"Seen by {bob.username.upper()}", timeout=5_000)
    second = sent(alice, "and this?")
    # One line, under the latest only; the earlier message tells its state on hover.
    expect(alice.locator(".msg-receipt")).to_have_count(1)
    expect(article(alice, second).locator(".msg-receipt")).to_have_text(f"Seen by {bob.username.upper()}",
                                                                       timeout=5_000)
    mark = "el => getComputedStyle(el, '::after').display + ' ' + getComputedStyle(el, '::after').content"
    earlier = article(alice, first)
    assert earlier.locator(".msg-meta").evaluate(mark).startswith("none")
    earlier.hover()
    assert "seen" in earlier.locator(".msg-meta").evaluate(mark)
    # Bob sees no receipt of his own under alice's messages.
    expect(bob.locator(".msg-receipt")).to_have_count(0)
