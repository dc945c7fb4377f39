"""Searching the messages of the chats a person is in: SQLite FTS5 or PostgreSQL full-text search.

Changes together with migrations/versions/0005_search.py, which builds the index: an FTS5
table messages_fts kept in step by triggers on SQLite, a stored tsvector column
messages.search_vector with a GIN index on PostgreSQL.

What a person types never reaches the database as query syntax: each word becomes a quoted
FTS5 phrase, or goes through phraseto_tsquery() as a parameter; only a last word made of
letters and digits becomes a prefix (so "secr" finds "secret" while typing). Snippets come back
with two control characters around each match; the text is HTML-escaped first and only then
are those turned into <mark>, so nothing a person wrote ever becomes markup.
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
from ..text_rules import SNIPPET_MARK_END, SNIPPET_MARK_START
from .errors import ChatError
from .messaging import MAX_ID
from .service import chat_title

MAX_QUERY_LENGTH = 200
MAX_TERMS = 12
# Control characters a message's text can no longer contain (text_rules.without_controls); older
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


def search_messages(user: User, query: SearchQuery | str, limit: int = 20, before: int | None = None) -> SearchPage:
    """Messages of the chats user is in now that contain every word of query, newest first.

    before: only messages with a smaller id (the next page). Deleted messages and system
    events never match. Raises ChatError for a query with nothing to search for.
    """
    if not isinstance(query, SearchQuery):
        query = parse_query(query)
    if before is not None:
        before = min(before, MAX_ID)
    dialect = db.session.get_bind().dialect.name
    find = _find_postgresql if dialect == "postgresql" else _find_sqlite
    rows = find(user.id, query, limit + 1, before)
    more_before = rows[limit - 1][0] if len(rows) > limit else None
    return SearchPage(query, _hits(user, rows[:limit]), more_before)


# FTS5 hands out matches newest first (rowid order) and stops at the limit, so a common word costs
# no more than a rare one; a word common only in other chats costs a walk through its matches.
_ONLY_READABLE = """
    m.kind = 'user' AND m.deleted_at IS NULL
    AND m.chat_id IN (SELECT ms.chat_id FROM memberships AS ms WHERE ms.user_id = :user_id)"""


def fts5_expression(query: SearchQuery) -> str:
    """The FTS5 MATCH text: every word a quoted phrase (so no word is FTS5 syntax)."""
    phrases = ['"' + term.replace('"', '""') + '"' for term in query.terms]
    if query.prefix:
        phrases[-1] += "*"
    return " ".join(phrases)


def _find_sqlite(user_id: int, query: SearchQuery, limit: int, before: int | None) -> list[tuple[int, str]]:
    sql = f"""
        SELECT m.id, snippet(messages_fts, 0, char(2), char(3), '…', 24)
        FROM messages_fts JOIN messages AS m ON m.id = messages_fts.rowid
        WHERE messages_fts MATCH :match {"AND messages_fts.rowid < :before" if before is not None else ""}
          AND {_ONLY_READABLE}
        ORDER BY messages_fts.rowid DESC
        LIMIT :limit"""
    params = {"match": fts5_expression(query), "user_id": user_id, "limit": limit, "before": before}
    return [tuple(row) for row in db.session.execute(text(sql), params)]


def _tsquery(query: SearchQuery, params: dict) -> str:
    """SQL for the tsquery of every word, each passed as a parameter: no word is tsquery syntax."""
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


# PostgreSQL's planner cannot know that a word common in other chats may be rare in the searcher's:
# it would read the table backwards by id, testing every row, until 20 matches came (a second and
# more over a million messages). So it searches the newest messages first, where a common word is
# found at once; only when they hold too few matches does it look further back, by the index
# alone (ORDER BY id + 0 rules out the backward walk). The chat tokens in search_vector ("#<chat
# id>", migration 0005) let the index itself keep to the searcher's chats.
RECENT_WINDOW = 50_000  # messages; SEARCH_RECENT_WINDOW in the app's config overrides it (tests)
MAX_CHAT_TOKENS = 200


def _find_postgresql(user_id: int, query: SearchQuery, limit: int, before: int | None) -> list[tuple[int, str]]:
    chat_ids = list(db.session.scalars(select(Membership.chat_id).where(Membership.user_id == user_id)))
    if not chat_ids:
        return []
    params: dict = {"chat_ids": chat_ids}
    # psycopg prepares a statement it has run 5 times, and PostgreSQL may then plan it once for any
    # words: with a tsquery that is wrong more often than not. Plan each search for its own words.
    db.session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    tsquery = _tsquery(query, params)
    if len(chat_ids) <= MAX_CHAT_TOKENS:
        params["chats"] = " | ".join(f"'#{chat_id:d}'" for chat_id in chat_ids)
        tsquery = f"({tsquery} && CAST(:chats AS tsquery))"
    if before is None:
        before = db.session.scalar(text("SELECT COALESCE(MAX(id), 0) + 1 FROM messages"))
    floor = max(before - current_app.config.get("SEARCH_RECENT_WINDOW", RECENT_WINDOW), 0)
    matching = f"""
        SELECT m.id FROM messages AS m
        WHERE m.search_vector @@ {tsquery} AND m.chat_id = ANY(:chat_ids)
          AND m.kind = 'user' AND m.deleted_at IS NULL"""
    recent = f"{matching} AND m.id < :before AND m.id >= :floor ORDER BY m.id DESC LIMIT :limit"
    ids = list(db.session.scalars(text(recent), {**params, "before": before, "floor": floor, "limit": limit}))
    if len(ids) < limit and floor > 0:
        ids += db.session.scalars(text(f"{matching} AND m.id < :floor ORDER BY m.id + 0 DESC LIMIT :limit"),
                                  {**params, "floor": floor, "limit": limit - len(ids)})
    if not ids:
        return []
    # The headline is the costly part: made only for the rows of this page.
    rows = db.session.execute(text(f"""
        SELECT id, ts_headline('simple', replace(translate(body, :marks, ''), '<', :lt),
                               {_tsquery(query, params)}, :options)
        FROM messages WHERE id = ANY(:ids) ORDER BY id DESC"""), {
        **params, "ids": ids, "lt": _LT_STAND_IN, "marks": MARK_START + MARK_END,
        # One stretch of up to 24 words around the matches (a short message whole), as FTS5's snippet().
        "options": f"StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=24, MinWords=12, ShortWord=0"})
    return [(message_id, snippet.replace(_LT_STAND_IN, "<")) for message_id, snippet in rows]


def highlight(snippet: str) -> Markup:
    """The snippet as HTML: escaped text, each marked match in <mark>, stray markers dropped."""
    escaped = str(escape(snippet))
    marked = _MARKED.sub(r"<mark>\1</mark>", escaped)
    return Markup(marked.replace(MARK_START, "").replace(MARK_END, ""))


def _hits(user: User, rows: list[tuple[int, str]]) -> list[SearchHit]:
    if not rows:
        return []
    ids = [message_id for message_id, _ in rows]
    messages = {m.id: m for m in db.session.scalars(
        select(Message).where(Message.id.in_(ids)).options(selectinload(Message.author)))}
    chats = {c.id: c for c in db.session.scalars(
        select(Chat).where(Chat.id.in_({m.chat_id for m in messages.values()})))}
    titles = {chat_id: chat_title(chat, user) for chat_id, chat in chats.items()}
    return [SearchHit(messages[message_id], chats[messages[message_id].chat_id],
                      titles[messages[message_id].chat_id], highlight(snippet or ""))
            for message_id, snippet in rows if message_id in messages]


def include_in_autogenerate(name: str | None, type_: str, parent_names: dict) -> bool:
    """alembic's include_name: the search index is built by migration 0005, not by the models."""
    if type_ == "table":
        return not (name == "messages_fts" or (name or "").startswith("messages_fts_"))
    if type_ == "column":
        return name != "search_vector"
    if type_ == "index":
        return name != "ix_messages_search"
    return True
