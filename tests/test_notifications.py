"""Who is notified of what, and how (issue 24, "Who gets what"): each rule of core/notifications.py
as its own request test. People act through the app (Actor); what their tabs show is set in the
live state as the socket sets it (tab_opened, set_view); a device is a push_subscriptions row;
the notifier is driven by hand, one round at a time, and what it decided is read from its rows
and from what each person's own channel was sent (the desktop notices their tabs show).
The last tests go through a live server: the socket's "view-state" frame is what the rule reads,
and the Settings form for do-not-disturb hours."""
import itertools
import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import select, text

from webchat.core import notifier
from webchat.core.notifications import Recipient, quiet_now
from webchat.extensions import db
from webchat.models import Notification, PushSubscription, User
from webchat.realtime.hub import user_channel

from .support import records
from .support.pages import form_error, parse
from .support.records import create_group, message_sent, reply_sent, set_user
from .support.wsclient import is_error

_endpoints = itertools.count(1)


class Recorder(records.Recorder):
    """What a person's own channel was published, with their desktop notices read out."""

    def notices(self) -> list[dict]:
        """The desktop notices among the frames (templates/notifications/_notice.html), as data."""
        return [dict(el.attrs) for frame in self.got for el in parse(frame).find_all("template")
                if "data-notify" in el.attrs]


class World:
    """The people of a test (by username), their tabs and devices, and the notifier's rounds."""

    def __init__(self, app) -> None:
        self.app = app
        self.live = app.extensions["webchat.live_state"]
        self.channels: dict[str, Recorder] = {}
        self.seen: dict[int, int] = {}  # rows decided() answered already: id -> messages counted
        app.config.update(NOTIFY_FOLD_SECONDS=0, SMTP_URL=None)

    def user_id(self, username: str) -> int:
        with self.app.app_context():
            return db.session.scalar(select(User.id).where(User.username == username))

    def own_channel(self, username: str) -> Recorder:
        """What the person's own channel is sent from now on (every tab of theirs gets it)."""
        if username not in self.channels:
            self.channels[username] = Recorder()
            self.app.extensions["webchat.hub"].subscribe(user_channel(self.user_id(username)), self.channels[username])
        return self.channels[username]

    def tab(self, username: str, place: str | None = None, tab: str = "tab-1") -> None:
        """An open tab of the person's, showing place in view ("5", "5 t40", "") or hidden (None)."""
        user_id = self.user_id(username)
        self.live.tab_opened(user_id, tab)
        self.live.set_view(user_id, tab, place)

    def device(self, username: str) -> None:
        """A device the person subscribed to push (only that it is there matters here)."""
        with self.app.app_context():
            n = next(_endpoints)
            # (No push service there: a push is refused at once, and retried later.)
            db.session.add(PushSubscription(user_id=self.user_id(username), endpoint=f"https://127.0.0.1:9/push/{n}",
                                            p256dh="p" * 87, auth="a" * 22, device="Test device"))
            db.session.commit()

    def run(self) -> None:
        """One notifier round, as each worker's notifier does when a send wakes it."""
        with self.app.test_request_context():
            notifier.run_once()
            db.session.remove()

    def rows(self) -> list[SimpleNamespace]:
        with self.app.app_context():
            names = dict(db.session.execute(select(User.id, User.username)).all())
            return [SimpleNamespace(id=n.id, user=names[n.user_id], kind=n.kind, reason=n.reason, chat=n.chat_id,
                                    thread=n.thread_id, message=n.message_id, count=n.count, state=n.state,
                                    due_at=n.due_at.replace(tzinfo=UTC) if n.due_at.tzinfo is None else n.due_at)
                    for n in db.session.scalars(select(Notification).order_by(Notification.id))]

    def decided(self) -> set[tuple[str, str, str]]:
        """Run a round; the (person, way, reason) of each notification it decided: new, or one
        still due that took the new message in (folded: a push waiting for its retry, here)."""
        self.run()
        new = [r for r in self.rows() if self.seen.get(r.id) != r.count]
        self.seen.update({r.id: r.count for r in new})
        return {(r.user, r.kind, r.reason) for r in new}

    def move_back(self, seconds: float) -> None:
        """As if `seconds` had passed: every notification was sent and is due that much earlier."""
        with self.app.app_context():
            for row in db.session.scalars(select(Notification)):
                row.due_at -= timedelta(seconds=seconds)
                if row.sent_at is not None:
                    row.sent_at -= timedelta(seconds=seconds)
            db.session.commit()


