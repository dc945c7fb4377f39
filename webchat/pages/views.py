"""How the page front door answers: the pane or the whole page around it, the parts several
views share, and the one answer to the core's refusals.

Contract: views take what the request says, call webchat.core with plain values and the
signed-in user, and render. A ChatError raised in any view reaches refused(), which rolls the
session back and shows the words in the page's flash (htmx) or on a page of their own; a view
whose form shows the refusal itself (the composer keeping the text) wraps the core call in
refusals(page=..., fragment=...).
"""
from contextlib import contextmanager

from flask import current_app, g, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..core import broadcasts, changes, channels, messaging, read_state, service
from ..core.errors import ChatError
from ..core.fragments import render_chat_list
from ..core.presence import Presence
from ..errors import render_error
from ..extensions import db
from ..htmx import is_htmx, wants_fragment
from . import bp

PANE = "chat-pane"


@bp.before_request
@login_required
def require_login():
    """Every chat URL needs a signed-in user."""


@bp.errorhandler(ChatError)
def refused(e: ChatError):
    """The core refused (bad input, not a member, too fast): nothing half-stored, and the words
    where the person looks. Retry-After when the refusal ends by itself (connection.js waits)."""
    db.session.rollback()
    page, fragment = g.pop("refusal", (None, None))
    answer = fragment if is_htmx() else page
    response = make_response((answer and answer(e)) or render_error(e.status, e.message))
    if e.retry_after:
        response.headers["Retry-After"] = str(e.retry_after)
    return response


@contextmanager
def refusals(page=None, fragment=None):
    """Within the block, refused() answers a refusal with page(error) (a plain request) or
    fragment(error) (htmx): a response, or None for the usual flash or error page."""
    g.refusal = (page, fragment)
    yield
    del g.refusal  # not reached when the block raised: refused() takes it


def page_or_pane(pane_template: str, status: int = 200, refresh_list: bool = False, **context):
    """The pane alone (with its tab title) for htmx navigation inside the app, else the full
    page around it.

    refresh_list: with the pane, also send the chat list (out of band), e.g. to clear the
    unread badge of the chat just opened.
    """
    if wants_fragment(PANE):
        html = render_template(pane_template, **context) + render_template("_pane_title.html", **context)
        if refresh_list:
            html += render_chat_list(current_user, oob=True)
    else:
        list_version = service.chat_list_version(current_user.id)  # first, as render_chat_list reads it
        chats = service.chat_list(current_user)
        presence = context.pop("presence", None) or Presence(current_user, [e.partner for e in chats if e.partner])
        html = render_template("app.html", pane_template=pane_template, chats=chats, presence=presence,
                               list_version=list_version, **context)
    return make_response(html, status)


# How far back a chat page reaches for its first unread message, and how many read ones it shows
# before it.
UNREAD_REACH = 200
UNREAD_CONTEXT = 3


def chat_context(membership, before: int | None = None, **extra) -> dict:
    """What the chat pane shows: the newest messages (or the page before `before`), receipts,
    presence and the change cursor for catching up."""
    chat, viewer = membership.chat, current_user
    page_size = current_app.config["PAGE_SIZE"]
    # Read before the messages: a change landing in between is sent again at catch-up, never missed.
    changes_cursor = chat.last_change_seq
    if before:
        messages = messaging.messages_before(chat.id, viewer, before, page_size)
    else:
        messages = messaging.latest_messages(chat.id, viewer, page_size)
        last_read = membership.last_read_message_id or 0
        if len(messages) == page_size and messages[0].id > last_read:
            # Every message of the page is unread: reach back to the first unread (and a few read
            # ones before it, to show where reading stopped), so the chat opens at its divider.
            # Further back than UNREAD_REACH it opens at the oldest loaded, the rest above it.
            unread = messaging.newer_count(chat.id, last_read, UNREAD_REACH)
            reach = min(unread + UNREAD_CONTEXT, UNREAD_REACH)
            if reach > page_size:
                messages = messaging.latest_messages(chat.id, viewer, reach)
    # Read markers move only when a visible tab says so (connection.js), never on load.
    first_unread = next((m.id for m in messages if m.id > membership.last_read_message_id
                         and m.kind == "user" and m.author_id != viewer.id), None)
    if messages and not before and opened_by_the_user():
        read_state.advance_read(chat.id, viewer.id, messages[-1].id)
    older = messages and messaging.has_older(chat.id, viewer, messages[0].id)
    people = [m.user for m in service.members_of(chat)]
    return dict(chat=chat, membership=membership, title=service.chat_title(chat, viewer),
                messages=messaging.with_gaps(messages, *_page_end(chat.id, before, messages)),
                older_than=messages[0].id if older else None,
                paged=bool(before), first_unread=first_unread, presence=Presence(viewer, people),
                hide_system=viewer.hide_system_messages,
                receipts=broadcasts.receipt_readers(chat.id), changes_cursor=changes_cursor,
                partner=next((p for p in people if p.id != viewer.id), None) if chat.is_direct else None,
                may_archive=channels.may_archive(viewer, chat, membership), **extra)


