"""Searching the messages of the chats a person is in: SQLite FTS5 or PostgreSQL full-text search.

Changes together with migrations/versions/0009_search_by_chat.py (the index) and
webchat/search_words.py (its tokens: each word keyed by its chat). Invariants: a search reads
the index for the searcher's chats only; typed text never reaches the database as query syntax;
snippets are escaped before matches become <mark> (docs/architecture.md, "Search").
"""
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from markupsafe import Markup, escape
from sqlalchemy import select, text
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Chat, Membership, Message, User
from ..search_words import chat_key, words
from ..text_rules import SNIPPET_MARK_END, SNIPPET_MARK_START
from .errors import ChatError
from .messaging import MAX_ID
from .service import chat_title

MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
# Control characters a message's text can no longer contain (text_rules.body_without_controls); older
# messages may, so they are taken out of the text before it is marked.
MARK_START, MARK_END = SNIPPET_MARK_START, SNIPPET_MARK_END
_MARKED = re.compile(f"{MARK_START}([^{MARK_START}{MARK_END}]*){MARK_END}")
# ts_headline() drops whatever its parser takes for an HTML tag ("<b>" in "<b>x</b>"); the
# snippet must show the text as typed, so "<" travels as a private-use character and comes back.
_LT_STAND_IN = "\ue000"


@dataclass(frozen=True)
class SearchQuery:
    text: str  # as typed, trimmed
    terms: tuple[str, ...]  # the words to find, all of them, in any order
    prefix: bool  # the last word may be the start of a longer one


@dataclass
class SearchHit:
    message: Message
    chat: Chat
    chat_title: str
    snippet: Markup  # the message text around the matches, escaped, matches in <mark>

    @property
    def posted_at(self) -> datetime:
        created = self.message.created_at  # SQLite hands back naive UTC
        return created.replace(tzinfo=UTC) if created.tzinfo is None else created


@dataclass
class SearchPage:
    query: SearchQuery
    hits: list[SearchHit]
    more_before: int | None  # ?before= for the next, older page of results; None: no more


def parse_query(raw: str | None) -> SearchQuery:
    """The words of a search; ChatError (422) when there is nothing to search for or too much."""
    # Control characters (NUL among them, which PostgreSQL refuses in text) only separate words.
    cleaned = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in raw or "").strip()
    if not cleaned:
        raise ChatError("Type a word or a name to search for.")
    if len(cleaned) > MAX_QUERY_LENGTH:
        raise ChatError(f"That search is {len(cleaned):,} characters long; the limit is {MAX_QUERY_LENGTH}. "
                        "Search for fewer words.")
    terms = tuple(word for word in cleaned.split() if any(ch.isalnum() for ch in word))
    if not terms:
        raise ChatError(f"“{cleaned}” has no letters or digits to search for. Search for words, names or numbers.")
    if len(terms) > MAX_TERMS:
        raise ChatError(f"That search has {len(terms)} words; search for at most {MAX_TERMS}.")
    return SearchQuery(cleaned, terms, prefix=terms[-1].isalnum())


def search_messages(user: User, query: SearchQuery | str, limit: int = 20, before: int | None = None,
                    chat_id: int | None = None) -> SearchPage:
    """Messages of the chats user is in now that contain every word of query, newest first.

    before: only messages with a smaller id (the next page); chat_id: only in that chat (one of
    the user's: any other finds nothing). Deleted messages and system events never match.
    Raises ChatError for a query with nothing to search for.
    """
    if not isinstance(query, SearchQuery):
        query = parse_query(query)
    if before is not None:
        before = min(before, MAX_ID)
    dialect = db.session.get_bind().dialect.name
    find = _find_postgresql if dialect == "postgresql" else _find_sqlite
    rows = find(user.id, query, limit + 1, before, chat_id)
    more_before = rows[limit - 1][0] if len(rows) > limit else None
    return SearchPage(query, _hits(user, query, rows[:limit]), more_before)


def _chat_ids(user_id: int, chat_id: int | None = None) -> list[int]:
    """The chats searched: the user's, or of them only chat_id."""
    where = [Membership.user_id == user_id] + ([Membership.chat_id == chat_id] if chat_id is not None else [])
    return list(db.session.scalars(select(Membership.chat_id).where(*where)))


def _term_words(query: SearchQuery) -> list[list[str]] | None:
    """Each term's words as the index has them (search_words); None if a term has none."""
    found = [[word for word, _, _ in words(term)] for term in query.terms]
    return found if all(found) else None


# FTS5 hands out matches newest first (rowid order) and stops at the limit; every phrase names one
# of the searcher's chats, so the index reads nothing of any other chat.
def fts5_expression(query: SearchQuery, chat_ids: list[int]) -> str | None:
    """The FTS5 MATCH text: in any of the chats, every term a phrase of that chat's tokens.
    None when a term has no words to look for."""
    term_words = _term_words(query)
    if term_words is None or not chat_ids:
        return None
    per_chat = []
    for chat_id in chat_ids:
        key = chat_key(chat_id)
        # Tokens are letters and digits after the key (search_words), so no quote can be in one.
        phrases = ['"' + " ".join(key + word for word in term) + '"' for term in term_words]
        if query.prefix:
            phrases[-1] += "*"
        per_chat.append("(" + " AND ".join(phrases) + ")")
    return " OR ".join(per_chat)


