"""The README's ping bot (docs/examples/ping_bot.py), run as written against a live server.

A person makes a channel, adds a bot to it from the members page and a token for it on the Bots
page, as the README says; the example script runs in a process of its own with that token. The
person's page sees the bot's "pong" arrive live, and the API (read with the bot's token, as the
README's curl lines do) has it stored as the bot's.
"""
import json
import queue
import re
import subprocess
import sys
import threading
import urllib.request

import pytest

from .support import services
from .support.wsclient import Person, messages_in, unique_name

BOT = services.ROOT / "docs" / "examples" / "ping_bot.py"
SECRET = re.compile(r"wc_[A-Za-z0-9_-]{43}")


def api(server, secret: str, path: str) -> dict:
    request = urllib.request.Request(f"{server.url}/api/v1{path}", headers={"Authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer)


class Script:
    """The example as its user runs it: its own process, its output read line by line."""

    def __init__(self, server, secret: str) -> None:
        env = {"PATH": "/usr/bin:/bin", "WEBCHAT_URL": server.url, "WEBCHAT_TOKEN": secret}
        self.process = subprocess.Popen([sys.executable, str(BOT)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stdout], daemon=True).start()

    def wait_for_line(self, wanted: str, timeout: float = 30) -> None:
        seen = []
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the bot did not print {wanted!r}; it printed {seen}") from None
            seen.append(line)
            if line.strip() == wanted:
                return

    def stop(self) -> str:
        self.process.terminate()
        self.process.wait(10)
        return "".join(self.lines.queue)


@pytest.fixture
def ops(server):
    """A person's channel with a bot in it, the bot's read-write token, and the example running with it."""
    alice = Person.register(server.url, "alice")
    chat = alice.create_chat("Ops")
    bot = unique_name("ping-bot")
    added = alice.post(f"/chats/{chat}/bots", {"username": bot, "display_name": bot.title()})
    assert added.status in (200, 302), added
    made = alice.post(f"/bots/{bot}/tokens", {"name": "ping", "scope": "write"})
    (secret,) = SECRET.findall(made.text)
    script = Script(server, secret)
    yield alice, chat, bot, secret, script
    output = script.stop()
    alice.close_tabs()
    assert "Traceback" not in output, output


def test_the_example_bot_answers_ping_with_pong_in_a_channel_it_was_added_to(ops, server):
    alice, chat, bot, secret, script = ops
    script.wait_for_line(f"listening in chat {chat}")
    page = alice.open_tab()
    page.view(chat)

    alice.send(chat, "ping without the bang")
    asked = alice.send(chat, "!ping")
    frame = page.wait_for(lambda f: any(m["author"] == bot for m in messages_in(f)), timeout=10)
    (pong,) = [m for m in messages_in(frame) if m["author"] == bot]
    assert pong["chat"] == chat and "pong" in pong["html"] and pong["id"] > asked

    history = api(server, secret, f"/chats/{chat}/messages?after={asked - 1}")["messages"]
    assert [(m["text"], m["author"]["username"], m["author"]["is_bot"]) for m in history] == [
        ("!ping", alice.username, False), ("pong", bot, True)]
    assert api(server, secret, "/me")["username"] == bot


def test_the_example_bot_listens_in_a_chat_it_is_added_to_while_running(ops):
    alice, chat, bot, _, script = ops
    script.wait_for_line(f"listening in chat {chat}")
    later = alice.create_chat("Deploys")
    added = alice.post(f"/chats/{later}/members", {"usernames": bot})
    assert added.status in (200, 302), added
    script.wait_for_line(f"listening in chat {later}")
    page = alice.open_tab()
    page.view(later)

    alice.send(later, "!ping")
    frame = page.wait_for(lambda f: any(m["author"] == bot for m in messages_in(f)), timeout=10)
    assert [m["chat"] for m in messages_in(frame) if m["author"] == bot] == [later]


def test_the_readme_shows_the_example_bot_as_it_is_in_docs_examples():
    readme = (services.ROOT / "README.md").read_text()
    shown = readme.split("**A bot that answers `!ping` with `pong`**", 1)[1].split("```python\n", 1)[1].split("```")[0]
    code = BOT.read_text().split('"""\n', 1)[1].lstrip("\n")  # without its docstring
    assert shown == code
