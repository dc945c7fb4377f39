"""axe-core on the app's pages (tests/test_accessibility*.py): one seeded server, one browser, one
signed-in context per combination of theme, width and JavaScript, made once per module; the checks
are split over modules so that the two test processes share them (each module runs in one).
axe-core is vendored for the tests only (tests/support/vendor/VENDORED)."""
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from .stored import set_public
from .wsclient import Person, new_client_id

AXE = (Path(__file__).parent / "vendor" / "axe-4.14.1.min.js").read_text()
FAILING = ("critical", "serious")
# Rules axe rates "moderate" that issue 21 found broken on every page: held to zero as well.
ALSO_FAILING = ("page-has-heading-one", "landmark-unique")
WIDTHS = {"phone": {"width": 375, "height": 740}, "desktop": {"width": 1440, "height": 900}}
THEMES = ("light", "dark")




def cases(pages: dict) -> list:
    """pages: name -> (its URL, filled in from the seeded chat; whether it needs signing in; whether
    it is checked without JavaScript too). Each in both themes, at both widths."""
    return [pytest.param(name, theme, width, js, id=f"{name}-{theme}-{width}{'' if js else '-no-js'}")
            for name, (_, _, no_js) in pages.items() for theme in THEMES for width in WIDTHS
            for js in ((True, False) if no_js else (True,))]


class Site:
    """A seeded chat on the module's server and browser contexts made on demand, kept for the module."""

    def __init__(self, chromium, base_url: str) -> None:
        self.chromium, self.base_url = chromium, base_url
        alice, bob = Person.register(base_url, "alice"), Person.register(base_url, "bob")
        chat = alice.create_chat("Deploys", [bob])
        mine = alice.send(chat, "Shall we **deploy** on Friday? Notes: https://example.com/" + "notes-" * 20)
        alice.send(chat, f"@{bob.username} the checklist:\n\n- build\n- `migrate`\n- deploy")
        theirs = bob.send(chat, "```\nflask --app wsgi db upgrade\n```\nand then deploy 🚀")
        newest = bob.send(chat, "> Shall we deploy on Friday?\n\nYes, after lunch.")
        # A quote-reply (its preview above its text) after the newest: on the chat page only.
        quoted = bob.post(f"/chats/{chat}/messages", {"body": "Friday it is.", "client_id": new_client_id(),
                                                      "reply_to": str(mine)})
        assert quoted.status == 302, quoted
        alice.post(f"/chats/{chat}/messages/{theirs}/reactions", {"emoji": "👍"})
        public = bob.create_chat("Releases", [])  # made public by the fixture: alice finds and previews it
        bob.send(public, "Release notes go here, **every Friday**.")
        # alice registered first: the owner, who makes an e-mail-bound invitation (its page asks the most).
        alice.post("/admin/invitations", {"days": "7", "uses": "5", "email": "dana@example.com"})
        invitation = re.search(r'id="invitation-link"[^>]* value="[^"]*?(/invite/[^"]+)"',
                               alice.get("/admin/invitations").text)[1]
        self.ids = {"chat": chat, "mine": mine, "theirs": theirs, "newest": newest, "public": public,
                    "invitation": invitation}
        self.alice = alice
        self.contexts = {}

    def context(self, theme: str, width: str, js: bool, signed_in: bool):
        key = (theme, width, js, signed_in)
        if key not in self.contexts:
            context = self.chromium.new_context(base_url=self.base_url, viewport=WIDTHS[width], color_scheme=theme)
            context.set_default_timeout(15_000)
            # Into every page as the test's own script: the page's CSP (script-src 'self') refuses a <script>.
            context.add_init_script(AXE)
            if not js:
                # The page as a browser without JavaScript shows it: none of the app's scripts run.
                # (java_script_enabled=False would stop axe too, which needs timers and promises.)
                context.route("**/static/*.js", lambda route: route.fulfill(content_type="text/javascript", body=""))
            if signed_in:
                page = context.new_page()
                page.goto("/login")
                page.fill("input[name=username]", self.alice.username)
                page.fill("input[name=password]", self.alice.password)
                page.click("button[type=submit]")
                page.wait_for_url(self.base_url + "/")
                page.close()
            self.contexts[key] = context
        return self.contexts[key]

    def close(self) -> None:
        for context in self.contexts.values():
            context.close()


@pytest.fixture(scope="module")
def site(chromium, server):
    """The module's seeded server as axe sees it (a test module imports this fixture)."""
    made = Site(chromium, server.url)
    set_public(server, made.ids["public"], topic="What ships, and when")
    yield made
    made.close()


def violations(page) -> list[dict]:
    """axe-core's critical and serious violations on the page as it stands, and ALSO_FAILING's."""
    found = page.evaluate("""async () => {
        const results = await axe.run(document, {resultTypes: ["violations"]});
        return results.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary)}));
    }""")
    return [v for v in found if v["impact"] in FAILING or v["id"] in ALSO_FAILING]



def check(site, pages: dict, name: str, theme: str, width: str, js: bool) -> None:
    """The page in this theme, width and JavaScript has no violation that fails (violations)."""
    url, signed_in, _ = pages[name]
    page = site.context(theme, width, js, signed_in).new_page()
    try:
        page.goto(url.format(**site.ids))
        if js and page.locator("#connection").count():  # the app's pages: checked once settled and live
            expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        found = violations(page)
    finally:
        page.close()
    assert not found, "\n".join(f"{v['impact']} {v['id']} ({v['help']}):\n  " + "\n  ".join(v["nodes"][:8])
                                for v in found)