def _find_sqlite(user_id: int, query: SearchQuery, limit: int, before: int | None,
                 chat_id: int | None = None) -> list[tuple[int, None]]:
    match = fts5_expression(query, _chat_ids(user_id, chat_id))
    if match is None:
        return []
    sql = f"""
        SELECT m.id FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid
        WHERE messages_fts MATCH :match {"AND messages_fts.rowid < :before" if before is not None else ""}
          AND m.kind = 'user' AND m.deleted_at IS NULL
          AND m.chat_id IN (SELECT ms.chat_id FROM memberships AS ms WHERE ms.user_id = :user_id)
        ORDER BY messages_fts.rowid DESC
        LIMIT :limit"""
    params = {"match": match, "user_id": user_id, "limit": limit, "before": before}
    # The index keeps no copy of the text: the snippet is made from the message (_snippet).
    return [(message_id, None) for message_id in db.session.scalars(text(sql), params)]


def _tsquery(query: SearchQuery, params: dict) -> str:
    """SQL for the tsquery of every word, each passed as a parameter: no word is tsquery syntax.
    For ts_headline(), which reads the message's own text."""
    parts = []
    for i, term in enumerate(query.terms):
        if query.prefix and i == len(query.terms) - 1:
            # Letters and digits only (parse_query checked), so quoting it cannot be escaped.
            params[f"t{i}"] = f"'{term}':*"
            parts.append(f"to_tsquery('simple', :t{i})")
        else:
            params[f"t{i}"] = term
            parts.append(f"phraseto_tsquery('simple', :t{i})")
    return "(" + " && ".join(parts) + ")"


def _lexeme(text_: str) -> str:
    """A tsquery lexeme in quotes: nothing in it is syntax."""
    return "'" + text_.replace("\\", "\\\\").replace("'", "''") + "'"


def _chat_tsquery(query: SearchQuery, chat_ids: list[int]) -> str | None:
    """The tsquery text for the index (migration 0009): in any of the chats, every term as a phrase
    of that chat's lexemes. The lexemes are to_tsvector's own, in their order. None when a term
    has none."""
    rows = db.session.execute(text("""
        SELECT t.i, v.lexeme, p.position
        FROM unnest(CAST(:terms AS text[])) WITH ORDINALITY AS t(term, i),
             unnest(to_tsvector('simple', t.term)) AS v, unnest(v.positions) AS p(position)
        ORDER BY t.i, p.position"""), {"terms": list(query.terms)})
    terms: dict[int, list[tuple[int, str]]] = {}
    for i, lexeme, position in rows:
        terms.setdefault(i, []).append((position, lexeme))
    if len(terms) != len(query.terms):
        return None
    per_chat = []
    for chat_id in chat_ids:
        key = chat_key(chat_id)
        phrases = []
        for i in sorted(terms):
            items, previous = [], None
            for position, lexeme in terms[i]:
                if previous is not None:
                    items.append(f"<{position - previous}>" if position > previous else "<0>")
                items.append(_lexeme(key + lexeme))
                previous = position
            if query.prefix and i == len(query.terms):
                items[-1] += ":*"
            phrases.append("(" + " ".join(items) + ")")
        per_chat.append("(" + " & ".join(phrases) + ")")
    return " | ".join(per_chat)


# PostgreSQL's planner cannot know that a word common in other chats may be rare in the searcher's:
# it would read the table backwards by id, testing every row, until 20 matches came (slow over a
# long history). So it searches the newest messages first, where a common word is
# found at once; only when they hold too few matches does it look further back, by the index
# alone (ORDER BY id + 0 rules out the backward walk). The index keeps each chat's words apart,
# so a word common in the searcher's chats has a long list there, which the planner may not
# foresee: the newest QUICK_WINDOW messages are read one by one first (no bitmap scan), where
# such a word is found at once, whatever it is.
RECENT_WINDOW = 50_000  # messages; SEARCH_RECENT_WINDOW in the app's config overrides it (tests)
QUICK_WINDOW = 2_000