@pytest.fixture
def world(app):
    return World(app)


@pytest.fixture
def team(trio, world):
    """alice, bob and carol in "Team", bob and carol each with a hidden tab open (so any way they
    are notified shows as a desktop notification): (chat id, alice, bob, carol)."""
    world.tab("bob")
    world.tab("carol")
    return trio


def level(person, chat_id: int, notify: str) -> None:
    response = person.post(f"/chats/{chat_id}/notifications", {"notify": notify})
    assert response.status_code in (200, 302, 303), response.get_data(as_text=True)[:300]


def direct(person, username: str) -> int:
    response = person.post("/dm", {"username": username})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


# ----- why: the reason ---------------------------------------------------------------------------

def test_a_direct_message_notifies_the_other_person_for_the_reason_dm(actor, world):
    alice, _ = actor("alice"), actor("bob")
    chat_id = direct(alice, "bob")
    world.tab("bob")
    bobs = world.own_channel("bob")

    message_sent(alice, chat_id, "Lunch at noon?")

    assert world.decided() == {("bob", "desktop", "dm")}
    [notice] = bobs.notices()
    assert (notice["data-reason"], notice["data-title"], notice["data-body"]) == ("dm", "Alice", "Lunch at noon?")
    assert notice["data-chat"] == str(chat_id) and notice["data-thread"] == ""


def test_a_mention_notifies_the_person_named_for_the_reason_mention(team, world):
    chat_id, alice, bob, carol = team
    message_sent(alice, chat_id, "@bob can you look?")
    assert world.decided() == {("bob", "desktop", "mention"), ("carol", "desktop", "all")}


def test_a_reply_in_a_followed_thread_notifies_its_followers_and_not_the_channels_other_members(team, world):
    chat_id, alice, bob, carol = team
    world.tab("alice")
    parent = message_sent(alice, chat_id, "Ship on Friday?")
    assert world.decided() == {("bob", "desktop", "all"), ("carol", "desktop", "all")}

    reply_sent(bob, chat_id, parent, "Friday works")  # alice follows her thread from its first reply

    assert world.decided() == {("alice", "desktop", "thread")}  # carol is in the chat, not the thread
    [row] = [r for r in world.rows() if r.reason == "thread"]
    assert row.thread == parent


def test_a_followed_threads_reply_notice_names_the_thread_and_opens_it(team, world):
    chat_id, alice, bob, carol = team
    world.tab("alice")
    parent = message_sent(alice, chat_id, "Ship on Friday?")
    world.decided()
    alices = world.own_channel("alice")

    reply = reply_sent(bob, chat_id, parent, "Friday works")
    world.run()

    [notice] = alices.notices()
    assert notice["data-title"] == "Bob replied in a thread in Team"
    assert (notice["data-reason"], notice["data-thread"], notice["data-message"]) == ("thread", str(parent), str(reply))
    assert notice["data-href"].endswith(f"#t-{reply}") and notice["data-tag"] == f"webchat-thread-{parent}"


def test_a_reply_also_sent_to_the_channel_notifies_the_channels_members_too(team, world):
    chat_id, alice, bob, carol = team
    world.tab("alice")
    parent = message_sent(alice, chat_id, "Ship on Friday?")
    world.decided()
    reply_sent(bob, chat_id, parent, "Friday works, everyone", broadcast=True)
    assert world.decided() == {("alice", "desktop", "thread"), ("carol", "desktop", "all")}


def test_under_all_every_message_of_the_chat_notifies(team, world):
    chat_id, alice, bob, carol = team
    message_sent(alice, chat_id, "one")
    assert world.decided() == {("bob", "desktop", "all"), ("carol", "desktop", "all")}
    message_sent(alice, chat_id, "two")
    assert world.decided() == {("bob", "desktop", "all"), ("carol", "desktop", "all")}


def test_under_mentions_only_only_a_mention_notifies(team, world):
    chat_id, alice, bob, carol = team
    level(bob, chat_id, "mentions")
    message_sent(alice, chat_id, "for everyone")
    assert world.decided() == {("carol", "desktop", "all")}
    message_sent(alice, chat_id, "@bob for you")
    assert world.decided() == {("bob", "desktop", "mention"), ("carol", "desktop", "all")}


