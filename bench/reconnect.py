"""How long is a page not Live after its network comes back, and how long does a dead line go unnoticed?

Starts the app under gunicorn -k gevent (one worker, SQLite in a temp dir, the shipped heartbeat
of 10 s, polls every 20 s while the socket is down) behind a TCP proxy on 127.0.0.1, and one
signed-in page in Chromium (Playwright) that reaches it through the proxy. The page's own
"webchat:connection" events, timed by the page's clock, say when it left and came back to Live.

  offline cuts     context.set_offline(True), 1 s, set_offline(False): network back -> Live
  proxy cuts       the proxy closes every connection and refuses new ones for --outage s, then
                   forwards again (no online event: the page's probes find it)
  proxy pauses     the proxy forwards nothing on any connection, open or new, for --pause s
                   (nothing closes; longer than the page's 25-s window, so the page sees it),
                   then forwards new connections again: resume -> Live
  half-open        the proxy stops forwarding on the open connections without closing them:
                   stall -> the page says it is not Live (detected), and -> Live again

    .venv/bin/python bench/reconnect.py [--cuts 20] [--proxy-cuts 10] [--outage 15]
                                        [--pauses 3] [--pause 40] [--stalls 3]

Not a test: nothing asserts. tests/test_browser_connection.py checks the behaviour against the
issue's bounds; this measures it.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.browser import BrowserPeople  # noqa: E402
from tests.support.faults import TcpProxy  # noqa: E402
from tests.support.services import LiveServer, chromium_browser  # noqa: E402

SHIPPED = {"WEBCHAT_POLL_INTERVAL": "20", "WEBCHAT_POLL_INTERVAL_LIVE": "300"}
# Every change of the page's state, with the page's clock (an init script: CSP does not apply).
RECORD_STATES = """window.states = [];
document.addEventListener('webchat:connection', (e) => window.states.push([e.detail.state, Date.now()]));"""


def now_in(page) -> int:
    return page.evaluate("Date.now()")


def wait_state(page, wanted: str, timeout_s: float, since: int) -> int:
    """The page-clock time of the first change to `wanted` after `since` (ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for state, at in page.evaluate("window.states"):
            if state == wanted and at >= since:
                return at
        page.wait_for_timeout(20)
    raise TimeoutError(f"the page did not become {wanted} within {timeout_s} s")


def wait_not_live(page, timeout_s: float, since: int) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for state, at in page.evaluate("window.states"):
            if state != "live" and at >= since:
                return at
        page.wait_for_timeout(20)
    raise TimeoutError(f"the page stayed Live for {timeout_s} s")


def offline_cuts(page, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        page.context.set_offline(True)
        wait_state(page, "offline", 10, now_in(page) - 1000)
        page.wait_for_timeout(1000)
        back = now_in(page)
        page.context.set_offline(False)
        seconds.append((wait_state(page, "live", 60, back) - back) / 1000)
        page.wait_for_timeout(300)
    return seconds


def proxy_cuts(page, proxy: TcpProxy, count: int, outage: float) -> list[float]:
    seconds = []
    for _ in range(count):
        cut = now_in(page)
        proxy.cut()
        wait_not_live(page, 10, cut)
        page.wait_for_timeout(outage * 1000)
        back = now_in(page)
        proxy.restore()
        seconds.append((wait_state(page, "live", 120, back) - back) / 1000)
    return seconds


def pauses(page, proxy: TcpProxy, count: int, pause: float) -> list[float]:
    seconds = []
    for _ in range(count):
        paused = now_in(page)
        proxy.pause()
        wait_not_live(page, pause, paused)
        page.wait_for_timeout(max(0, paused + pause * 1000 - now_in(page)))
        back = now_in(page)
        proxy.resume()
        seconds.append((wait_state(page, "live", 120, back) - back) / 1000)
    return seconds


def stalls(page, proxy: TcpProxy, count: int) -> list[tuple[float, float]]:
    found = []
    for _ in range(count):
        stalled = now_in(page)
        proxy.stall()
        detected = wait_not_live(page, 120, stalled)
        live = wait_state(page, "live", 120, detected)
        found.append(((detected - stalled) / 1000, (live - stalled) / 1000))
    return found


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, worst {max(values):.2f} s (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cuts", type=int, default=20)
    parser.add_argument("--proxy-cuts", type=int, default=10)
    parser.add_argument("--outage", type=float, default=15)
    parser.add_argument("--pauses", type=int, default=3)
    parser.add_argument("--pause", type=float, default=40)
    parser.add_argument("--stalls", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-reconnect-"))
    with LiveServer(f"sqlite:///{tmp / 'bench.db'}", tmp, extra_env=SHIPPED) as server, \
            TcpProxy("127.0.0.1", server.port) as proxy, chromium_browser() as chromium:
        people = BrowserPeople(chromium, f"http://127.0.0.1:{proxy.port}")
        try:
            page = people()
            page.context.add_init_script(RECORD_STATES)
            page.reload()
            wait_state(page, "live", 30, 0)
            if args.cuts:
                print(f"offline cuts, network back -> Live: {summary(offline_cuts(page, args.cuts))}")
            if args.proxy_cuts:
                back = proxy_cuts(page, proxy, args.proxy_cuts, args.outage)
                print(f"proxy cuts of {args.outage:g} s, network back -> Live: {summary(back)}")
            if args.pauses:
                back = pauses(page, proxy, args.pauses, args.pause)
                print(f"proxy pauses of {args.pause:g} s, forwarding again -> Live: {summary(back)}")
            if args.stalls:
                found = stalls(page, proxy, args.stalls)
                print(f"half-open line, stall -> not Live (detected): {summary([d for d, _ in found])}")
                print(f"half-open line, stall -> Live again: {summary([live for _, live in found])}")
        finally:
            people.close()


if __name__ == "__main__":
    main()
