"""A connection that drops, as a person sees it in Chromium: every close but "you may not"
reconnects and catches up, a line gone silent is found within its window, the network coming
back is Live within 2 s, and the badge and the banner tell the truth without covering the composer.

This module's server sends a heartbeat every 2 s on a quiet socket (so its pages give a silent
socket 5 s), and its pages poll every 2 s while the socket is down, 120 s while it is up. Some
pages reach it through a TCP proxy the tests cut or stall. Every test fails on a page error or
a console error (tests/conftest.py), but for the browser's and htmx's own word that a request the
outage stopped failed.
"""
import time

import pytest
from playwright.sync_api import expect

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, SocketCut, open_shared_chat, send
from .support.faults import TcpProxy
from .support.page_errors import OUTAGE_NOISE

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1100, "height": 750}
PHONE = {"width": 390, "height": 700}


@pytest.fixture(scope="module")
def server():
    with services.module_server("connection", _TMP, extra_env={"WEBCHAT_SOCKET_HEARTBEAT_SECONDS": "2"}) as live:
        yield live


@pytest.fixture(scope="module")
def proxy(server):
    with TcpProxy("127.0.0.1", server.port) as forwarder:
        yield forwarder


@pytest.fixture
def person(chromium, server, proxy, page_errors):
    """person(via_proxy=False) -> a page of a new signed-in user."""
    direct, proxied = BrowserPeople(chromium, server.url), BrowserPeople(chromium, f"http://127.0.0.1:{proxy.port}")
    page_errors.allow(OUTAGE_NOISE, "the outages these tests make")

    def make(via_proxy=False):
        return (proxied if via_proxy else direct)()
    yield make
    direct.close()
    proxied.close()
    proxy.resume()
    proxy.restore()


def badge(page):
    return page.locator("#connection")


def banner(page):
    return page.locator("#flash .flash")


def assert_composer_in_view(page) -> None:
    """The composer's buttons (Send, Attach files, Upload files) lie wholly inside the window."""
    size = page.viewport_size
    controls = page.locator("#composer button:visible, #composer .attach-pick:visible")
    assert controls.count() >= 2
    for i in range(controls.count()):
        box = controls.nth(i).bounding_box()
        assert box and box["x"] >= 0 and box["y"] >= 0, f"control {i} is off screen: {box}"
        assert box["x"] + box["width"] <= size["width"] and box["y"] + box["height"] <= size["height"], \
            f"control {i} lies outside the {size} window: {box}"


def assert_composer_in_view_at_any_width(page) -> None:
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        assert_composer_in_view(page)


@pytest.mark.parametrize("code", [1000, 1001, 1006, 1011, 1012, 1013])
def test_after_any_close_but_you_may_not_the_page_reconnects_and_shows_what_it_missed_once(person, proxy, code):
    """1006 is the TCP connection killed (by the proxy, which then refuses new ones for a while:
    the page's polls fail and its banner comes up); the others are close frames with that code."""
    alice, bob = person(), person(via_proxy=code == 1006)
    open_shared_chat(alice, bob)
    if code == 1006:
        proxy.cut()
        expect(badge(bob)).not_to_have_attribute("data-state", "live")
        expect(banner(bob)).to_contain_text("Couldn't reach webchat")
        assert_composer_in_view_at_any_width(bob)
    else:
        cut = SocketCut(bob)
        cut.cut(code)
    send(alice, f"while away {code}")
    expect(alice.locator("#messages .msg", has_text=f"while away {code}")).to_have_count(1)
    if code == 1006:
        proxy.restore()
    else:
        cut.restore()

    expect(badge(bob)).to_have_attribute("data-state", "live", timeout=30_000)
    expect(bob.locator("#messages .msg", has_text=f"while away {code}")).to_have_count(1)
    expect(banner(bob)).to_have_count(0)
    assert_composer_in_view_at_any_width(bob)


