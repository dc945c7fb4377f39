"""Dashboard, chat pages, message history and sending, and member management."""
from flask import current_app, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..core import broadcasts
from ..errors import render_error
from ..extensions import db
from ..htmx import is_htmx, retarget, vary_on_htmx, wants_fragment
from . import bp, changes, messaging, read_state, service, work_budget
from .errors import ChatError
from .fragments import render_chat_list
from .presence import Presence

PANE = "chat-pane"


@bp.before_request
@login_required
def require_login():
    """Every chat URL needs a signed-in user."""


@bp.errorhandler(work_budget.RetryLater)
def retry_later(e: work_budget.RetryLater):
    """The user's work budget is spent (polling, pages): say when to come back (connection.js waits)."""
    response = make_response(render_error(e.status, e.message))
    response.headers["Retry-After"] = str(e.retry_after)
    return response


def _charge(html: str, items: int = 0) -> str:
    """Count what a request rendered (items: messages and changes) to the user's work budget."""
    work_budget.current_budget().charge(current_user.id, work_budget.cost(messages=items, chars=len(html)))
    return html


def _page_or_pane(pane_template: str, status: int = 200, refresh_list: bool = False, **context):
    """The pane alone for htmx navigation inside the app, else the full page around it.

    refresh_list: with the pane, also send the chat list (out of band), e.g. to clear the
    unread badge of the chat just opened.
    """
    if wants_fragment(PANE):
        html = render_template(pane_template, **context)
        if refresh_list:
            html += render_chat_list(current_user, oob=True)
    else:
        chats = service.chat_list(current_user)
        presence = context.pop("presence", None) or Presence(current_user, [e.partner for e in chats if e.partner])
        html = render_template("app.html", pane_template=pane_template, chats=chats, presence=presence, **context)
    return vary_on_htmx(make_response(html, status))


@bp.get("/")
def dashboard():
    """The user's chats, with a welcome pane and forms to start a chat."""
    return _page_or_pane("chats/_welcome.html")


@bp.get("/chats/list")
def chat_list():
    """The chat list fragment, polled to refresh order, previews and unread counts."""
    work_budget.spend_request(current_user.id)
    return _charge(render_chat_list(current_user))


@bp.post("/chats")
def create_chat():
    """Create a group chat from a name and a list of usernames."""
    try:
        chat = service.create_group(current_user, request.form.get("name"), request.form.get("members"))
    except ChatError as e:
        db.session.rollback()
        return _page_or_pane("chats/_welcome.html", status=e.status, create_error=e.message, form=request.form)
    return _go_to_chat(chat.id)


@bp.post("/dm")
def open_direct():
    """Open (or create) the direct message with one user."""
    try:
        chat = service.open_direct(current_user, request.form.get("username"))
    except ChatError as e:
        db.session.rollback()
        return _page_or_pane("chats/_welcome.html", status=e.status, dm_error=e.message, form=request.form)
    return _go_to_chat(chat.id)


def _go_to_chat(chat_id: int):
    url = url_for("chats.show_chat", chat_id=chat_id)
    if is_htmx():
        # A full navigation keeps the chat list and the URL in step with the new chat.
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def _chat_context(membership, before: int | None = None, **extra):
    chat, viewer = membership.chat, current_user
    page_size = current_app.config["PAGE_SIZE"]
    # Read before the messages: a change landing in between is sent again at catch-up, never missed.
    changes_cursor = chat.last_change_seq
    if before:
        messages = messaging.messages_before(chat.id, viewer, before, page_size)
    else:
        messages = messaging.latest_messages(chat.id, viewer, page_size)
    # Read markers move only when a visible tab says so (connection.js), never on load.
    first_unread = next((m.id for m in messages if m.id > membership.last_read_message_id
                         and m.kind == "user" and m.author_id != viewer.id), None)
    if messages and not before and _opened_by_the_user():
        read_state.advance_read(chat.id, viewer.id, messages[-1].id)
    older = messages and messaging.has_older(chat.id, viewer, messages[0].id)
    people = [m.user for m in chat.memberships]
    return dict(chat=chat, membership=membership, title=service.chat_title(chat, viewer),
                messages=messages, older_than=messages[0].id if older else None,
                paged=bool(before), first_unread=first_unread, presence=Presence(viewer, people),
                hide_system=viewer.hide_system_messages,
                receipts=broadcasts.receipt_readers(chat.id), changes_cursor=changes_cursor,
                partner=next((p for p in people if p.id != viewer.id), None) if chat.is_direct else None,
                **extra)


