"""The words of a message as search sees them, each tied to its chat: the index's own tokens.

Changes together with migrations/versions/0009_search_by_chat.py (which indexes these tokens) and
webchat/core/search.py (which queries them). A token is the chat's id in CHAT_KEY_DIGITS digits
followed by a word ("0000000005deploy"), so the index keeps each chat's words apart: a search
looks up its words in the searcher's chats only, and what it costs cannot depend on words used in
other chats. The same functions read the message, the query and the snippet, so they agree.

A word is a run of letters, digits and private-use characters, lower-cased, with accents and
other combining marks taken off after compatibility decomposition ("Café" and "cafe" are one
word, "ﬁle" is "file"). On SQLite the index has no copy of the text: it forgets a message by
being told its tokens again, so changing what a word is needs a migration that builds the index
again (as 0009 does).
"""
import re
import unicodedata
from functools import lru_cache

CHAT_KEY_DIGITS = 10
_ASCII_WORD = re.compile("[A-Za-z0-9]+")  # what _fold makes of ASCII text, found faster


def chat_key(chat_id: int) -> str:
    return f"{chat_id:0{CHAT_KEY_DIGITS}d}"


@lru_cache(maxsize=8192)
def _fold(ch: str) -> str | None:
    """What ch adds to a word: its folded letters ("" for an accent: part of a word, adding
    nothing), or None for a character between words."""
    kept = []
    for c in unicodedata.normalize("NFKD", ch.lower()):
        if unicodedata.combining(c):
            continue
        category = unicodedata.category(c)
        if not (c.isalnum() or category[0] == "M" or category == "Co"):  # marks: Indic vowel signs
            return None
        kept.append(c)
    return "".join(kept)


def words(text: str) -> list[tuple[str, int, int]]:
    """The words of text in order: (word, start, end), start and end indexes into text."""
    if text.isascii():
        return [(m.group().lower(), m.start(), m.end()) for m in _ASCII_WORD.finditer(text)]
    found, current, start = [], [], None
    for i, ch in enumerate(text):
        piece = _fold(ch)
        if piece is None:
            if current:
                found.append(("".join(current), start, i))
            current, start = [], None
        elif piece or current:
            if start is None:
                start = i
            current.append(piece)
    if current:
        found.append(("".join(current), start, len(text)))
    return found


def index_text(chat_id: int | None, body: str | None) -> str:
    """The tokens of a message, space-separated (SQLite's FTS5 table indexes this text)."""
    if chat_id is None or not body:
        return ""
    key = chat_key(chat_id)
    return " ".join(key + word for word, _, _ in words(body))
