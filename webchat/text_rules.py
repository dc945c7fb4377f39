"""Text webchat cannot store, whichever form or frame it came in; characters a name must not carry;
and when two names look alike.

NUL is refused by PostgreSQL in text columns (SQLite would store it, so the two databases would
disagree), and an unpaired surrogate (a socket frame's JSON can carry "\\ud800") is not UTF-8.
Names are checked with this before any query sees them: otherwise PostgreSQL's refusal surfaces
as "can't reach the database".

Control characters other than tab and line breaks are dropped from a message's text as it comes
in (body_without_controls): they show as nothing, and two of them are search's snippet markers
(SNIPPET_MARK_START, SNIPPET_MARK_END below). Search marks its matches with them and turns only
those into <mark>; a message typed with them would otherwise mark words of its own. The rule and
the markers are one pair: change them together.
"""
import functools
import re
import unicodedata

SNIPPET_MARK_START, SNIPPET_MARK_END = "\x02", "\x03"
# C0 controls and DEL, except tab, line feed and carriage return (a form posts lines as CR LF).
# NUL is not here: unstorable() refuses it with its own message, as before.
_CONTROLS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")

# Format characters that only join: ZWJ builds emoji sequences (👨‍👩‍👧) and, with ZWNJ, is part of
# spelling in Persian and Indic scripts. Neither reorders text nor hides a character.
_JOINERS = frozenset("\u200c\u200d")
_TAGS = ("\U000e0020", "\U000e007f")  # spell a subdivision flag after 🏴 (England, Scotland, Wales)


def unstorable(text: str) -> bool:
    """True when text holds a character no column can keep: NUL or an unpaired surrogate."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def body_without_controls(text: str) -> str:
    """A message's text without the control characters nobody types (tab and line breaks stay)."""
    return _CONTROLS.sub("", text)


def without_controls(text: str) -> str:
    """text without control (Cc) and format (Cf) characters, but for joiners and flag tags.

    The one rule for every name people give: file names, display names, chat names. Cc: NUL,
    newlines, terminal escapes. Cf: the bidi embeddings, overrides, isolates and marks (U+202A–E,
    U+2066–9, U+200E/F, U+061C) that make "gpj.exe" read as "exe.jpg" or reverse the text after
    a name, and the zero-width characters that make two names differ invisibly.
    """
    return "".join(ch for ch in text
                   if unicodedata.category(ch) not in ("Cc", "Cf") or ch in _JOINERS or _TAGS[0] <= ch <= _TAGS[1])


# ----- names that look alike -----------------------------------------------------------------------

def _fold(text: str) -> str:
    """Case and accents folded (casefold, NFKD without combining marks: "Ａｌｉｃé" → "alice"),
    invisible characters dropped and runs of white space made one space."""
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    text = "".join(ch for ch in text if not unicodedata.combining(ch)
                   and unicodedata.category(ch) not in ("Cc", "Cf"))
    return " ".join(text.split())


@functools.cache
def _lookalikes() -> tuple[dict[str, str], dict[str, str]]:
    """(prototype, representative) built from Unicode's confusables.txt (UTS #39), as the
    confusable_homoglyphs package keeps it.

    That package stores each line "source → prototype" in both directions, so the prototype is
    recovered: in UTS #39 a prototype is never itself a source, so the pairs form stars, and the
    centre of a star (the character with several neighbours, or a several-character sequence such as
    "rn" for "m") is the prototype; a lone pair maps both ways to one of its two characters, which
    for comparing is the same. Then case: "I" is a lookalike of "l" but folds to "i", so the classes
    joined by prototype or by a Latin letter's case are merged ("representative"), or "AIice" would
    pass as "alice".
    """
    from confusable_homoglyphs.confusables import confusables_data

    def clean(text: str) -> str:
        # The package keeps right-to-left characters as displayed, between left-to-right marks.
        return text.replace("\u200e", "").replace("\u200f", "") or text

    neighbours: dict[str, set[str]] = {}
    for char, homoglyphs in confusables_data.items():
        neighbours.setdefault(clean(char), set()).update(clean(h["c"]) for h in homoglyphs)
    prototype = {}
    for char, others in neighbours.items():
        if len(char) != 1 or len(others) != 1:
            continue  # a sequence, or the centre of a star: a prototype
        (other,) = others
        prototype[char] = other if len(other) > 1 or len(neighbours.get(other, ())) > 1 else min(char, other)

    parent: dict[str, str] = {}

    def find(ch: str) -> str:
        while parent.get(ch, ch) != ch:
            ch = parent[ch]
        return ch

    def join(a: str, b: str) -> None:
        a, b = find(a), find(b)
        if a != b:
            parent[max(a, b)] = min(a, b)

    for char, proto in prototype.items():
        if len(proto) == 1:
            join(char, proto)
    # Only the Latin letters' own case: case folding elsewhere pairs letters that look different
    # (final sigma "ς" folds to "σ", long "ſ" to "s"), which would chain unrelated classes together.
    for upper in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        join(upper, upper.lower())
    return prototype, {ch: find(ch) for ch in parent}


def name_skeleton(name: str) -> str:
    """What name looks like, for comparing: two names with one skeleton can be told apart by
    nothing a reader sees ("Alice Archer", "alice archer", "Аlice Archer" with a Cyrillic А,
    "Álice Archer", "Ａｌｉｃｅ Ａｒｃｈｅｒ", "AIice Archer"). UTS #39's skeleton with case and accents
    folded. Never shown: a key for finding a lookalike."""
    prototype, representative = _lookalikes()
    text = "".join(prototype.get(ch, ch) for ch in _fold(name))
    return "".join(representative.get(ch, ch) for ch in _fold(text))
