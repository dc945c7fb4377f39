"""Following threads (issue 23): who follows a thread, the Threads badge and its "@", reading a
thread, following and unfollowing by choice, the Threads view, and what each person's own channel
is sent (their badge, their button; the notifier's notice of a reply) — as request tests."""

import pytest

from webchat.core import notifier
from webchat.realtime.hub import user_channel

from .support.pages import chat_list, parse
from .support.records import Recorder, create_group, stored_messages
from .support.records import message_sent as send
from .support.records import reply_sent as reply


@pytest.fixture
def own_channel(app):
    """own_channel(username) -> the frames published to that person's own channel from now on."""
    from webchat.models import User

    def listen(username: str) -> Recorder:
        recorder = Recorder()
        with app.app_context():
            user_id = User.query.filter_by(username=username).one().id
        app.extensions["webchat.hub"].subscribe(user_channel(user_id), recorder)
        return recorder
    return listen


def badge(person) -> tuple[int, int]:
    """The Threads badge on the person's page: (threads with unread replies, "@" mentions)."""
    el = parse(person.get("/").get_data(as_text=True)).by_id("threads-badge")
    assert el is not None, "no Threads badge on the page"
    return int(el.get("data-count")), int(el.get("data-mentions"))


def listed(person, chat_id) -> dict:
    (entry,) = [e for e in chat_list(person.get("/").get_data(as_text=True)) if e["id"] == chat_id]
    return entry


def threads_view(person) -> list[dict]:
    """The Threads view as the person sees it: each thread's id, chat, parent preview and unread count."""
    tree = parse(person.get("/threads").get_data(as_text=True))
    assert tree.by_id("threads-heading") is not None
    return [{"thread": int(li.get("data-thread")), "unread": int(li.get("data-unread")),
             "chat": " ".join(li.find("span", cls="thread-item-chat").text.split()),
             "parent": " ".join(li.find("span", cls="thread-item-parent").text.split())}
            for li in tree.find_all("li", cls="thread-item")]


def follow_button(person, chat_id, parent) -> str:
    form = parse(person.get(f"/chats/{chat_id}/threads/{parent}").get_data(as_text=True)).by_id(f"follow-{parent}")
    assert form is not None, "no follow button in the thread"
    return " ".join(form.find("button").text.split())


# ----- who follows ------------------------------------------------------------------------------

def test_the_author_and_the_repliers_follow_and_only_others_replies_count_as_unread(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "Shall we ship on Friday?")
    assert badge(alice) == (0, 0)  # no replies yet: nothing followed
    reply(bob, chat_id, parent, "Friday works")
    assert badge(alice) == (1, 0)  # her thread got its first reply: she follows it
    assert badge(bob) == (0, 0)  # read up to his own reply
    assert badge(carol) == (0, 0)  # in the chat, not in the thread
    reply(alice, chat_id, parent, "Great")
    assert badge(alice) == (0, 0)  # replying reads it
    assert badge(bob) == (1, 0)