def test_under_mentions_only_a_followed_threads_reply_or_a_direct_message_notifies_only_if_it_names_one(
        team, world):
    chat_id, alice, bob, carol = team
    parent = message_sent(bob, chat_id, "Mine")
    reply_sent(carol, chat_id, parent, "first")  # bob follows his thread now
    world.decided()
    level(bob, chat_id, "mentions")
    reply_sent(alice, chat_id, parent, "no name here")
    assert not {d for d in world.decided() if d[0] == "bob"}
    reply_sent(alice, chat_id, parent, "@bob over to you")
    assert {d for d in world.decided() if d[0] == "bob"} == {("bob", "desktop", "mention")}

    chat = direct(alice, "bob")
    level(bob, chat, "mentions")
    message_sent(alice, chat, "hello")
    assert world.decided() == set()


def test_a_muted_chat_never_notifies_not_even_of_a_mention_or_a_followed_thread(team, world):
    chat_id, alice, bob, carol = team
    world.device("bob")
    parent = message_sent(bob, chat_id, "Mine")
    reply_sent(carol, chat_id, parent, "first")  # bob follows his thread now
    world.decided()
    level(bob, chat_id, "none")

    message_sent(alice, chat_id, "@bob urgent")
    reply_sent(alice, chat_id, parent, "@bob in the thread too")
    assert not {d for d in world.decided() if d[0] == "bob"}


def test_never_of_ones_own_message(team, world):
    chat_id, alice, bob, carol = team
    world.tab("alice")
    world.device("alice")
    message_sent(alice, chat_id, "@alice note to self")
    assert {d[0] for d in world.decided()} == {"bob", "carol"}


# ----- how: the ways -----------------------------------------------------------------------------

def test_nothing_while_a_visible_tab_shows_the_chat(trio, world):
    chat_id, alice, bob, carol = trio
    world.device("bob")
    world.tab("bob", str(chat_id))
    world.tab("bob", "", tab="tab-2")  # another tab of his, visible, with no chat open: still seen
    message_sent(alice, chat_id, "@bob here it is")
    assert not {d for d in world.decided() if d[0] == "bob"}


def test_a_hidden_tab_on_the_chat_notifies_on_the_desktop_and_every_device(trio, world):
    chat_id, alice, bob, carol = trio
    world.device("bob")
    world.tab("bob", str(chat_id))
    world.tab("bob", None)  # hidden now (the page says so on visibilitychange)
    message_sent(alice, chat_id, "@bob here it is")
    assert {d for d in world.decided() if d[0] == "bob"} == {("bob", "desktop", "mention"), ("bob", "push", "mention")}


def test_online_with_a_visible_tab_on_another_chat_notifies_on_the_desktop_only_no_push(trio, world):
    chat_id, alice, bob, carol = trio
    other = create_group(bob, "Elsewhere")
    world.device("bob")
    world.tab("bob", str(other))
    message_sent(alice, chat_id, "@bob here it is")
    assert {d for d in world.decided() if d[0] == "bob"} == {("bob", "desktop", "mention")}


def test_offline_with_a_device_a_push_and_no_desktop_notice(trio, world):
    chat_id, alice, bob, carol = trio
    world.device("bob")
    bobs = world.own_channel("bob")
    message_sent(alice, chat_id, "@bob here it is")
    assert {d for d in world.decided() if d[0] == "bob"} == {("bob", "push", "mention")}
    assert bobs.notices() == []


def test_offline_with_no_device_and_no_email_nothing(trio, world):
    chat_id, alice, bob, carol = trio
    message_sent(alice, chat_id, "@bob here it is")
    assert not {d for d in world.decided() if d[0] == "bob"}  # no SMTP set up here (e-mail: below)


