"""The workspace: its settings, who holds which role, and the audit log of what administrators did.

Every rule about roles is here, asked by name (may_browse, may_create_channel, require_admin), so a
page, the socket and an API answer alike.
"""
from flask import current_app, g
from sqlalchemy import func, select, true
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import AuditEvent, Membership, User, Workspace
from .errors import ChatError, not_found

# Workspace roles, most powerful first. The owner is an administrator who cannot be demoted or
# deactivated by another administrator; a guest sees only the chats they were put into.
ROLES = ("owner", "admin", "member", "guest")
ROLE_NAMES = {"owner": "Owner", "admin": "Administrator", "member": "Member", "guest": "Guest"}
REGISTRATION_MODES = ("open", "invite", "closed")
CHANNEL_CREATORS = ("members", "admins")


def settings() -> Workspace:
    """The workspace's settings row, for the settings page: made with the defaults the first time
    (a new workspace starts with the registration mode WEBCHAT_REGISTRATION names, invitation only
    unless set). Everyone else reads one setting with the functions below, which never write."""
    workspace = db.session.get(Workspace, 1)
    if workspace is None:
        workspace = Workspace(id=1, name="webchat", registration=current_app.config["REGISTRATION_MODE"],
                              channel_creators="members")
        db.session.add(workspace)
        try:
            db.session.commit()
        except IntegrityError:  # made by another request at the same moment
            db.session.rollback()
            workspace = db.session.get(Workspace, 1)
    g.pop(_NO_ROW, None)
    return workspace


def is_first_account() -> bool:
    """No one has an account yet: whoever registers now becomes the owner, whatever the mode."""
    return db.session.scalar(select(func.count()).select_from(User)) == 0


def may_browse(user: User) -> bool:
    """The directory of public channels and people, and previews of public channels: everyone but guests."""
    return not user.is_guest


def findable(viewer: User):
    """Who the viewer may find by name, as a condition on User: the directory of people, the people
    picker, usernames typed into a chat, people's pictures. A member finds everyone in the
    workspace; a guest only the people they share a chat with, for whom else exists is no business
    of someone let into a few chats."""
    if may_browse(viewer):
        return true()
    their_chats = select(Membership.chat_id).where(Membership.user_id == viewer.id)
    return User.id.in_(select(Membership.user_id).where(Membership.chat_id.in_(their_chats)))


def may_create_channel(user: User, public: bool) -> bool:
    """Guests create nothing; public channels are for members too unless the workspace keeps them
    to administrators."""
    if user.is_guest:
        return False
    if public and channel_creators() == "admins":
        return user.is_workspace_admin
    return True


def require_admin(user: User) -> None:
    """Administration is for owners and administrators; to anyone else it does not exist (404)."""
    if not user.is_authenticated or not user.is_workspace_admin:
        raise not_found()


def check_may_manage(actor: User, target: User) -> None:
    """An administrator manages people, but not the owner, and no one changes their own role or
    deactivates themselves here (the workspace must keep someone who runs it)."""
    require_admin(actor)
    if target.id == actor.id:
        raise ChatError("You can't change your own account here: ask another administrator.", 403)
    if target.role == "owner" and actor.role != "owner":
        raise ChatError("Only the owner can change the owner's account.", 403)


def record(actor: User | None, action: str, target: str = "", detail: str = "") -> AuditEvent:
    """Add one line to the audit log, in the caller's transaction (it commits with the change it
    describes, or not at all). actor None: the command line."""
    event = AuditEvent(actor_id=actor.id if actor else None, actor_name=actor.username if actor else None,
                       action=action, target=target, detail=detail)
    db.session.add(event)
    return event


def audit_log(limit: int = 100, before: int | None = None) -> list[AuditEvent]:
    """The newest audit events first (before: only those older than that event id)."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
    if before:
        query = query.where(AuditEvent.id < before)
    return list(db.session.scalars(query))


# Set on the app context (a request, a socket frame) that found no workspace row: the Session's
# identity map holds the row once read, but not its absence, and a page reads four settings.
_NO_ROW = "webchat_no_workspace_row"


def _stored(field: str):
    """A setting as stored, None when the workspace row is not made yet: reading a setting in the
    middle of another operation (a send, a page) must not write (settings() commits the new row)."""
    if g.get(_NO_ROW):
        return None
    workspace = db.session.get(Workspace, 1)
    if workspace is None:
        setattr(g, _NO_ROW, True)
        return None
    return getattr(workspace, field)


def registration_mode() -> str:
    """Who may register: the workspace's setting, else the mode a new workspace starts with
    (WEBCHAT_REGISTRATION)."""
    return _stored("registration") or current_app.config["REGISTRATION_MODE"]


def channel_creators() -> str:
    """Who may create public channels: "members" (everyone but guests) or "admins"."""
    return _stored("channel_creators") or "members"


def name() -> str:
    """The workspace's name, shown as the top bar's brand and at the end of every tab's title."""
    return _stored("name") or "webchat"


def edit_window_seconds() -> int | None:
    """Seconds after sending during which a message may be edited, None for no limit: the
    workspace's setting (0: off), else the server's WEBCHAT_EDIT_WINDOW_SECONDS."""
    chosen = _stored("edit_window_seconds")
    if chosen is None:
        return current_app.config.get("MESSAGE_EDIT_WINDOW_SECONDS") or None
    return chosen or None


def server_upload_mb() -> float:
    """The most one send may carry, in MB, as the server allows it (WEBCHAT_MAX_UPLOAD_MB): the
    workspace may lower it, never raise it (request bodies are cut off past it)."""
    return float(current_app.config["MAX_UPLOAD_MB"])


def upload_limit_mb() -> float:
    """MB one send may carry: the workspace's limit, at most the server's."""
    chosen, server = _stored("max_upload_mb"), server_upload_mb()
    return server if chosen is None else min(chosen, server)
