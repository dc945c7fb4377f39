"""Text webchat cannot store, whichever form or frame it came in.

NUL is refused by PostgreSQL in text columns (SQLite would store it, so the two databases would
disagree), and an unpaired surrogate (a socket frame's JSON can carry "\\ud800") is not UTF-8.
Names are checked with this before any query sees them: otherwise PostgreSQL's refusal surfaces
as "can't reach the database".
"""


def unstorable(text: str) -> bool:
    """True when text holds a character no column can keep: NUL or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False
