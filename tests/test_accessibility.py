"""axe-core on every page: no critical and no serious violations, in both themes, at a phone's
and a desktop's width, with JavaScript and, where the page differs without it, without (the app's
scripts kept from running). These are the chat's pages; tests/test_accessibility_workspace.py has
the directory's and administration's (two modules: the two test processes check them side by side)."""
import pytest

from .support.accessibility import cases, check, site  # noqa: F401 (site: the module's fixture)

pytestmark = [pytest.mark.browser, pytest.mark.rendering]

# Without JavaScript too: the pages made for browsers without it, and the chat, whose forms and
# links show differently then.
PAGES = {
    "login": ("/login", False, False),
    "register": ("/register", False, False),
    "dashboard": ("/", True, False),
    "chat": ("/chats/{chat}", True, True),
    "message link": ("/chats/{chat}/messages/{theirs}", True, False),
    "older history": ("/chats/{chat}?before={newest}", True, True),
    "members": ("/chats/{chat}/members", True, False),
    "search": ("/search?q=deploy", True, False),
    "settings": ("/settings", True, False),
    "new message": ("/new?q=bob", True, True),
    "edit message": ("/chats/{chat}/messages/{mine}/edit", True, True),
    "delete message": ("/chats/{chat}/messages/{mine}/delete", True, True),
    "quote message": ("/chats/{chat}/messages/{theirs}/quote", True, True),
    "thread": ("/chats/{chat}/threads/{theirs}", True, True),  # the chat with the thread's pane open
    "threads": ("/threads", True, False),
}


@pytest.mark.parametrize("name, theme, width, js", cases(PAGES))
def test_no_page_has_critical_or_serious_accessibility_violations(site, name, theme, width, js):  # noqa: F811
    check(site, PAGES, name, theme, width, js)