# Where a navigation came from (Sec-Fetch-Site): our own pages, or the person themselves (typed
# URL, bookmark). A link on another site ("cross-site", or "same-site" from a sibling host)
# opens the chat but is no sign anyone read it: any page could otherwise clear a badge.
_READING_FROM = ("same-origin", "none")


def _opened_by_the_user() -> bool:
    """A full page load the person started here (a link of ours, the address bar): they are
    reading the chat.

    Pages with JavaScript say so themselves when the tab is visible, wherever the link was (a
    visible page is being looked at); this is for browsers without it, whose badges would
    otherwise never clear. htmx requests and loads the browser starts by itself (restored tabs,
    prefetch) carry no Sec-Fetch-User.
    """
    return (not is_htmx() and request.headers.get("Sec-Fetch-User") == "?1"
            and request.headers.get("Sec-Fetch-Site") in _READING_FROM)


def _composer(chat, body: str = "", error: str | None = None, client_id: str | None = None):
    return {"chat": chat, "body": body, "error": error, "client_id": client_id or messaging.new_client_id()}


@bp.get("/chats/<id:chat_id>")
def show_chat(chat_id: int):
    """A chat: its newest messages (or a page before ?before=) and the composer."""
    membership = service.membership_or_404(chat_id, current_user)
    work_budget.spend_request(current_user.id)
    before = request.args.get("before", type=int)
    context = _chat_context(membership, before=before)
    return _page_or_pane("chats/_chat_pane.html", refresh_list=True, composer=_composer(membership.chat),
                         **context)


@bp.get("/chats/<id:chat_id>/messages")
def list_messages(chat_id: int):
    """Message fragments after ?after= (polling, catch-up) or before ?before= (history)."""
    membership = service.membership_or_404(chat_id, current_user)
    work_budget.spend_request(current_user.id)
    limit = current_app.config["PAGE_SIZE"]
    after = request.args.get("after", type=int)
    before = request.args.get("before", type=int)
    if before is not None:
        messages = messaging.messages_before(chat_id, current_user, before, limit)
        older = messages and messaging.has_older(chat_id, current_user, messages[0].id)
        return _charge(render_template("chats/_older.html", chat=membership.chat, messages=messages,
                                       hide_system=current_user.hide_system_messages,
                                       older_than=messages[0].id if older else None), len(messages))
    cap = limit * 4
    messages = messaging.messages_after(chat_id, current_user, after or 0, cap)
    cursor = request.args.get("changes", type=int)
    caught_up = changes.catch_up_changes(chat_id, cursor, changes.CATCH_UP_PAGE)
    response = make_response(_charge(messaging.render_messages(messages, current_user) + caught_up.html,
                                     len(messages) + caught_up.count))
    if len(messages) == cap or caught_up.more_from is not None:
        response.headers["HX-Trigger"] = "messages-behind"  # the page asks again at once
    return response


@bp.post("/chats/<id:chat_id>/messages")
def send_message(chat_id: int):
    """Send a message; answers with every message after the page's newest, the new one included."""
    membership = service.membership_or_404(chat_id, current_user)
    body, client_id = request.form.get("body", ""), request.form.get("client_id")
    try:
        result = messaging.send_message(membership, body, client_id)
    except ChatError as e:
        db.session.rollback()
        composer = _composer(membership.chat, body=body, error=e.message, client_id=client_id)
        if is_htmx():
            html = render_template("chats/_composer.html", **composer)
            return retarget(make_response(html, e.status), "#composer")
        context = _chat_context(membership)
        return _page_or_pane("chats/_chat_pane.html", status=e.status, composer=composer, **context)
    message = result.message
    if not is_htmx():
        return redirect(url_for("chats.show_chat", chat_id=chat_id, _anchor=f"m-{message.id}"))
    html = answer_sent(chat_id, message)
    if request.headers.get("HX-Trigger") == "composer":
        # A fresh composer (empty, new client id); a background retry must not wipe a draft.
        html += render_template("chats/_composer.html", oob=True, **_composer(membership.chat))
    return html


