"""A team's first day in Chromium, on a workspace as it ships: registration by invitation and a
#general everyone joins. The owner invites someone with a link; the newcomer registers with it,
lands in #general (where the team already talks), finds a public channel in the directory and
joins it; the owner, who had #general open, sees them arrive."""
import re
import uuid

import pytest
from playwright.sync_api import expect

from .conftest import _TMP
from .support import services
from .support.browser import BrowserPeople, expect_live, post_messages


@pytest.fixture(scope="module")
def server():
    with services.module_server("workspace", _TMP, extra_env={
            "WEBCHAT_REGISTRATION": "invite", "WEBCHAT_DEFAULT_CHANNEL": "general"}) as live:
        yield live


def test_a_newcomer_invited_by_link_lands_in_general_and_joins_a_public_channel_from_the_directory(
        chromium, server):
    people = BrowserPeople(chromium, server.url)
    try:
        owner = people("owner")  # the first account may register: it owns the workspace and made #general
        general = owner.locator(".chat-item", has_text="general")
        expect(general).to_have_count(1)
        general.locator("a").first.click()
        owner.wait_for_url(re.compile(r"/chats/\d+$"))
        general_id = int(owner.url.rsplit("/", 1)[1])
        expect_live(owner)
        post_messages(owner, general_id, ["good morning, team"])

        # A public channel, made with the form as anyone would.
        word = uuid.uuid4().hex[:6]
        owner.goto("/")
        owner.fill("input[name=name]", f"launch-{word}")
        owner.check("input[name=visibility][value=public]")
        owner.fill("input[name=topic]", "Where the launch is planned")
        owner.click("text=Create chat")
        owner.wait_for_url(re.compile(r"/chats/\d+$"))
        launch_id = int(owner.url.rsplit("/", 1)[1])

        # The invitation link, made in Administration and shown once.
        owner.get_by_role("link", name="Administration").click()
        owner.get_by_role("navigation").get_by_role("link", name="Invitations").click()
        owner.get_by_role("button", name="Create invitation link").click()
        link = owner.input_value("#invitation-link")
        assert re.fullmatch(rf"{re.escape(server.url)}/invite/[\w-]+", link), link
        owner.goto(f"/chats/{general_id}")
        expect_live(owner)

        # Without the link, registering is refused; with it, the newcomer is in.
        newcomer_context = chromium.new_context(base_url=server.url)
        people.contexts.append(newcomer_context)
        newcomer = newcomer_context.new_page()
        newcomer.goto("/register")
        expect(newcomer.get_by_text("Registration is by invitation")).to_be_visible()
        newcomer.goto(link)
        username = f"newcomer{word}"
        newcomer.fill("input[name=username]", username)
        newcomer.fill("input[name=display_name]", f"Newcomer {word}")
        newcomer.fill("input[name=password]", "password123")
        newcomer.get_by_role("button", name=re.compile("Join|Create|Register")).click()

        newcomer.wait_for_url(f"**/chats/{general_id}")
        expect(newcomer.locator("#chat-pane h2").first).to_contain_text("general")
        expect(newcomer.get_by_role("status").filter(has_text="You're in #general")).to_be_visible()
        expect(newcomer.locator("#messages")).to_contain_text("good morning, team")
        expect(owner.locator("#messages")).to_contain_text(f"Newcomer {word} joined")  # live, no reload

        newcomer.get_by_role("link", name="Browse channels").click()
        newcomer.get_by_role("searchbox").fill(word)
        result = newcomer.locator(".directory-item", has_text=f"launch-{word}")
        expect(result).to_have_count(1)
        expect(result).to_contain_text("Where the launch is planned")
        result.get_by_role("button", name="Join").click()
        newcomer.wait_for_url(f"**/chats/{launch_id}")
        expect(newcomer.locator("#composer textarea")).to_be_visible()
        expect(newcomer.locator(f"#chat-item-{launch_id}")).to_be_visible()
        expect(owner.locator(f"#chat-item-{launch_id}")).to_be_visible()
    finally:
        people.close()