def _find_postgresql(user_id: int, query: SearchQuery, limit: int, before: int | None,
                     chat_id: int | None = None) -> list[tuple[int, str]]:
    chat_ids = _chat_ids(user_id, chat_id)
    if not chat_ids:
        return []
    chat_tsquery = _chat_tsquery(query, chat_ids)
    if chat_tsquery is None:
        return []
    params: dict = {"chat_ids": chat_ids, "q": chat_tsquery}
    # psycopg prepares a statement it has run 5 times, and PostgreSQL may then plan it once for any
    # words: with a tsquery that is wrong more often than not. Plan each search for its own words.
    db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    if before is None:
        before = db.session.scalar(text("SELECT COALESCE(MAX(id), 0) + 1 FROM messages"))
    floor = max(before - current_app.config.get("SEARCH_RECENT_WINDOW", RECENT_WINDOW), 0)
    # The tsquery names the chats already; chat_id + 0 keeps the check from being planned as a scan
    # of the chats' every message by the (chat_id, id) index.
    matching = """
        SELECT m.id FROM messages AS m
        WHERE m.search_vector @@ CAST(:q AS tsquery) AND m.chat_id + 0 = ANY(:chat_ids)
          AND m.kind = 'user' AND m.deleted_at IS NULL"""
    recent = f"{matching} AND m.id < :before AND m.id >= :floor ORDER BY m.id DESC LIMIT :limit"
    quick_floor = max(before - QUICK_WINDOW, floor)
    db.session.execute(text("SET LOCAL enable_bitmapscan = off"))
    ids = list(db.session.scalars(text(recent), {**params, "before": before, "floor": quick_floor, "limit": limit}))
    db.session.execute(text("SET LOCAL enable_bitmapscan = DEFAULT"))
    if len(ids) < limit and quick_floor > floor:
        ids += db.session.scalars(text(recent), {**params, "before": quick_floor, "floor": floor,
                                                 "limit": limit - len(ids)})
    if len(ids) < limit and floor > 0:
        ids += db.session.scalars(text(f"{matching} AND m.id < :floor ORDER BY m.id + 0 DESC LIMIT :limit"),
                                  {**params, "floor": floor, "limit": limit - len(ids)})
    if not ids:
        return []
    # The headline is the costly part: made only for the rows of this page.
    params = {}
    rows = db.session.execute(text(f"""
        SELECT id, ts_headline('simple', replace(translate(body, :marks, ''), '<', :lt),
                               {_tsquery(query, params)}, :options)
        FROM messages WHERE id = ANY(:ids) ORDER BY id DESC"""), {
        **params, "ids": ids, "lt": _LT_STAND_IN, "marks": MARK_START + MARK_END,
        # One stretch of up to 24 words around the matches (a short message whole), as _snippet.
        "options": f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=12, ShortWord=0"})
    return [(message_id, snippet.replace(_LT_STAND_IN, "<")) for message_id, snippet in rows]


SNIPPET_WORDS = 24


def _snippet(body: str, query: SearchQuery) -> str:
    """Up to SNIPPET_WORDS words of body from just before its first match, matches between the
    markers (the SQLite index has no text to make one from)."""
    body = body.replace(MARK_START, "").replace(MARK_END, "")
    found = words(body)
    wanted = {word for term in query.terms for word, _, _ in words(term)}
    prefix = words(query.terms[-1])[-1][0] if query.prefix and words(query.terms[-1]) else None

    def matches(word: str) -> bool:
        return word in wanted or (prefix is not None and word.startswith(prefix))

    first = next((i for i, (word, _, _) in enumerate(found) if matches(word)), 0)
    start = max(0, min(first - 2, len(found) - SNIPPET_WORDS))
    shown = found[start:start + SNIPPET_WORDS]
    if not shown:
        return body
    begin = 0 if start == 0 else shown[0][1]
    end = len(body) if start + SNIPPET_WORDS >= len(found) else shown[-1][2]
    pieces, at = [], begin
    for word, word_start, word_end in shown:
        if matches(word):
            pieces += [body[at:word_start], MARK_START, body[word_start:word_end], MARK_END]
            at = word_end
    pieces.append(body[at:end])
    return ("…" if begin > 0 else "") + "".join(pieces) + ("…" if end < len(body) else "")


def highlight(snippet: str) -> Markup:
    """The snippet as HTML: escaped text, each marked match in <mark>, stray markers dropped."""
    escaped = str(escape(snippet))
    marked = _MARKED.sub(r"<mark>\1</mark>", escaped)
    return Markup(marked.replace(MARK_START, "").replace(MARK_END, ""))


def _hits(user: User, query: SearchQuery, rows: list[tuple[int, str | None]]) -> list[SearchHit]:
    if not rows:
        return []
    ids = [message_id for message_id, _ in rows]
    messages = {m.id: m for m in db.session.scalars(
        select(Message).where(Message.id.in_(ids)).options(selectinload(Message.author)))}
    chats = {c.id: c for c in db.session.scalars(
        select(Chat).where(Chat.id.in_({m.chat_id for m in messages.values()})))}
    titles = {chat_id: chat_title(chat, user) for chat_id, chat in chats.items()}
    return [SearchHit(messages[message_id], chats[messages[message_id].chat_id],
                      titles[messages[message_id].chat_id],
                      highlight(snippet if snippet is not None else _snippet(messages[message_id].body, query)))
            for message_id, snippet in rows if message_id in messages]


def include_in_autogenerate(name: str | None, type_: str, parent_names: dict) -> bool:
    """alembic's include_name: the search index is built by migrations 0005 and 0009, not by the models."""
    if type_ == "table":
        return not (name == "messages_fts" or (name or "").startswith("messages_fts_"))
    if type_ == "column":
        return name != "search_vector"
    if type_ == "index":
        return name != "ix_messages_search"
    return True
