"""What every template can use: the htmx settings, the CSRF token, the viewer's style nonce."""
import json
from datetime import UTC, datetime, timedelta

from flask import current_app, request, url_for
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup, escape

from .sanitize import plain_text
from .security import add_security_headers, style_nonce


def render_fragment(name: str, **context) -> str:
    """Render a fragment that needs nothing but its arguments and url_for (a message, a socket
    confirmation): without render_template's context processors and signals, which would run on
    the path every message takes. A template that needs csrf_token or request uses render_template."""
    template = current_app.jinja_env.get_template(name)
    if type(template.globals) is not dict:
        # Jinja keeps a template's globals as a ChainMap over the environment's, and each render
        # copies them into its context: for a ChainMap that is Python code per name (~20 names),
        # on each of a message's three renders. A plain copy holds the same names,
        # since they are all set while the app is made, before any template is loaded; Jinja
        # replaces the copy along with the template when it reloads it.
        template.globals = dict(template.globals)
    return template.render(context)


_HOLE = "\x00webchat-hole\x00"  # no template prints this, and escaping leaves it as it is


def render_around(name: str, hole: str, value: str) -> str:
    """render_fragment(name, **{hole: value}) for a fragment whose one variable is `hole`, printed
    once, escaped: rendered once with a stand-in and split there, and value (escaped unless it is
    Markup) placed between the two parts, on the path every message takes (its frame, the
    sender's confirmation). Kept on the template, so a reloaded template is rendered again."""
    template = current_app.jinja_env.get_template(name)
    around = template.__dict__.get("webchat_around")
    if around is None:
        before, after = render_fragment(name, **{hole: Markup(_HOLE)}).split(_HOLE)
        around = template.__dict__["webchat_around"] = (before, after)
    return "".join((around[0], escape(value), around[1]))  # a str: Markup's + would escape the parts


def message_article(m, hide_system: bool = False) -> Markup:
    """A message in a chat's timeline (chats/_message.html) for a page's loop of messages: the
    partial rendered with just what it reads, not through an include, which would copy the whole
    page's context for each message."""
    return Markup(render_fragment("chats/_message.html", m=m, hide_system=hide_system))


# The request header in which the chat list's poll names the version of the list the page shows
# (chats/_chat_list.html; pages/chats.answer_idle_poll reads it).
LIST_VERSION_HEADER = "Chat-List-Version"


# url_for's stand-ins for the two ids while it builds a message route's shape: larger than any id
# (PostgreSQL integers), and digits no route's fixed text holds.
_CHAT_MARK, _MESSAGE_MARK = 98_765_432_101, 98_765_432_102


def message_url(endpoint: str, m) -> str:
    """url_for(endpoint, chat_id=m.chat_id, message_id=m.id) for a route of one message. Every
    message renders four (edit, delete, react, its own address), too many to build through
    url_for every time: url_for builds each route once per script root, with stand-in ids, and
    the ids are filled into that shape."""
    shapes = current_app.extensions["webchat.message_url_shapes"]  # this app's routes
    key = (endpoint, request.script_root)
    shape = shapes.get(key)
    if shape is None:
        built = url_for(endpoint, chat_id=_CHAT_MARK, message_id=_MESSAGE_MARK)
        shape = shapes[key] = (built.replace("{", "{{").replace("}", "}}")
                               .replace(str(_CHAT_MARK), "{0}").replace(str(_MESSAGE_MARK), "{1}"))
    return shape.format(m.chat_id, m.id)


class _MarkedMessage:
    """What chats/_message_actions.html reads of a message, with url_for's stand-in ids."""

    chat_id, id = _CHAT_MARK, _MESSAGE_MARK

    def __init__(self, thread_id: int | None) -> None:
        self.thread_id = thread_id


def message_actions(m, in_thread: bool) -> Markup:
    """A message's actions (chats/_message_actions.html). They differ between messages only by
    the ids in their links, and rendering them is most of what a message's partial costs: each
    variant (a thread's pane or not, a reply or not) is rendered once per script root with the
    stand-in ids, and the ids are filled into that shape. Kept on the template, so a reloaded
    template is rendered again."""
    template = current_app.jinja_env.get_template("chats/_message_actions.html")
    shapes = template.__dict__.setdefault("webchat_shapes", {})
    key = (request.script_root, bool(m.thread_id), bool(in_thread))
    shape = shapes.get(key)
    if shape is None:
        built = render_fragment("chats/_message_actions.html", m=_MarkedMessage(m.thread_id), in_thread=in_thread)
        shape = shapes[key] = (built.replace("{", "{{").replace("}", "}}")
                               .replace(str(_CHAT_MARK), "{0}").replace(str(_MESSAGE_MARK), "{1}"))
    return Markup(shape.format(m.chat_id, m.id))


