"""Every browser test fails on a page error or a console error it did not expect.

The session's Chromium (tests/conftest.py, `chromium`) watches every context made from it: an
uncaught error in a page, or a console message of type "error", is recorded against the test
that is running. At the end of the test the records must be empty, except for what the test
allowed with the `page_errors` fixture: `page_errors.allow(r"regex", why)` for what the test
provokes on purpose (a refusal it asks for, an outage it makes).
"""
import re
from dataclasses import dataclass, field


@dataclass
class PageErrors:
    """What the pages of the running test reported, and what the test said it expects."""

    seen: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str, why: str) -> None:  # noqa: ARG002 - why: read by people, not code
        """Expect console errors matching pattern (re.search) in this test."""
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        seen = _without_aborts(self.seen)
        return [text for text in seen if not any(p.search(text) for p in self.allowed)]

    def expect_none(self, *pages) -> None:
        """No unexpected error so far (checked mid-test; the end of every test checks anyway)."""
        for page in pages:
            page.wait_for_timeout(200)  # Playwright hands over a page's events while it waits on it
        unexpected = self.unexpected()
        assert not unexpected, f"{len(unexpected)} errors, the first: {unexpected[:5]}"

    def reset(self) -> None:
        self.seen.clear()
        self.allowed.clear()


CURRENT = PageErrors()

# Requests an outage stopped: Chromium says so, and htmx logs their htmx:sendError (which the page
# turns into its banner), htmx:timeout (a poll down a dead line) and htmx:afterRequest before any
# listener hears of them.
OUTAGE_NOISE = (r"^console: (Failed to load resource|WebSocket connection to|htmx:sendError|htmx:timeout"
                r"|htmx:afterRequest)")


# A request cancelled by the browser, as it does to a page's requests in flight when the page
# navigates away (a link clicked while a poll is on its way): htmx logs its htmx:afterRequest and
# htmx:sendAbort as errors, one right after the other. Nothing failed: the page is being left.
ABORTED = re.compile(r"^console: htmx:sendAbort\b")
AFTER_REQUEST = re.compile(r"^console: htmx:afterRequest\b")


def _without_aborts(seen: list[str]) -> list[str]:
    """seen without each cancelled request's pair of lines (ABORTED, and the line before it)."""
    kept: list[str] = []
    for text in seen:
        if ABORTED.search(text):
            if kept and AFTER_REQUEST.search(kept[-1]):
                kept.pop()
            continue
        kept.append(text)
    return kept


def _console(message) -> None:
    if message.type == "error":
        location = message.location or {}
        CURRENT.seen.append(f"console: {message.text} ({location.get('url', '')})")


def _web_error(web_error) -> None:
    CURRENT.seen.append(f"page error: {web_error.error}")


def watch(browser) -> None:
    """Make every context made with browser.new_context report into CURRENT."""
    new_context = browser.new_context

    def watched_context(*args, **kwargs):
        context = new_context(*args, **kwargs)
        context.on("console", _console)
        context.on("weberror", _web_error)
        return context

    browser.new_context = watched_context
