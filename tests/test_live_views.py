"""What a tab shows in view, as the notification rule reads it: by person (views) and by chat
(viewers), in this process and in Redis (several workers), as tabs open, move, hide and close."""
import os
import random

import pytest

from webchat.realtime.live_state import InProcessLiveState

from .support import services


@pytest.fixture(params=["in-process", "redis"])
def live(request):
    if request.param == "in-process":
        return InProcessLiveState()
    from webchat.realtime.redis_hub import RedisLiveState

    url = os.environ.get("WEBCHAT_TEST_REDIS_URL") or "redis://127.0.0.1:6379/0"
    problem = services.redis_reachable(url)
    if problem:
        services.unavailable(f"Redis at {url} is not reachable: {problem}")
    return RedisLiveState(url)


def ids(n: int) -> list[int]:
    """Users and chats of this test only (the machine's Redis is shared with other runs)."""
    start = random.randrange(10**9, 10**12)
    return list(range(start, start + n))


def test_a_chats_viewers_are_the_visible_tabs_showing_it_with_their_places(live):
    ann, bea, cy = ids(3)
    chat, other = ids(2)
    for user in (ann, bea, cy):
        live.tab_opened(user, "t1")
    live.set_view(ann, "t1", str(chat))
    live.set_view(bea, "t1", f"{chat} t77")
    live.set_view(cy, "t1", str(other))
    assert live.viewers(chat) == {ann: {str(chat)}, bea: {f"{chat} t77"}}
    assert live.viewers(other) == {cy: {str(other)}}
    assert live.views([ann, bea, cy]) == {ann: {str(chat)}, bea: {f"{chat} t77"}, cy: {str(other)}}


def test_a_tab_that_moves_hides_or_closes_leaves_the_chats_viewers(live):
    ann, bea = ids(2)
    chat, other = ids(2)
    live.tab_opened(ann, "t1")
    live.tab_opened(ann, "t2")
    live.tab_opened(bea, "t1")
    live.set_view(ann, "t1", str(chat))
    live.set_view(ann, "t2", str(chat))
    live.set_view(bea, "t1", str(chat))
    live.set_view(ann, "t1", str(other))  # moved to another chat
    live.set_view(ann, "t2", f"{chat} t5")  # a thread's pane opened: still this chat
    assert live.viewers(chat) == {ann: {f"{chat} t5"}, bea: {str(chat)}}
    live.set_view(ann, "t2", None)  # hidden
    live.set_view(bea, "t1", "")  # visible, no chat open
    assert live.viewers(chat) == {}
    assert live.viewers(other) == {ann: {str(other)}}
    live.tab_closed(ann, "t1")
    assert live.viewers(other) == {}
    assert live.views([ann, bea]) == {bea: {""}}