def test_a_reply_is_not_notified_while_its_threads_pane_is_in_view_but_is_with_only_the_channel(team, world):
    chat_id, alice, bob, carol = team
    parent = message_sent(bob, chat_id, "Mine")
    reply_sent(carol, chat_id, parent, "first")  # bob follows his thread from its first reply
    world.decided()

    world.tab("bob", f"{chat_id} t{parent}")
    reply_sent(alice, chat_id, parent, "second")
    assert not {d for d in world.decided() if d[0] == "bob"}

    world.tab("bob", str(chat_id))  # the pane closed: the channel shows, not the thread's replies
    reply_sent(alice, chat_id, parent, "third")
    assert {d for d in world.decided() if d[0] == "bob"} == {("bob", "desktop", "thread")}


def test_a_channel_message_is_not_notified_to_a_visible_tab_on_its_chat_with_a_threads_pane_open(team, world):
    chat_id, alice, bob, carol = team
    parent = message_sent(alice, chat_id, "A thread")
    world.decided()
    world.tab("bob", f"{chat_id} t{parent}")  # the channel shows beside the pane
    message_sent(alice, chat_id, "in the channel")
    assert not {d for d in world.decided() if d[0] == "bob"}


# ----- do-not-disturb hours ----------------------------------------------------------------------

def zone_at_hour(hour: int, now: datetime) -> str:
    """A fixed-offset IANA zone (Etc/GMT±N) where it is now `hour` o'clock."""
    offset = (hour - now.hour) % 24
    if offset > 14:
        offset -= 24
    # Etc/GMT's signs are POSIX's, the other way round: Etc/GMT-9 is UTC+9.
    return "Etc/GMT" + ("" if offset == 0 else f"{-offset:+d}")


def test_do_not_disturb_hours_across_midnight_in_ones_time_zone_hold_back_desktop_and_push(trio, world):
    chat_id, alice, bob, carol = trio
    world.tab("bob")
    world.device("bob")
    now = datetime.now(UTC)
    midnight = zone_at_hour(0, now)  # where it is past midnight now: 23:00 to 02:00 covers it
    set_user(world.app, "bob", time_zone=midnight, dnd_start=23 * 60, dnd_end=2 * 60)
    message_sent(alice, chat_id, "@bob are you up?")
    assert not {d for d in world.decided() if d[0] == "bob"}

    # The same hours, where it is noon now: he is notified.
    set_user(world.app, "bob", time_zone=zone_at_hour(12, now))
    message_sent(alice, chat_id, "@bob and now?")
    assert {d for d in world.decided() if d[0] == "bob"} == {("bob", "desktop", "mention"), ("bob", "push", "mention")}


def test_quiet_hours_are_read_in_the_persons_time_zone_across_midnight_and_not_at_their_end():
    def quiet(zone, start, end, utc):
        person = Recipient(1, "all", zone, start, end, False, False)
        return quiet_now(person, datetime.fromisoformat(utc + "+00:00"))
    assert quiet("Europe/Paris", 22 * 60, 7 * 60, "2026-12-07T22:30")  # 23:30 in Paris (UTC+1)
    assert quiet("Europe/Paris", 22 * 60, 7 * 60, "2026-12-08T05:59")  # 06:59
    assert not quiet("Europe/Paris", 22 * 60, 7 * 60, "2026-12-08T06:00")  # 07:00: over
    assert not quiet("Europe/Paris", 22 * 60, 7 * 60, "2026-12-07T20:59")  # 21:59
    assert quiet("America/New_York", 9 * 60, 17 * 60, "2026-12-07T14:00")  # 09:00 in New York
    assert not quiet("UTC", 9 * 60, 17 * 60, "2026-12-07T17:00")
    assert not quiet("UTC", None, None, "2026-12-07T12:00")


# ----- folding -----------------------------------------------------------------------------------

def test_quick_messages_fold_one_notification_at_once_then_one_saying_how_many_when_the_window_ends(team, world):
    chat_id, alice, bob, carol = team
    world.app.config["NOTIFY_FOLD_SECONDS"] = 30
    bobs = world.own_channel("bob")

    first = message_sent(alice, chat_id, "one")
    world.run()  # each send wakes the notifier
    message_sent(alice, chat_id, "two")
    world.run()
    third = message_sent(alice, chat_id, "three")
    world.run()

    assert [n["data-body"] for n in bobs.notices()] == ["one"]
    sent, due = [r for r in world.rows() if r.user == "bob"]
    assert (sent.state, sent.message, sent.count) == ("sent", first, 1)
    assert (due.state, due.message, due.count) == ("due", third, 2)
    assert due.due_at > datetime.now(UTC) + timedelta(seconds=20)  # when the 30 s since the first end

    world.move_back(31)
    world.run()
    assert [(n["data-title"], n["data-body"]) for n in bobs.notices()] == [("Alice in Team", "one"),
                                                                          ("Team", "2 new messages")]
    assert bobs.notices()[1]["data-message"] == str(third)


