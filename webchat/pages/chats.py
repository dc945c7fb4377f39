"""The chat pages: dashboard, a chat's page and its messages, sending, and member management."""
from flask import current_app, make_response, render_template, request, url_for
from flask_login import current_user

from ..core import (
    changes,
    channels,
    directory,
    messaging,
    quotes,
    read_state,
    service,
    sessions,
    webhooks,
    work_budget,
    workspace,
)
from ..core.errors import ChatError
from ..core.fragments import render_chat_list
from ..core.presence import Presence
from ..htmx import is_htmx, navigate, retarget, trigger, triggered_by
from ..templating import LIST_VERSION_HEADER
from . import bp
from .directory import preview
from .views import answer_sent, chat_context, chat_pane_refusal, composer, page_or_pane, refusals, reply_to_field


def _charge(html: str, items: int = 0) -> str:
    """Count what a request rendered (items: messages and changes) to the user's work budget."""
    work_budget.current_budget().charge(current_user.id, work_budget.cost(messages=items, chars=len(html)))
    return html


@bp.get("/")
def dashboard():
    """The user's chats, with a welcome pane and forms to start a chat."""
    return page_or_pane("chats/_welcome.html", **welcome_context())


def welcome_context() -> dict:
    """What the welcome pane needs besides its form: whether to show the first-run guide, and
    whether the person may make a channel public."""
    return {"new_here": channels.is_new_here(current_user),
            "may_create_public": workspace.may_create_channel(current_user, public=True)}


@bp.get("/chats/list")
def chat_list():
    """The chat list fragment, polled to refresh order, previews and unread counts."""
    work_budget.spend_request(current_user.id)
    return _charge(render_chat_list(current_user))


@bp.post("/chats")
def create_chat():
    """Create a channel (public or private) from a name, a topic, a description and a list of usernames."""
    welcome = _welcome_refusal("create_error")
    form = request.form
    with refusals(page=welcome, fragment=welcome):
        chat = channels.create_channel(current_user, form.get("name"), form.get("members"),
                                       form.get("visibility") or "private", form.get("topic"), form.get("description"))
    return _go_to_chat(chat.id)


@bp.post("/dm")
def open_direct():
    """Open (or create) the direct message with one user."""
    welcome = _welcome_refusal("dm_error")
    with refusals(page=welcome, fragment=welcome):
        chat = service.open_direct(current_user, request.form.get("username"))
    return _go_to_chat(chat.id)


def _welcome_refusal(field: str):
    """The welcome pane again, the form as typed and the refusal beside the form that failed."""
    return lambda e: page_or_pane("chats/_welcome.html", status=e.status, form=request.form, **welcome_context(),
                                  **{field: e.message})


def _go_to_chat(chat_id: int):
    # A full navigation keeps the chat list and the URL in step with the new chat.
    return navigate(url_for("chats.show_chat", chat_id=chat_id))


@bp.get("/chats/<id:chat_id>")
def show_chat(chat_id: int):
    """A chat: its newest messages (or a page before ?before=) and the composer; to a non-member,
    a public channel's preview (pages/directory.py)."""
    before = request.args.get("before", type=int)
    membership = service.find_membership(chat_id, current_user)
    if membership is None:
        return preview(chat_id, before)
    work_budget.spend_request(current_user.id)
    context = chat_context(membership, before=before)
    return page_or_pane("chats/_chat_pane.html", refresh_list=True, composer=composer(membership.chat),
                        **context)


@bp.get("/chats/<id:chat_id>/messages")
def list_messages(chat_id: int):
    """Message fragments after ?after= (polling, catch-up) or before ?before= (history, which a
    public channel's previewer may read too)."""
    before = request.args.get("before", type=int)
    if before is not None:
        chat = directory.readable_or_404(chat_id, current_user)
        work_budget.spend_request(current_user.id)
        limit = current_app.config["PAGE_SIZE"]
        messages = messaging.messages_before(chat_id, current_user, before, limit)
        older = messages and messaging.has_older(chat_id, current_user, messages[0].id)
        timeline = messaging.with_gaps(messages, *messaging.page_end_before(chat_id, before))
        return _charge(render_template("chats/_older.html", chat=chat, messages=timeline,
                                       hide_system=current_user.hide_system_messages,
                                       older_than=messages[0].id if older else None), len(messages))
    service.membership_or_404(chat_id, current_user)
    work_budget.spend_request(current_user.id)
    after = request.args.get("after", type=int)
    cap = current_app.config["PAGE_SIZE"] * 4
    messages = messaging.messages_after(chat_id, current_user, after or 0, cap)
    cursor = request.args.get("changes", type=int)
    caught_up = changes.catch_up_changes(chat_id, cursor, changes.CATCH_UP_PAGE)
    response = make_response(_charge(messaging.render_messages(messages, current_user) + caught_up.html,
                                     len(messages) + caught_up.count))
    if len(messages) == cap or caught_up.more_from is not None:
        trigger(response, "messages-behind")  # the page asks again at once
    return response


