"""The issue-18 abuses against a real server: what one account gets done, with the shipped budgets
and with them raised out of the way.

Starts the app under gunicorn -k gevent (one worker, SQLite in a temp dir) twice: once with the
budgets of webchat/config.py, once with every per-user budget raised (as the test servers run).
On each, as fast as one HTTP connection goes, an attacker:
  - creates --chats group chats, each with one victim in it (then: the victim's dashboard time);
  - saves 100 edits of one message (then: how many reached a member's open socket);
  - renames a chat 60 times, as another member (then: how many system messages the chat got);
  - posts --probes new-chat forms of 100 unknown usernames each (then: how many were looked up).

    .venv/bin/python bench/abuse_budgets.py [--chats 1000] [--probes 10]

Not a test: nothing asserts; tests/test_throttling.py checks the behaviour.
"""
import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.services import LiveServer  # noqa: E402
from tests.support.wsclient import Person, unique_name  # noqa: E402

SHIPPED = {  # webchat/config.py's defaults, over LiveServer's raised ones
    "WEBCHAT_SEND_LIMIT": "20 per 10 seconds",
    "WEBCHAT_REACTION_LIMIT": "30 per 10 seconds",
    "WEBCHAT_CHAT_CREATE_LIMIT": "10 per minute; 100 per day",
    "WEBCHAT_MEMBER_ADD_LIMIT": "300 per 10 minutes; 2000 per day",
    "WEBCHAT_PUT_INTO_CHATS_LIMIT": "20 per hour",
    "WEBCHAT_USERNAME_LOOKUP_LIMIT": "200 per hour; 1000 per day",
}


def dashboard_ms(person: Person, times: int = 20) -> float:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        assert person.get("/").status == 200
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def run(label: str, env: dict, chats: int, probes: int) -> None:
    with tempfile.TemporaryDirectory(prefix="webchat-bench-abuse-") as tmp, \
            LiveServer(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp), extra_env=env) as server:
        attacker, victim = Person.register(server.url, "attacker"), Person.register(server.url, "victim")
        victim.create_chat("Real work", [])
        before = dashboard_ms(victim)

        started, statuses = time.perf_counter(), []
        for i in range(chats):
            statuses.append(attacker.post("/chats", {"name": f"Spam {i}", "members": victim.username}).status)
        elapsed = time.perf_counter() - started
        after = dashboard_ms(victim)
        print(f"\n{label}")
        print(f"  {chats} chats around one victim in {elapsed:.1f} s: {statuses.count(302)} created, "
              f"{statuses.count(429)} refused; victim's dashboard {before:.1f} ms before, {after:.1f} ms after")

        editor, member = Person.register(server.url, "editor"), Person.register(server.url, "member")
        chat = editor.create_chat("Edited", [member])
        message = editor.send(chat, "original")
        tab = member.open_tab()
        started = time.perf_counter()
        edits = [editor.post(f"/chats/{chat}/messages/{message}/edit", {"body": f"edit {i}"}).status
                 for i in range(100)]
        elapsed = time.perf_counter() - started
        broadcast = sum("data-message-changes" in f for f in tab.collect(1.0))
        print(f"  100 edits in {elapsed:.1f} s: {edits.count(302)} saved, {edits.count(429)} refused; "
              f"{broadcast} reached the member's socket")

        before_ids = len(editor.stored_ids(chat))
        started = time.perf_counter()  # the member renames: the editor's send budget is spent
        renames = [member.post(f"/chats/{chat}/rename", {"name": f"Name {i}"}).status for i in range(60)]
        elapsed = time.perf_counter() - started
        print(f"  60 renames in {elapsed:.1f} s: {renames.count(200)} done, {renames.count(429)} refused; "
              f"{len(editor.stored_ids(chat)) - before_ids} system messages")

        prober = Person.register(server.url, "prober")
        started = time.perf_counter()
        answers = [prober.post("/chats", {"name": "Probe", "members": " ".join(
            unique_name("nobody") for _ in range(100))}).status for _ in range(probes)]
        elapsed = time.perf_counter() - started
        print(f"  {probes} forms of 100 unknown names in {elapsed:.1f} s: {answers.count(422) * 100} names "
              f"looked up, {answers.count(429)} forms refused")
        for person in (attacker, victim, editor, member, prober):
            person.close_tabs()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chats", type=int, default=1000, help="chats the attacker tries to create (default 1000)")
    parser.add_argument("--probes", type=int, default=10, help="forms of 100 unknown names (default 10)")
    args = parser.parse_args()
    run("shipped budgets (webchat/config.py)", SHIPPED, args.chats, args.probes)
    run("budgets raised out of the way (as before issue 18)", {}, args.chats, args.probes)


if __name__ == "__main__":
    main()
