"""Text webchat cannot store, whichever form or frame it came in.

NUL is refused by PostgreSQL in text columns (SQLite would store it, so the two databases would
disagree), and an unpaired surrogate (a socket frame's JSON can carry "\\ud800") is not UTF-8.
Names are checked with this before any query sees them: otherwise PostgreSQL's refusal surfaces
as "can't reach the database".

Control characters other than tab and line breaks are dropped from a message's text as it comes
in (without_controls): they show as nothing, and two of them are search's snippet markers
(SNIPPET_MARK_START, SNIPPET_MARK_END below). Search marks its matches with them and turns only
those into <mark>; a message typed with them would otherwise mark words of its own. The rule and
the markers are one pair: change them together.
"""
import re

SNIPPET_MARK_START, SNIPPET_MARK_END = "\x02", "\x03"
# C0 controls and DEL, except tab, line feed and carriage return (a form posts lines as CR LF).
# NUL is not here: unstorable() refuses it with its own message, as before.
_CONTROLS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


def unstorable(text: str) -> bool:
    """True when text holds a character no column can keep: NUL or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def without_controls(text: str) -> str:
    """text without the control characters nobody types (tab and line breaks stay)."""
    return _CONTROLS.sub("", text)