def test_a_quiet_line_stays_live_and_one_gone_silent_without_closing_is_replaced_within_the_window(person, proxy):
    alice, bob = person(), person(via_proxy=True)
    open_shared_chat(alice, bob)
    # The page says each change of its state (the badge may leave Live for less than a second).
    bob.evaluate("""window.states = [];
        document.addEventListener('webchat:connection', (e) => window.states.push(e.detail.state))""")
    bob.wait_for_timeout(6_000)  # longer than the page's 5 s window: the heartbeats keep it Live
    assert bob.evaluate("states") == []
    proxy.stall()  # bob's socket stays open and hears nothing more, as after a Wi-Fi change
    stalled = time.monotonic()
    send(alice, "said into the silence")
    bob.wait_for_function("() => states.length > 1 && states.at(-1) === 'live' && webchat.isLive()", timeout=30_000)
    assert time.monotonic() - stalled <= 30, "the silent connection was not replaced within 30 s"
    assert bob.evaluate("states")[0] == "reconnecting"
    expect(bob.locator("#messages .msg", has_text="said into the silence")).to_have_count(1)


def test_a_proxy_that_stops_forwarding_for_a_while_is_shown_and_the_page_is_live_within_two_seconds_of_its_return(
        person, proxy):
    """Nothing the browser can see: no close, no offline event; requests and sockets opened
    meanwhile go nowhere and never end (what they sent is lost)."""
    alice, bob = person(), person(via_proxy=True)
    open_shared_chat(alice, bob)
    bob.evaluate("""window.states = [];
        document.addEventListener('webchat:connection', (e) => window.states.push([e.detail.state, Date.now()]))""")
    proxy.pause()
    paused = time.monotonic()
    expect(badge(bob)).not_to_have_attribute("data-state", "live", timeout=15_000)
    send(alice, "while the proxy stood still")
    expect(alice.locator("#messages .msg", has_text="while the proxy stood still")).to_have_count(1)
    bob.wait_for_timeout(max(0, 15 - (time.monotonic() - paused)) * 1000)
    assert not bob.evaluate("webchat.isLive()")

    resumed = bob.evaluate("Date.now()")  # the page's clock, as its states are
    proxy.resume()
    bob.wait_for_function("(since) => states.some(([s, at]) => s === 'live' && at >= since) && webchat.isLive()",
                          arg=resumed, timeout=30_000)
    live_at = bob.evaluate("(since) => states.find(([s, at]) => s === 'live' && at >= since)[1]", resumed)
    assert live_at - resumed <= 2_000, f"Live {live_at - resumed} ms after the proxy forwarded again"
    expect(bob.locator("#messages .msg", has_text="while the proxy stood still")).to_have_count(1)
    expect(banner(bob)).to_have_count(0)


def test_a_browser_back_online_is_live_within_two_seconds_and_shows_what_it_missed(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    bob.context.set_offline(True)  # Chromium keeps the socket "open": the page must not say Live
    expect(badge(bob)).to_have_attribute("data-state", "offline")
    expect(badge(bob)).to_contain_text("Offline")
    send(alice, "while bob was offline")
    expect(alice.locator("#messages .msg", has_text="while bob was offline")).to_have_count(1)

    bob.context.set_offline(False)
    expect(badge(bob)).to_have_attribute("data-state", "live", timeout=2_000)
    expect(bob.locator("#messages .msg", has_text="while bob was offline")).to_have_count(1)
    expect(banner(bob)).to_have_count(0)
    assert_composer_in_view_at_any_width(bob)


def test_a_socket_closed_because_the_user_may_not_stays_closed_and_says_signed_out(person):
    alice, bob = person(), person()
    open_shared_chat(alice, bob)
    cut = SocketCut(bob)
    sockets = len(cut.sockets)
    cut.cut(1008)
    expect(badge(bob)).to_have_attribute("data-state", "signed-out")
    expect(banner(bob)).to_contain_text("You were signed out")
    bob.wait_for_timeout(3_000)  # a reconnect would have come within 1 s
    assert len(cut.sockets) == sockets
    expect(badge(bob)).to_contain_text("Signed out")