def htmx_config() -> str:
    return json.dumps({
        "selfRequestsOnly": True,
        "allowScriptTags": False,
        "allowEval": False,
        "historyCacheSize": 0,
        "includeIndicatorStyles": False,
        "scrollIntoViewOnBoost": False,
        # htmx processes what it swapped in (hx-ext behaviours, listeners) when it settles, 20 ms
        # later by default: an Enter typed into an editor just opened, or a message arriving for
        # a chat list just swapped, met an element nobody listened on yet. Nothing here animates
        # a settle, so it happens with the swap.
        "defaultSettleDelay": 0,
        # Our own refusals (bad input, stale form, throttled) carry a fragment to show; swap it.
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "^(400|403|409|413|422|429|503)$", "swap": True, "error": False},
            {"code": "[45]..", "swap": False, "error": True},
        ],
    })


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def short_time(value: datetime) -> str:
    value = _utc(value)
    return f"{value.hour:02d}:{value.minute:02d}"  # strftime("%H:%M") without its cost, on every message


def iso_time(value: datetime) -> str:
    return _utc(value).isoformat(timespec="seconds")


# A badge counts up to this many, then shows "999+" (core/read_state.py counts at most one more).
UNREAD_SHOWN = 999


def badge_count(count: int) -> str:
    """An unread count as a badge shows it: beyond what read_state counts exactly, "999+"."""
    return f"{UNREAD_SHOWN}+" if count > UNREAD_SHOWN else str(count)


# A badge's text and title, "#" standing for its count as badge_count words it; title[0] is for 1.
BADGE_WORDS = {
    "unread": {"text": "#", "title": ["# unread", "# unread"]},
    "mentions": {"text": "@#", "title": ["# unread mention of you", "# unread mentions of you"]},
}


def badge_words(kind: str, count: int) -> tuple[str, str]:
    """The text and title of an unread ("unread") or "@" ("mentions") badge for a count."""
    words, shown = BADGE_WORDS[kind], badge_count(count)
    return words["text"].replace("#", shown), words["title"][count != 1].replace("#", shown)


def page_config() -> str:
    """window.webchat.config: the words the page's scripts place. A page adds the messages it
    counts live to the server's count, so it shows counts the server never rendered: from these
    words and the count from which badge_count says "999+", so the rule stays here. Presence
    that comes online or hides arrives as bare state (one signal for every viewer), worded here."""
    return json.dumps({"badges": {"words": BADGE_WORDS, "capped": UNREAD_SHOWN + 1,
                                  "cappedText": badge_count(UNREAD_SHOWN + 1)},
                       "presence": PRESENCE_WORDS})


# A page counts its socket dead after hearing nothing for this many heartbeat intervals: two
# beats may be late or lost (a busy server, a slow tick) before it reconnects.
SOCKET_WINDOW_BEATS = 2.5


def socket_window() -> float:
    """Seconds a page's socket may stay silent before the page reconnects (connection.js)."""
    return SOCKET_WINDOW_BEATS * current_app.config["SOCKET_HEARTBEAT_SECONDS"]


# How presence reads: the words for "online" and for a hidden presence (see core/presence.py).
PRESENCE_WORDS = {"online": "online", "hidden": "last seen recently"}
# A page shows "last seen …" ticking on; it is given the words of the next this many changes.
PRESENCE_CHANGES_AHEAD = 12