def _page_end(chat_id: int, before: int | None, messages: list) -> tuple[int | None, int | None]:
    """Where a page of the channel ends (messaging.with_gaps): before the message `before`, or
    after the replies that follow its newest message."""
    if before:
        return messaging.page_end_before(chat_id, before)
    return messaging.chat_end(chat_id, messages[-1] if messages else None)


# Where a navigation came from (Sec-Fetch-Site): our own pages, or the person themselves (typed
# URL, bookmark). A link on another site ("cross-site", or "same-site" from a sibling host)
# opens the chat but is no sign anyone read it: any page could otherwise clear a badge.
_READING_FROM = ("same-origin", "none")


def opened_by_the_user() -> bool:
    """A full page load the person started here (a link of ours, the address bar): they are
    reading the chat.

    Pages with JavaScript say so themselves when the tab is visible, wherever the link was (a
    visible page is being looked at); this is for browsers without it, whose badges would
    otherwise never clear. htmx requests and loads the browser starts by itself (restored tabs,
    prefetch) carry no Sec-Fetch-User.
    """
    return (not is_htmx() and request.headers.get("Sec-Fetch-User") == "?1"
            and request.headers.get("Sec-Fetch-Site") in _READING_FROM)


def composer(chat, body: str = "", error: str | None = None, client_id: str | None = None,
             quote=None) -> dict:
    """The composer's fields: the text kept after a refusal, a client id for the next send, and
    the message the next send quotes, if any (its preview, chats/_composer_quote.html)."""
    return {"chat": chat, "body": body, "error": error, "client_id": client_id or messaging.new_client_id(),
            "quote": quote}


def chat_pane_refusal(membership, body: str, client_id: str | None, quote=None):
    """A refused send without JavaScript: the chat page again, the text (and quote) kept in its composer."""
    def page(e: ChatError):
        return page_or_pane("chats/_chat_pane.html", status=e.status, **chat_context(membership),
                            composer=composer(membership.chat, body=body, error=e.message, client_id=client_id,
                                              quote=quote))
    return page


def reply_to_field() -> int | None:
    """The form's reply_to (the message a send quotes): None when absent; an id that can be no
    message's is 0, which the core refuses like any message not in the chat."""
    value = request.form.get("reply_to", "").strip()
    if not value:
        return None
    return int(value) if value.isdigit() and len(value) < 12 else 0


def answer_sent(chat_id: int, message):
    """What a page that sent a message gets back: with htmx every message after its newest (the
    new one included) and the end of its pending "sending…" line; else back to the chat."""
    if not is_htmx():
        return redirect(url_for("chats.show_chat", chat_id=chat_id, _anchor=f"m-{message.id}"))
    after = request.form.get("after", type=int)
    if after is not None and after < message.id:
        messages = messaging.messages_after(chat_id, current_user, after, current_app.config["PAGE_SIZE"] * 4)
    else:
        messages = [message]
    return messaging.render_messages(messages, current_user) + render_template(
        "realtime/_sent.html", client_id=message.client_id)


def answer_change(message):
    """After an edit, deletion or reaction: htmx gets the changed message to swap in (the socket
    brings the same to every other page), a page without JavaScript goes back to the message."""
    if is_htmx():
        return changes.render_changes([message], message.chat_id)
    return redirect(url_for("chats.show_chat", chat_id=message.chat_id, _anchor=f"m-{message.id}"))