def answer_idle_poll():
    """A poll that finds nothing new, answered before anything else is loaded, from one
    statement: every open page polls its messages and its chat list, and almost every poll finds
    nothing. A poll of list_messages gets what list_messages would answer (an empty fragment); a
    poll of chat_list that names the version it shows (LIST_VERSION_HEADER), 204 (htmx swaps
    nothing). Anything else, a sign-in that has to be checked otherwise (a remember-me cookie)
    included, goes on to the view. The app's first before-request hook (create_app): neither
    view has a rate limit, and a GET no CSRF check to skip."""
    if request.method != "GET" or request.endpoint not in ("chats.list_messages", "chats.chat_list"):
        return None
    login_id = sessions.cookie_login_id()
    if login_id is None:
        return None
    if request.endpoint == "chats.chat_list":
        version = request.headers.get(LIST_VERSION_HEADER)
        user_id = version and service.list_unchanged_for(login_id, version)
        status = 204
    else:
        after = request.args.get("after", type=int)
        if after is None or "before" in request.args:
            return None
        user_id = changes.nothing_new_for(login_id, request.view_args["chat_id"], after,
                                          request.args.get("changes", type=int))
        status = 200
    if not user_id:
        return None
    work_budget.spend_request(user_id)
    response = make_response("", status)
    # What add_security_headers says to a signed-in user, said here: it need not load the user to know.
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/chats/<id:chat_id>/messages")
def send_message(chat_id: int):
    """Send a message; answers with every message after the page's newest, the new one included."""
    body, client_id = request.form.get("body", ""), request.form.get("client_id")
    if _from_outbox(client_id):
        return _send_from_outbox(chat_id, body, client_id)
    membership = service.membership_or_404(chat_id, current_user)
    reply_to = reply_to_field()
    quote = quotes.quotable(chat_id, reply_to)

    def composer_again(e: ChatError):  # the text (and quote) kept, the refusal under it
        html = render_template("chats/_composer.html", **composer(membership.chat, body, e.message, client_id, quote))
        return retarget(make_response(html, e.status), "#composer")

    with refusals(page=chat_pane_refusal(membership, body, client_id, quote), fragment=composer_again):
        result = messaging.send_message(membership, body, client_id, reply_to_id=reply_to)
    html = answer_sent(chat_id, result.message)
    if is_htmx() and triggered_by("composer"):
        # A fresh composer (empty, new client id); a background retry must not wipe a draft.
        html += render_template("chats/_composer.html", oob=True, **composer(membership.chat))
    return html


def _from_outbox(client_id: str | None) -> bool:
    """A send from the page's outbox (static/outbox.js) is made by its line still being sent."""
    return (is_htmx() and client_id is not None and messaging.CLIENT_ID.fullmatch(client_id) is not None
            and triggered_by(f"pending-{client_id}"))


def _send_from_outbox(chat_id: int, body: str, client_id: str):
    """As over the socket: a refusal, the chat gone from the sender's chats included, turns the
    line into "Not sent" with the text kept; the composer, maybe holding the next message, stays."""
    def not_sent(e: ChatError):
        return make_response(render_template("realtime/_send_failed.html", client_id=client_id, body=body,
                                             error=e.message), e.status)

    with refusals(fragment=not_sent):
        membership = service.membership_or_404(chat_id, current_user)
        result = messaging.send_message(membership, body, client_id, reply_to_id=reply_to_field())
    return answer_sent(chat_id, result.message)


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
        service.set_notifications(membership, request.form.get("notify"))
        return "Notification setting saved."
    return _member_action(chat_id, choose)


@bp.get("/chats/<id:chat_id>/members")
def members(chat_id: int):
    """The chat's members, with forms to add, remove, rename and leave."""
    membership = service.membership_or_404(chat_id, current_user)
    return _members_page(membership)


def _members_page(membership, status: int = 200, error: str | None = None, notice: str | None = None, **extra):
    """extra: for the Integrations section (pages/integrations.py), the hook just made."""
    chat = membership.chat
    manages_hooks = webhooks.may_manage(current_user, chat, membership)
    people = sorted(chat.memberships, key=lambda m: (not m.is_admin, m.user.display_name.lower()))
    if triggered_by(f"member-list-stale-{chat.id}"):  # an open members page, after a membership change
        return render_template("chats/_member_list.html", chat=chat, membership=membership, people=people,
                               presence=Presence(current_user, [m.user for m in people]))
    return page_or_pane("chats/_members.html", status=status, chat=chat, membership=membership,
                        people=people, title=service.chat_title(chat, current_user),
                        may_archive=channels.may_archive(current_user, chat, membership),
                        presence=Presence(current_user, [m.user for m in people]), error=error, notice=notice,
                        manages_hooks=manages_hooks, hooks=webhooks.hooks_of(chat.id) if manages_hooks else [],
                        **extra)


def _member_action(chat_id: int, action):
    """Run action(membership) and show the members page with its notice, or with the refusal."""
    membership = service.membership_or_404(chat_id, current_user)
    with _members_refusals(membership):
        notice = action(membership)
    return _members_page(membership, notice=notice)


def _members_refusals(membership):
    def again(e: ChatError):
        return _members_page(membership, status=e.status, error=e.message)
    return refusals(page=again, fragment=again)


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
        channels.rename(membership, request.form.get("name"))
        return "Renamed."
    return _member_action(chat_id, do_rename)


@bp.post("/chats/<id:chat_id>/topic")
def set_topic(chat_id: int):
    """Change a channel's topic and description (its admins)."""
    def change(membership):
        changed = channels.set_topic(membership, request.form.get("topic"), request.form.get("description"))
        return "Topic and description saved." if changed else "Nothing changed."
    return _member_action(chat_id, change)


@bp.post("/chats/<id:chat_id>/leave")
def leave_chat(chat_id: int):
    """Leave a group chat; back to the dashboard."""
    membership = service.membership_or_404(chat_id, current_user)
    with _members_refusals(membership):
        service.leave(membership)
    return navigate(url_for("chats.dashboard"))
