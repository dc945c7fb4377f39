"""Screenshots of a chat at phone (375 px) and desktop (1440 px) widths, light and dark.

    .venv/bin/python docs/issue-21/screenshots.py            # starts its own server (SQLite)
    .venv/bin/python docs/issue-21/screenshots.py --url URL  # uses a running server

Seeds a short conversation between three new people (over HTTP, as a browser without JavaScript
would) and saves docs/issue-21/chat-<width>-<theme>.png, plus the phone's chat list. Needs Chromium
at /usr/bin/chromium, like the browser tests.
"""
import argparse
import contextlib
import sys
import tempfile
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from tests.support import services  # noqa: E402
from tests.support.wsclient import Person  # noqa: E402

WIDTHS = {375: 812, 1440: 900}
PEOPLE = {"alice": "Alice Archer", "bob": "Bob Baker", "carol": "Carol Carter"}
CONVERSATION = [
    ("alice", "Morning! The release branch is cut — notes are at https://example.com/releases/2026-12/"
              "webchat-1.4-release-notes-draft-with-a-rather-long-address"),
    ("bob", "Thanks @{alice}. I ran the migration on staging:"),
    ("bob", "```\nflask --app wsgi db upgrade\nINFO  [alembic] Running upgrade 0010_name_skeletons -> 0011_theme\n```"),
    ("carol", "Dark mode looks **great** on my phone"),
    ("alice", "Can someone check the composer with the keyboard open?"),
    ("carol", "On it — works on iOS and Android, the composer stays above the keyboard."),
    ("bob", "Shipping it then."),
]


def register(base_url: str, name: str, suffix: str) -> Person:
    person = Person(base_url, f"{name}{suffix}")
    response = person.post("/register", {"username": person.username, "password": person.password,
                                         "display_name": PEOPLE[name]})
    assert response.status == 302, f"registering {person.username}: {response}"
    return person


def seed(base_url: str) -> tuple[Person, int]:
    """Three people and a group chat with a few messages; alice and the chat's id."""
    suffix = uuid.uuid4().hex[:4]
    people = {name: register(base_url, name, suffix) for name in PEOPLE}
    chat_id = people["alice"].create_chat("release-1.4", [people["bob"], people["carol"]])
    for name, text in CONVERSATION:
        people[name].send(chat_id, text.format(alice=people["alice"].username))
    return people["alice"], chat_id


def shoot(base_url: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    alice, chat_id = seed(base_url)
    saved = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=services.CHROMIUM, args=services.CHROMIUM_ARGS)
        for width, height in WIDTHS.items():
            for theme in ("light", "dark"):
                context = browser.new_context(base_url=base_url, viewport={"width": width, "height": height},
                                              color_scheme=theme, device_scale_factor=1)
                page = context.new_page()
                page.goto("/login")
                page.fill("input[name=username]", alice.username)
                page.fill("input[name=password]", alice.password)
                page.click("button[type=submit]")
                page.wait_for_url(base_url + "/")
                if width < 700:
                    saved.append(out / f"list-{width}-{theme}.png")
                    page.screenshot(path=saved[-1])
                page.goto(f"/chats/{chat_id}")
                page.wait_for_selector("#connection[data-state=live]", state="attached")
                page.locator("#messages .msg").last.scroll_into_view_if_needed()
                saved.append(out / f"chat-{width}-{theme}.png")
                page.screenshot(path=saved[-1])
                context.close()
        browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running webchat server (default: start one on a temporary SQLite file)")
    parser.add_argument("--out", type=Path, default=HERE, help="where the PNG files go (default: beside this script)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        url = args.url
        if not url:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="webchat-shots-")))
            url = stack.enter_context(services.LiveServer(f"sqlite:///{tmp / 'shots.db'}", tmp)).url
        for path in shoot(url.rstrip("/"), args.out):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)


if __name__ == "__main__":
    main()