def test_messages_decided_in_one_round_notify_each_with_its_own_words_and_only_later_ones_fold(team, world):
    chat_id, alice, bob, carol = team
    bobs = world.own_channel("bob")
    message_sent(alice, chat_id, "first")
    message_sent(alice, chat_id, "second")
    world.run()  # both in one round, no folding window (as live test servers run)
    assert [n["data-body"] for n in bobs.notices()] == ["first", "second"]

    world.app.config["NOTIFY_FOLD_SECONDS"] = 30
    message_sent(alice, chat_id, "third")
    message_sent(alice, chat_id, "@bob fourth")
    message_sent(alice, chat_id, "fifth")
    world.run()  # the window opened by "second": the three fold into one, due when it ends
    assert [n["data-body"] for n in bobs.notices()] == ["first", "second"]
    world.move_back(31)
    world.run()
    folded = bobs.notices()[-1]
    assert (folded["data-title"], folded["data-body"]) == ("Team", "3 new messages")
    assert folded["data-reason"] == "mention"  # a mention folded in is not lost in "all"


def test_folding_is_per_chat(team, world):
    chat_id, alice, bob, carol = team
    other = create_group(alice, "Other", "bob")
    world.app.config["NOTIFY_FOLD_SECONDS"] = 30
    bobs = world.own_channel("bob")
    message_sent(alice, chat_id, "in Team")
    world.run()
    message_sent(alice, other, "in Other")
    world.run()
    assert [n["data-body"] for n in bobs.notices()] == ["in Team", "in Other"]


# ----- e-mail ------------------------------------------------------------------------------------

def test_email_only_for_a_direct_message_or_mention_that_was_not_pushed(actor, team, world):
    chat_id, alice, bob, carol = team
    world.app.config["SMTP_URL"] = "smtp://127.0.0.1:9"
    dave = actor("dave")
    assert alice.post(f"/chats/{chat_id}/members", {"usernames": "dave"}).status_code in (200, 302)
    world.device("carol")
    for name in ("bob", "carol", "dave"):
        set_user(world.app, name, email=f"{name}@example.org")
    world.decided()

    message_sent(alice, chat_id, "for everyone")
    assert not {d for d in world.decided() if d[1] == "email"}  # "all" is never e-mailed
    message_sent(alice, chat_id, "@bob @carol @dave look")
    assert {d for d in world.decided() if d[1] != "desktop"} == {
        ("bob", "email", "mention"),  # a tab open, no device: a desktop notice and, if unread, an e-mail
        ("carol", "push", "mention"),  # pushed: no e-mail
        ("dave", "email", "mention")}  # away, no device
    emails = [r for r in world.rows() if r.kind == "email"]
    assert all(r.state == "due" and r.due_at > datetime.now(UTC) + timedelta(minutes=9) for r in emails)
    chat = direct(dave, "alice")
    message_sent(alice, chat, "a word")
    assert world.decided() == {("dave", "email", "dm")}


def test_no_email_without_smtp_or_an_address_or_after_unsubscribing(trio, world):
    chat_id, alice, bob, carol = trio
    world.app.config["SMTP_URL"] = "smtp://127.0.0.1:9"
    set_user(world.app, "carol", email="carol@example.org", email_notifications=False)
    message_sent(alice, chat_id, "@bob @carol look")  # bob gave no address, carol unsubscribed
    assert world.decided() == set()
    set_user(world.app, "bob", email="bob@example.org")
    world.app.config["SMTP_URL"] = None
    message_sent(alice, chat_id, "@bob look")
    assert world.decided() == set()


# ----- the socket's view-state frame (a live server) ---------------------------------------------

def say_view_state(tab, chat: int | None, visible: bool, thread: int | None = None) -> None:
    """As connection.js does; answered once a "view" after it is (a socket's frames are taken in order)."""
    tab.send_json({"type": "view-state", "chat": chat, "thread": thread, "visible": visible})
    tab.send_json({"type": "view", "chat": None})
    tab.wait_for(lambda f: '<nav id="chat-list"' in f, timeout=5)