def last_seen_words(when: datetime | None, now: datetime | None = None) -> str:
    if when is None:
        return "offline"
    minutes = int(((now or datetime.now(UTC)) - _utc(when)).total_seconds() // 60)
    if minutes < 1:
        return "last seen just now"
    if minutes < 60:
        return f"last seen {minutes} min ago"
    if minutes < 48 * 60:
        return f"last seen {minutes // 60} h ago"
    return f"last seen {_utc(when):%b %d}"


def presence_words(state: str, last_seen: datetime | None = None, now: datetime | None = None) -> str:
    """What a presence says: "online", "last seen recently" (hidden), "last seen 5 min ago"."""
    return PRESENCE_WORDS.get(state) or last_seen_words(last_seen, now)


def presence_schedule(state: str, last_seen: datetime | None = None, now: datetime | None = None) -> list:
    """The words a presence shows from now on, for the page to keep true while it stays open:
    [[minutes since last seen, words], …], the words now first, then each of the next changes.
    The page picks the last entry it has reached, so the wording rule stays in this module."""
    if PRESENCE_WORDS.get(state) or last_seen is None:
        return [[0, presence_words(state, last_seen, now)]]
    last_seen = _utc(last_seen)
    minutes = max(0, int(((now or datetime.now(UTC)) - last_seen).total_seconds() // 60))
    changes = [*range(60), *range(60, 48 * 60, 60), 48 * 60]  # the words change at these minutes
    start = max(i for i, at in enumerate(changes) if at <= minutes)
    return [[at, last_seen_words(last_seen, last_seen + timedelta(minutes=at))]
            for at in changes[start:start + PRESENCE_CHANGES_AHEAD + 1]]


PREVIEW_LENGTH = 80


def preview_line(said: str, who: str = "") -> str:
    """A chat list preview: "Who: what they said" on one line, cut to 80 characters (79 and "…").
    Characters are code points, so an emoji is never halved."""
    line = who + " ".join(said.split())
    return line if len(line) <= PREVIEW_LENGTH else line[:PREVIEW_LENGTH - 1] + "…"


def attachment_summary(message) -> str:
    """What a message of files without a caption says in a preview: "📎 a.png, b.pdf"."""
    if message.is_deleted or not message.attachments:
        return ""
    return "📎 " + ", ".join(a.filename for a in message.attachments)


def message_preview(m) -> Markup:
    """The chat list's line for a message, as the list shows it and as the message carries it
    (data-preview) for a page to place when it arrives live: the rule lives only here."""
    if m.is_system:
        return Markup("<em>{}</em>").format(preview_line(plain_text(m.html)))
    who = (m.author.display_name if m.author else "Deleted user") + ": "
    if m.is_deleted:
        return Markup("{}<em>message deleted</em>").format(who)
    return escape(preview_line(plain_text(m.html) or attachment_summary(m), who))


# A person without a picture shows as their initials on one of this many colours (app.css,
# .avatar--0 to --11), picked by their id: one person has one colour, on every page and for everyone.
AVATAR_COLOURS = 12


def avatar_colour(user_id: int) -> int:
    return user_id % AVATAR_COLOURS


def initials(name: str) -> str:
    """At most two letters for a name: "Ada Lovelace" AL, "bob" B; words opening with a letter or
    digit first ("🎉 Party People" PP)."""
    words = name.split()
    words = [w for w in words if w[0].isalnum()] or words
    return "".join(w[0] for w in words[:1] + words[1:][-1:]).upper() or "?"


def avatar_url(user) -> str:
    """A person's picture (core/avatars.py); its URL changes with it, so a page rendered after a
    change shows the new one."""
    return url_for("chats.avatar", user_id=user.id, version=user.avatar_name[:8])


def init_app(app) -> None:
    app.after_request(add_security_headers)
    app.jinja_env.filters["short_time"] = short_time
    app.jinja_env.filters["badge_count"] = badge_count
    app.jinja_env.filters["iso_time"] = iso_time
    app.jinja_env.globals["message_preview"] = message_preview
    app.jinja_env.globals["attachment_summary"] = attachment_summary
    app.jinja_env.filters["plain_text"] = plain_text
    app.jinja_env.globals["message_url"] = message_url
    app.jinja_env.globals["message_actions"] = message_actions
    app.jinja_env.globals["message_article"] = message_article
    app.jinja_env.globals["LIST_VERSION_HEADER"] = LIST_VERSION_HEADER
    app.jinja_env.globals["badge_words"] = badge_words
    app.jinja_env.globals["page_config"] = page_config
    app.jinja_env.globals["presence_schedule"] = presence_schedule
    app.jinja_env.globals["avatar_colour"] = avatar_colour
    app.jinja_env.globals["avatar_url"] = avatar_url
    app.jinja_env.filters["initials"] = initials
    app.extensions["webchat.message_url_shapes"] = {}

    @app.context_processor
    def globals_for_templates():
        return {
            "htmx_config": htmx_config,
            "csrf_token": generate_csrf,
            "style_nonce": style_nonce,
            "csrf_headers": lambda: json.dumps({"X-CSRFToken": generate_csrf()}),
            "csrf_lifetime": current_app.config["WTF_CSRF_TIME_LIMIT"] or 0,
            "poll_seconds": current_app.config["POLL_INTERVAL_SECONDS"],
            "poll_live_seconds": current_app.config["POLL_INTERVAL_LIVE_SECONDS"],
            "socket_window": socket_window,
        }