def test_unread_thread_replies_never_count_in_the_channel_but_a_broadcast_reply_does(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    carol.post(f"/chats/{chat_id}/read", {"upto": str(parent)})
    alice.post(f"/chats/{chat_id}/read", {"upto": str(parent)})
    for n in range(3):
        reply(bob, chat_id, parent, f"kept in the thread {n}")
    assert listed(carol, chat_id)["unread"] == 0
    assert listed(alice, chat_id)["unread"] == 0
    assert badge(alice) == (1, 0)
    reply(bob, chat_id, parent, "also in the channel", broadcast=True)
    assert listed(carol, chat_id)["unread"] == 1


def test_a_mention_in_a_thread_follows_it_and_counts_as_a_threads_mention_not_the_channels(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    carol.post(f"/chats/{chat_id}/read", {"upto": str(parent)})
    reply(bob, chat_id, parent, "@carol what do you think?")
    assert badge(carol) == (1, 1)
    entry = listed(carol, chat_id)
    assert entry["mentions"] == 0 and entry["unread"] == 0
    assert [t["thread"] for t in threads_view(carol)] == [parent]


# ----- reading ----------------------------------------------------------------------------------

def test_reading_a_thread_clears_its_unread_replies_and_its_mentions(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    first = reply(bob, chat_id, parent, "one")
    second = reply(bob, chat_id, parent, "@alice two")
    assert badge(alice) == (1, 1)
    assert alice.post(f"/chats/{chat_id}/threads/{parent}/read", {"upto": str(first)}, htmx=True).status_code == 200
    assert badge(alice) == (1, 1)
    assert threads_view(alice)[0]["unread"] == 1
    answer = alice.post(f"/chats/{chat_id}/threads/{parent}/read", {"upto": str(second)}, htmx=True)
    # The answer is the new badge (a page without its socket has no other way to learn it).
    swapped = parse(answer.get_data(as_text=True)).by_id("threads-badge")
    assert swapped.get("hx-swap-oob") == "true" and swapped.get("data-count") == "0"
    assert badge(alice) == (0, 0)
    assert threads_view(alice)[0]["unread"] == 0


def test_reading_past_the_newest_reply_or_backwards_moves_nothing_wrongly(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    first = reply(bob, chat_id, parent, "one")
    alice.post(f"/chats/{chat_id}/threads/{parent}/read", {"upto": "2147483647"})
    assert badge(alice) == (0, 0)
    alice.post(f"/chats/{chat_id}/threads/{parent}/read", {"upto": str(first - 1)})  # never back
    assert badge(alice) == (0, 0)
    reply(bob, chat_id, parent, "two")  # a reply stored after the far-ahead read still counts
    assert badge(alice) == (1, 0)


@pytest.mark.parametrize("upto", [None, "", "-1", "soon"])
def test_a_read_without_a_reply_id_is_refused(trio, upto):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "one")
    response = alice.post(f"/chats/{chat_id}/threads/{parent}/read", {} if upto is None else {"upto": upto})
    assert response.status_code == 400
    assert "up to which reply" in response.get_data(as_text=True)
    assert badge(alice) == (1, 0)


def test_opening_the_thread_page_without_javascript_reads_it(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "one")
    # A page the browser loads by itself (no Sec-Fetch-User) is no sign anyone read it.
    alice.get(f"/chats/{chat_id}/threads/{parent}")
    assert badge(alice) == (1, 0)
    alice.client.get(f"/chats/{chat_id}/threads/{parent}",
                     headers={"Sec-Fetch-User": "?1", "Sec-Fetch-Site": "same-origin"})
    assert badge(alice) == (0, 0)


# ----- following by choice ----------------------------------------------------------------------

def test_following_by_choice_starts_read_and_counts_the_replies_after_it(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "before carol followed")
    assert follow_button(carol, chat_id, parent) == "Follow thread"
    response = carol.post(f"/chats/{chat_id}/threads/{parent}/follow")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/chats/{chat_id}/threads/{parent}")
    assert follow_button(carol, chat_id, parent) == "Unfollow thread"
    assert badge(carol) == (0, 0)
    assert threads_view(carol) == [{"thread": parent, "unread": 0, "chat": "#Team", "parent": "Alice: parent"}]
    reply(bob, chat_id, parent, "after")
    assert badge(carol) == (1, 0)


def test_an_unfollow_holds_until_one_replies_or_is_mentioned_again(trio):
    chat_id, alice, bob, _ = trio
    parent = send(alice, chat_id, "parent")
    reply(bob, chat_id, parent, "one")
    assert alice.post(f"/chats/{chat_id}/threads/{parent}/unfollow").status_code == 302
    assert follow_button(alice, chat_id, parent) == "Follow thread"
    assert badge(alice) == (0, 0) and threads_view(alice) == []
    reply(bob, chat_id, parent, "two")  # not a mention: the unfollow holds (even for its author)
    assert badge(alice) == (0, 0) and threads_view(alice) == []
    reply(bob, chat_id, parent, "@alice three")
    assert badge(alice) == (1, 1)
    alice.post(f"/chats/{chat_id}/threads/{parent}/unfollow")
    assert badge(alice) == (0, 0)
    reply(alice, chat_id, parent, "I'm back")
    assert follow_button(alice, chat_id, parent) == "Unfollow thread"
    reply(bob, chat_id, parent, "welcome")
    assert badge(alice) == (1, 0)


def test_follow_with_htmx_answers_the_button_and_every_tab_of_the_person_gets_it(trio, own_channel):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    carols = own_channel("carol")
    response = carol.post(f"/chats/{chat_id}/threads/{parent}/follow", htmx=True)
    form = parse(response.get_data(as_text=True)).by_id(f"follow-{parent}")
    assert " ".join(form.find("button").text.split()) == "Unfollow thread"
    assert form.find("input", name="csrf_token") is not None
    (frame,) = carols.got
    published = parse(frame)
    assert published.by_id("threads-badge").get("hx-swap-oob") == "true"
    copy = published.by_id(f"follow-{parent}")
    assert copy.get("hx-swap-oob") == "true" and copy.get("data-following") == "1"
    assert copy.find("input", name="csrf_token") is None  # not rendered in carol's session


def test_the_threads_view_lists_unread_threads_first_with_their_chat_and_counts(trio, actor):
    chat_id, alice, bob, carol = trio
    other = create_group(alice, "Elsewhere", "bob")
    old = send(alice, chat_id, "old question")
    new = send(alice, other, "new question")
    reply(bob, chat_id, old, "answer one")
    reply(bob, chat_id, old, "answer two")
    last = reply(bob, other, new, "answer three")
    alice.post(f"/chats/{other}/threads/{new}/read", {"upto": str(last)})
    view = threads_view(alice)
    assert view == [
        {"thread": old, "unread": 2, "chat": "#Team", "parent": "Alice: old question"},
        {"thread": new, "unread": 0, "chat": "#Elsewhere", "parent": "Alice: new question"},
    ]
    page = parse(alice.get("/threads").get_data(as_text=True))
    item = page.by_id(f"thread-item-{old}")
    assert "2 new" in item.text and "answer two" in item.text and "2 replies" in item.text
    assert item.find("a").get("href") == f"/chats/{chat_id}/threads/{old}"
    # htmx asks for the list alone when the badge moves
    fragment = alice.get("/threads", htmx=True, target="threads-list").get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="threads-list"')
    assert threads_view(carol) == []
    assert "You follow no threads yet" in carol.get("/threads").get_data(as_text=True)


def test_someone_who_left_the_chat_no_longer_sees_its_threads(trio):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    reply(carol, chat_id, parent, "mine")
    reply(bob, chat_id, parent, "yours")
    assert badge(carol) == (1, 0)
    assert carol.post(f"/chats/{chat_id}/leave").status_code in (200, 302)
    assert badge(carol) == (0, 0) and threads_view(carol) == []
    assert carol.post(f"/chats/{chat_id}/threads/{parent}/follow").status_code == 404


# ----- what a follower's own channel is sent -----------------------------------------------------

def test_each_follower_but_the_replier_gets_their_badge_and_the_notifier_a_notice_naming_the_thread(
        app, trio, own_channel):
    chat_id, alice, bob, carol = trio
    parent = send(alice, chat_id, "parent")
    reply(carol, chat_id, parent, "carol follows")
    with app.test_request_context():
        notifier.run_once()  # (no one has a tab open yet: nothing to notify)
    live = app.extensions["webchat.live_state"]
    for user_id in user_ids(app, "alice", "carol"):
        live.tab_opened(user_id, "tab")  # hidden tabs: nothing in view
    alices, bobs, carols = own_channel("alice"), own_channel("bob"), own_channel("carol")
    reply_id = reply(bob, chat_id, parent, "@carol here it is")
    assert bobs.got == []
    for frames, count, mentions in ((alices, 1, 0), (carols, 1, 1)):
        (frame,) = frames.got
        tree = parse(frame)
        assert tree.by_id("threads-badge").get("data-count") == str(count)
        assert tree.by_id("threads-badge").get("data-mentions") == str(mentions)
        assert tree.find("template") is None  # who is notified is the notifier's (core/notifications.py)
        frames.got.clear()

    # The notifier's round (after the reply's commit) sends each follower a notice of it.
    with app.test_request_context():
        notifier.run_once()
    for frames, reason in ((alices, "thread"), (carols, "mention")):
        (frame,) = frames.got
        notice = parse(frame).find("template")
        assert notice.get("data-reason") == reason and notice.get("data-message") == str(reply_id)
        assert notice.get("data-chat") == str(chat_id) and notice.get("data-thread") == str(parent)
        assert notice.get("data-href").endswith(f"#t-{reply_id}")
        assert notice.get("data-body") == "@carol here it is"
    assert bobs.got == []
    assert [m.body for m in stored_messages(app, chat_id) if m.thread_id == parent][-1] == "@carol here it is"


def user_ids(app, *usernames: str) -> list[int]:
    from webchat.models import User
    with app.app_context():
        return [User.query.filter_by(username=name).one().id for name in usernames]