def notices_in(frames) -> list[dict]:
    return [dict(el.attrs) for frame in frames for el in parse(frame).find_all("template") if "data-notify" in el.attrs]


def wait_notice(tab, chat: int, timeout: float = 10) -> dict:
    frame = tab.wait_for(lambda f: any(n["data-chat"] == str(chat) for n in notices_in([f])), timeout=timeout)
    return [n for n in notices_in([frame]) if n["data-chat"] == str(chat)][0]


def test_a_tab_says_what_it_shows_and_the_server_notifies_of_nothing_it_shows(people):
    alice, bob = people.new("alice"), people.new("bob")
    seen, elsewhere = alice.create_chat("Seen", [bob]), alice.create_chat("Elsewhere", [bob])
    tab = bob.open_tab()
    say_view_state(tab, seen, visible=True)

    alice.send(seen, "shown to bob")
    alice.send(elsewhere, "not shown")
    # Notices go out in the order of the messages: the one of "Elsewhere" comes with none before it.
    frames = tab.collect_until(lambda f: bool(notices_in([f])), timeout=10)
    assert [n["data-chat"] for n in notices_in(frames)] == [str(elsewhere)]

    say_view_state(tab, seen, visible=False)  # hidden
    alice.send(seen, "@" + bob.username + " while hidden")
    assert wait_notice(tab, seen)["data-body"] == f"@{bob.username} while hidden"


def test_a_closed_tab_no_longer_holds_back_notifications(people):
    alice, bob = people.new("alice"), people.new("bob")
    chat = alice.create_chat("Closing", [bob])
    first = bob.open_tab()
    say_view_state(first, chat, visible=True)
    first.close()
    second = bob.open_tab()  # hidden: it says nothing
    alice.send(chat, "after the first tab closed")
    assert wait_notice(second, chat)["data-body"] == "after the first tab closed"


@pytest.mark.parametrize(("frame", "words"), [
    ({"visible": "yes"}, "“visible” must be true or false"),
    ({"visible": None}, "“visible” must be true or false"),
    ({"chat": "five"}, "must be a whole number"),
    ({"chat": -1}, "must be a whole number"),
    ({"chat": "OTHER"}, "not available to you"),
    ({"chat": None, "thread": 40}, "only in its chat"),
    ({"thread": 1.5}, "must be a whole number"),
    ({"thread": True}, "must be a whole number"),
    ({"place": "5 t40"}, "Unexpected fields: place"),
], ids=["visible text", "visible null", "chat text", "chat negative", "another's chat", "thread without chat",
        "thread fraction", "thread boolean", "its own place"])
def test_a_malformed_view_state_frame_gets_a_clear_error_and_the_socket_stays_usable(people, frame, words):
    alice, mallory = people.new("alice"), people.new("mallory")
    chat, other = mallory.create_chat("Mine"), alice.create_chat("Not yours")
    tab = mallory.open_tab()
    sent = {"type": "view-state", "chat": chat, "thread": None, "visible": True, **frame}
    if sent["chat"] == "OTHER":
        sent["chat"] = other
    tab.send_json(sent)
    error = tab.wait_for(is_error, timeout=3)
    assert words in re.sub(r"<[^>]+>", "", error).replace("&#34;", '"'), error
    tab.send_json({"type": "view-state", "chat": chat, "thread": None, "visible": True})
    tab.view(chat)
    tab.wait_for(lambda f: '<nav id="chat-list"' in f, timeout=5)
    assert not tab.closed


# ----- Settings: do-not-disturb hours and time zone ----------------------------------------------

def stored_hours(app, username: str) -> tuple:
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return user.dnd_start, user.dnd_end, user.time_zone