def answer_sent(chat_id: int, message) -> str:
    """What a page that sent a message gets back: every message after its newest (the new one
    included), and the end of its pending "sending…" line."""
    after = request.form.get("after", type=int)
    if after is not None and after < message.id:
        messages = messaging.messages_after(chat_id, current_user, after, current_app.config["PAGE_SIZE"] * 4)
    else:
        messages = [message]
    return messaging.render_messages(messages, current_user) + render_template(
        "realtime/_sent.html", client_id=message.client_id)


@bp.post("/chats/<id:chat_id>/read")
def mark_read(chat_id: int):
    """The page says the chat is read up to ?upto= (used while the socket is down)."""
    service.membership_or_404(chat_id, current_user)
    upto = request.form.get("upto", type=int)
    if upto is None or upto < 0:
        return make_response("Say up to which message the chat is read.", 400)
    read_state.advance_read(chat_id, current_user.id, upto)
    return "", 204


@bp.post("/chats/<id:chat_id>/notifications")
def set_notifications(chat_id: int):
    """Choose which messages of this chat notify: all, mentions or none."""
    def choose(membership):
        level = request.form.get("notify")
        if level not in ("all", "mentions", "none"):
            raise ChatError("Choose all messages, mentions only, or nothing.")
        membership.notify = level
        db.session.commit()
        return "Notification setting saved."
    return _member_action(chat_id, choose)


@bp.get("/chats/<id:chat_id>/members")
def members(chat_id: int):
    """The chat's members, with forms to add, remove, rename and leave."""
    membership = service.membership_or_404(chat_id, current_user)
    return _members_page(membership)


def _members_page(membership, status: int = 200, error: str | None = None, notice: str | None = None):
    chat = membership.chat
    people = sorted(chat.memberships, key=lambda m: (not m.is_admin, m.user.display_name.lower()))
    return _page_or_pane("chats/_members.html", status=status, chat=chat, membership=membership,
                         people=people, title=service.chat_title(chat, current_user),
                         presence=Presence(current_user, [m.user for m in people]), error=error, notice=notice)


def _member_action(chat_id: int, action):
    membership = service.membership_or_404(chat_id, current_user)
    try:
        notice = action(membership)
    except ChatError as e:
        db.session.rollback()
        return _members_page(membership, status=e.status, error=e.message)
    return _members_page(membership, notice=notice)


@bp.post("/chats/<id:chat_id>/members")
def add_members(chat_id: int):
    """Add members by username."""
    def add(membership):
        added = service.add_members(membership, request.form.get("usernames"))
        return "Added " + ", ".join(u.display_name for u in added) + "."
    return _member_action(chat_id, add)


@bp.post("/chats/<id:chat_id>/members/<username>/remove")
def remove_member(chat_id: int, username: str):
    """Remove a member (admins only)."""
    def remove(membership):
        return f"Removed {service.remove_member(membership, username).display_name}."
    return _member_action(chat_id, remove)


@bp.post("/chats/<id:chat_id>/rename")
def rename_chat(chat_id: int):
    """Rename a group chat."""
    def do_rename(membership):
        service.rename(membership, request.form.get("name"))
        return "Renamed."
    return _member_action(chat_id, do_rename)


@bp.post("/chats/<id:chat_id>/leave")
def leave_chat(chat_id: int):
    """Leave a group chat; back to the dashboard."""
    membership = service.membership_or_404(chat_id, current_user)
    try:
        service.leave(membership)
    except ChatError as e:
        db.session.rollback()
        return _members_page(membership, status=e.status, error=e.message)
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url_for("chats.dashboard")
        return response
    return redirect(url_for("chats.dashboard"))
