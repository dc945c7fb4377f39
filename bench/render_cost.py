"""CPU to turn a message's text into its stored HTML (core/formatting.render_message: Markdown,
links, :shortcodes:, @mentions, sanitize), per kind of line and over a realistic mix: what every
send and edit pays before storing, apart from the database.

Real messages mostly carry punctuation ("Thanks!", "10:30", links, mentions, a code span), unlike
the plain words fanout.py and versus.py send. It prints CPU µs per message (process_time, the
best of --repeat rounds) and Python function calls per message (cProfile: the figure that does not
move with the machine's load).

    .venv/bin/python bench/render_cost.py
    .venv/bin/python bench/render_cost.py --repeat 5 --messages 3000
"""
import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from webchat.core.formatting import render_message  # noqa: E402

MEMBERS = {"alice": 1, "bob": 2}  # what messaging.mentionable finds of the chat's members
LINES = {
    "plain": ["bench 123 1764160000000000000", "ok see you there", "yes that works for me"],
    "punctuation": ["Thanks!", "see you at 10:30", "+1, sounds good", "50% done; #3 is next — ok?",
                    "wait... what?!", "v2.0 is out (finally)"],
    "shortcode": [":tada: shipped", "nice :+1:", "on my way :car:"],
    "mention": ["@bob can you look?", "thanks @alice!", "ask @bob or @alice about it"],
    "link": ["see https://example.com/menu", "docs at example.com/docs", "PR: https://github.com/a/b/pull/12"],
    "code": ["run `make test` first", "the `--force` flag, not `-f`"],
    "markdown": ["Lunch at **noon**? The usual place — see https://example.com/menu and bring @bob",
                 "that's *really* ~~bad~~ good", "> quoted\nand my answer", "- one\n- two\n- three"],
}
# How often each kind comes in the mix (a guess at a team chat's day, not a measurement).
MIX = {"plain": 30, "punctuation": 25, "shortcode": 5, "mention": 15, "link": 10, "code": 5, "markdown": 10}


def cost(bodies: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        began = time.process_time()
        for body in bodies:
            render_message(body, MEMBERS)
        best = min(best, time.process_time() - began)
    return best / len(bodies) * 1e6


def calls(bodies: list[str]) -> float:
    profiler = cProfile.Profile()
    profiler.enable()
    for body in bodies:
        render_message(body, MEMBERS)
    profiler.disable()
    return pstats.Stats(profiler).total_calls / len(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="messages per kind and round")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    # A number at the end, as send_cost.py does: no two texts alike.
    kinds = {kind: [f"{lines[i % len(lines)]} {i}" for i in range(args.messages)] for kind, lines in LINES.items()}
    mix = [body for kind, share in MIX.items() for body in kinds[kind][: args.messages * share // 100]]
    for bodies in kinds.values():
        cost(bodies[:100], 1)  # warm up
    print(f"{'kind':12} {'CPU µs/message':>15} {'calls/message':>14}")
    for kind, bodies in [*kinds.items(), ("mix", mix)]:
        print(f"{kind:12} {cost(bodies, args.repeat):15.1f} {calls(bodies):14.0f}")


if __name__ == "__main__":
    main()