def test_settings_save_do_not_disturb_hours_and_time_zone_and_show_them_again(app, actor):
    bob = actor("bob")
    page = parse(bob.get("/settings").get_data(as_text=True))
    section = page.by_id("quiet-hours")
    assert "checked" not in section.find("input", name="dnd").attrs
    assert section.find("option", selected=True).text == "UTC"
    assert "Europe/Paris" in [o.text for o in section.find_all("option")]

    response = bob.post("/settings/quiet-hours", {"dnd": "1", "dnd_start": "22:30", "dnd_end": "07:00",
                                                  "time_zone": "Europe/Paris"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings#quiet-hours")
    assert stored_hours(app, "bob") == (22 * 60 + 30, 7 * 60, "Europe/Paris")
    section = parse(bob.get("/settings").get_data(as_text=True)).by_id("quiet-hours")
    assert "checked" in section.find("input", name="dnd").attrs
    assert (section.find("input", name="dnd_start").get("value"), section.find("input", name="dnd_end").get("value")) \
        == ("22:30", "07:00")
    assert section.find("option", selected=True).text == "Europe/Paris"

    bob.post("/settings/quiet-hours", {"dnd_start": "22:30", "dnd_end": "07:00", "time_zone": "Europe/Paris"})
    assert stored_hours(app, "bob") == (None, None, "Europe/Paris")  # off: no hours, the zone kept


@pytest.mark.parametrize(("form", "words"), [
    ({"time_zone": "Mars/Olympus_Mons"}, "Choose your time zone from the list."),
    ({"time_zone": ""}, "Choose your time zone from the list."),
    ({"dnd_start": "25:00"}, "Give a time of day as hours and minutes, such as 22:00."),
    ({"dnd_end": ""}, "Give a time of day as hours and minutes, such as 22:00."),
    ({"dnd_start": "7pm"}, "Give a time of day as hours and minutes, such as 22:00."),
    ({"dnd_end": "22:00"}, "Do-not-disturb hours need to end at another time than they start."),
], ids=["unknown zone", "no zone", "hour 25", "no end", "7pm", "same start and end"])
def test_settings_refuse_hours_or_a_zone_that_are_not_one_and_change_nothing(app, actor, form, words):
    bob = actor("bob")
    before = stored_hours(app, "bob")
    response = bob.post("/settings/quiet-hours", {"dnd": "1", "dnd_start": "22:00", "dnd_end": "07:00",
                                                  "time_zone": "Asia/Tokyo", **form})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert form_error(page) == words or words in page
    assert stored_hours(app, "bob") == before
    section = parse(page).by_id("quiet-hours")
    assert "checked" in section.find("input", name="dnd").attrs  # the form as typed


def test_settings_quiet_hours_need_a_signed_in_person_and_a_csrf_token(app, actor, anonymous):
    response = anonymous.post("/settings/quiet-hours", {"dnd": "1", "dnd_start": "22:00", "dnd_end": "07:00",
                                                        "time_zone": "UTC"}, csrf=False)
    assert response.status_code in (302, 400, 401)
    bob = actor("bob")
    response = bob.post("/settings/quiet-hours", {"dnd": "1", "dnd_start": "22:00", "dnd_end": "07:00",
                                                  "time_zone": "Asia/Tokyo"}, csrf=False)
    assert response.status_code == 400
    assert stored_hours(app, "bob") == (None, None, "UTC")



def test_in_a_browser_settings_suggest_its_time_zone_and_save_do_not_disturb_hours(chromium, live_server, stored):
    from playwright.sync_api import expect

    from .support.browser import BrowserPeople

    people = BrowserPeople(chromium, live_server.url)
    try:
        page = people("dnd", timezone_id="Asia/Tokyo")
        page.goto("/settings")
        section = page.locator("#quiet-hours")
        expect(section.locator("select[name=time_zone]")).to_have_value("Asia/Tokyo")  # this browser's
        section.locator("input[name=dnd]").check()
        section.locator("input[name=dnd_start]").fill("23:15")
        section.locator("input[name=dnd_end]").fill("06:45")
        section.locator("button[type=submit]").click()
        expect(page.locator("#flash")).to_contain_text("Do-not-disturb hours saved.")
        expect(section.locator("select[name=time_zone]")).to_have_value("Asia/Tokyo")
        expect(section.locator("input[name=dnd_start]")).to_have_value("23:15")
        with stored.engine.connect() as conn:
            row = conn.execute(text("SELECT dnd_start, dnd_end, time_zone FROM users WHERE username = :u"),
                               {"u": page.username}).one()
        assert tuple(row) == (23 * 60 + 15, 6 * 60 + 45, "Asia/Tokyo")
    finally:
        people.close()
