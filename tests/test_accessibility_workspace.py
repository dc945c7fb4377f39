"""axe-core on the directory's, a preview's, a reaction's and administration's pages, as
tests/test_accessibility.py checks the chat's (its module docstring says how)."""
import pytest

from .support.accessibility import cases, check, site  # noqa: F401 (site: the module's fixture)

pytestmark = [pytest.mark.browser, pytest.mark.rendering]

PAGES = {
    "channel directory": ("/directory", True, True),
    "people directory": ("/directory/people", True, False),
    "channel preview": ("/chats/{public}", True, True),
    "react to a message": ("/chats/{chat}/messages/{theirs}/reactions", True, True),
    # alice registered first: she owns the workspace.
    "invitations": ("/admin/invitations", True, False),
    "invitation link": ("{invitation}", False, False),
    "admin people": ("/admin/people", True, False),
    "admin channels": ("/admin/channels", True, False),
    "admin settings": ("/admin/settings", True, False),
    "admin audit log": ("/admin/audit", True, False),
}


@pytest.mark.parametrize("name, theme, width, js", cases(PAGES))
def test_no_page_has_critical_or_serious_accessibility_violations(site, name, theme, width, js):  # noqa: F811
    check(site, PAGES, name, theme, width, js)
