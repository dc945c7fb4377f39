"""The directory in Chromium: a public channel found by typing in the directory, previewed, joined
(the chat list of every tab of the joiner shows it live, the composer takes the preview bar's
place) and left."""
import re
import uuid

from playwright.sync_api import expect

from .support.browser import expect_live, post_messages


def test_a_public_channel_is_found_previewed_joined_and_left(person, server):
    owner, joiner = person("owner"), person("joiner")  # the first account is the workspace's owner
    word = uuid.uuid4().hex[:6]
    name = f"Launch {word}"
    owner.fill("input[name=name]", name)
    owner.check("input[name=visibility][value=public]")
    owner.fill("input[name=topic]", "Where the launch is planned")
    owner.click("text=Create chat")
    owner.wait_for_url("**/chats/*")
    chat_id = int(owner.url.rsplit("/", 1)[1])
    post_messages(owner, chat_id, ["the countdown starts monday"])
    other_tab = joiner.context.new_page()
    other_tab.goto("/")
    expect_live(other_tab)
    expect_live(owner)  # on the channel: its header counts its members
    owners_members = owner.context.new_page()
    owners_members.goto(f"/chats/{chat_id}/members")
    expect_live(owners_members)

    joiner.get_by_role("link", name="Browse channels").click()
    expect(joiner.get_by_role("heading", name="Browse channels")).to_be_visible()
    joiner.get_by_role("searchbox", name="Find a channel by name or topic").fill(word.upper())
    expect(joiner.locator(".directory-item")).to_have_count(1)
    joiner.locator(".directory-item").get_by_role("link", name=re.compile(name)).click()

    expect(joiner.locator("#preview-bar")).to_contain_text(f"You’re previewing #{name}")
    expect(joiner.locator("#messages")).to_contain_text("the countdown starts monday")
    expect(joiner.locator("#composer")).to_have_count(0)

    joiner.locator("#preview-bar").get_by_role("button", name="Join").click()
    expect(joiner.locator("#composer textarea")).to_be_visible()
    expect(joiner.locator(f"#chat-item-{chat_id}")).to_be_visible()
    expect(other_tab.locator(f"#chat-item-{chat_id}")).to_be_visible()  # live, without a reload
    expect(joiner.locator("#messages")).to_contain_text(f"{joiner.display_name} joined")
    # The members already there see them arrive, in the header's count and on an open members page.
    expect(owner.locator(f"#member-count-{chat_id}")).to_have_text("2 members")
    expect(owners_members.locator(f"#member-list-{chat_id}")).to_contain_text(joiner.display_name)

    joiner.on("dialog", lambda dialog: dialog.accept())
    joiner.get_by_role("link", name="2 members").click()
    joiner.get_by_role("button", name="Leave this chat").click()
    joiner.wait_for_url(re.compile(r"/$"))
    expect(joiner.locator(f"#chat-item-{chat_id}")).to_have_count(0)
    expect(other_tab.locator(f"#chat-item-{chat_id}")).to_have_count(0)
    expect(owner.locator(f"#member-count-{chat_id}")).to_have_text("1 member")
    expect(owners_members.locator(f"#member-list-{chat_id}")).not_to_contain_text(joiner.display_name)
