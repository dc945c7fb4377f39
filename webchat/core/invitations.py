"""Who may register now (the workspace's registration mode), and invitation links: made and
revoked by administrators, used once per new account.

A link's token is shown once, to the administrator who made it; only its sha256 is stored, so the
table alone lets no one register. Using a link is one conditional UPDATE in the new account's
transaction: two people racing for its last use get one account between them.
"""
import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update

from ..extensions import db
from ..models import Invitation, User, utcnow
from . import accounts, workspace
from .errors import ChatError, not_found
from .mail import clean_email

# What the administration page offers; the core takes any positive expiry and use count.
EXPIRY_DAYS = (1, 7, 30)
USE_COUNTS = (1, 5, 25, 100)
INVITED_ROLES = ("member", "guest")

STATUS_WORDS = {"active": "Active", "expired": "Expired", "used up": "Used up", "revoked": "Revoked"}
UNUSABLE = {
    "expired": "This invitation has expired. Ask an administrator for a new link.",
    "used up": "This invitation has been used up. Ask an administrator for a new link.",
    "revoked": "This invitation was revoked. Ask an administrator for a new link.",
}
INVALID_LINK = "This invitation link isn't valid. Check that you copied all of it, or ask an administrator."
BY_INVITATION = "Registration is by invitation: ask an administrator for a link."
CLOSED = "Registration is closed."


def registration_refusal() -> str | None:
    """Why /register (without an invitation) creates no account now, or None when it may. The
    first account may always be made: it becomes the owner, whatever the mode."""
    mode = workspace.registration_mode()
    if mode == "open" or workspace.is_first_account():
        return None
    return CLOSED if mode == "closed" else BY_INVITATION


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _utc(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def status(invitation: Invitation, now: datetime | None = None) -> str:
    """"active", "expired", "used up" or "revoked" (the first that holds, read right to left)."""
    if invitation.revoked_at is not None:
        return "revoked"
    if invitation.uses >= invitation.max_uses:
        return "used up"
    if _utc(invitation.expires_at) <= (now or utcnow()):
        return "expired"
    return "active"


def create_invitation(actor: User, *, expires_in: timedelta, max_uses: int, email: str | None = None,
                      role: str = "member") -> tuple[Invitation, str]:
    """A new invitation and its token (returned this once: only its hash is kept). Administrators
    only (404 for anyone else); ChatError for a role, expiry, use count or address it can't have."""
    workspace.require_admin(actor)
    if role not in INVITED_ROLES:
        raise ChatError("Invite people as members or as guests.")
    if expires_in <= timedelta(0):
        raise ChatError("An invitation must last at least a moment: pick how long it stays valid.")
    if max_uses < 1:
        raise ChatError("An invitation must allow at least one registration.")
    email = clean_email(email)
    token = secrets.token_urlsafe(32)
    invitation = Invitation(token_hash=_hash(token), created_by_id=actor.id, email=email, role=role,
                            expires_at=utcnow() + expires_in, max_uses=max_uses, uses=0)
    db.session.add(invitation)
    db.session.flush()
    workspace.record(actor, "invitation.create", f"invitation {invitation.id}", _described(invitation, expires_in))
    db.session.commit()
    return invitation, token


def _described(invitation: Invitation, expires_in: timedelta) -> str:
    uses = "1 use" if invitation.max_uses == 1 else f"{invitation.max_uses} uses"
    days = expires_in.days
    valid = f"{days} day{'s' if days != 1 else ''}" if days else f"{int(expires_in.total_seconds())} s"
    detail = f"{workspace.ROLE_NAMES[invitation.role].lower()}, {uses}, valid {valid}"
    return detail + (f", for {invitation.email}" if invitation.email else "")


def revoke_invitation(actor: User, invitation_id: int) -> Invitation:
    """Revoke an invitation: its link registers no one from now on (those it registered stay).
    Administrators only (404 for anyone else); revoking it again changes nothing."""
    workspace.require_admin(actor)
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None:
        raise not_found()
    if invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        workspace.record(actor, "invitation.revoke", f"invitation {invitation.id}",
                         invitation.email or "")
        db.session.commit()
    return invitation


def invitations(limit: int = 200) -> list[Invitation]:
    """The newest invitations first, with who made them."""
    query = select(Invitation).order_by(Invitation.id.desc()).limit(limit)
    return list(db.session.scalars(query))


def usable(token: str) -> Invitation:
    """The invitation this token is for, while it can register someone; ChatError otherwise:
    404 for a token of no invitation, 410 saying whether it expired, was used up or revoked,
    403 while registration is closed."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == _hash(token)))
    if invitation is None:
        raise ChatError(INVALID_LINK, 404)
    if (state := status(invitation)) != "active":
        raise ChatError(UNUSABLE[state], 410)
    if workspace.registration_mode() == "closed":
        raise ChatError(CLOSED, 403)
    return invitation


def register_with(token: str, username: str | None, display_name: str | None, password: str | None,
                  email: str | None = None) -> User:
    """Register an account with an invitation (as a guest if it invites guests), taking one of its
    uses in the account's own transaction. ChatError as usable() says; AccountError (nothing
    stored, no use taken) for the form's mistakes, or an address the invitation is not for."""
    invitation = usable(token)
    if invitation.email:
        typed = (email or "").strip().lower()
        if not typed:
            raise accounts.AccountError({"email": "Type the e-mail address this invitation was sent to."})
        if typed != invitation.email.lower():
            raise accounts.AccountError({"email": "This invitation is for a different e-mail address."})
    # Not revoked, not expired, a use left: checked and taken at once, so a use is never taken
    # twice (PostgreSQL: the second UPDATE waits on the row, then finds no use left; SQLite: one writer).
    taken = db.session.execute(
        update(Invitation)
        .where(Invitation.id == invitation.id, Invitation.revoked_at.is_(None),
               Invitation.expires_at > utcnow(), Invitation.uses < Invitation.max_uses)
        .values(uses=Invitation.uses + 1)
        .execution_options(synchronize_session=False))
    if taken.rowcount != 1:
        db.session.rollback()
        invitation = db.session.get(Invitation, invitation.id)
        raise ChatError(UNUSABLE.get(status(invitation), UNUSABLE["used up"]), 410)
    try:
        # register() commits the account with the use taken above, or rolls both back.
        return accounts.register(username, display_name, password, role=invitation.role)
    except accounts.AccountError:
        db.session.rollback()
        raise


def find_user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == (username or "").strip().lower()))


def appoint_admin(username: str, password: str | None = None, display_name: str | None = None) -> tuple[User, str]:
    """flask create-admin: make the account (password required) or promote an existing one (its
    password unchanged): the owner while the workspace has none, else an administrator. Returns
    the user and what was done, in words; AccountError for a username or password it can't have.
    The audit line's actor is None: the command line."""
    has_owner = db.session.scalar(select(User.id).where(User.role == "owner").limit(1)) is not None
    role = "admin" if has_owner else "owner"
    user = find_user(username)
    if user is None:
        workspace.record(None, "user.role", f"@{(username or '').strip().lower()}", f"created as {role}")
        try:
            user = accounts.register(username, display_name, password, role=role)
        except accounts.AccountError:
            db.session.rollback()
            raise
        return user, f"Created {user.username} as {workspace.ROLE_NAMES[user.role].lower()}."
    if user.is_workspace_admin:
        return user, f"{user.username} is already {'the owner' if user.role == 'owner' else 'an administrator'}."
    workspace.record(None, "user.role", f"@{user.username}", f"{user.role} → {role}")
    user.role = role
    db.session.commit()
    return user, f"Made {user.username} {'the owner' if role == 'owner' else 'an administrator'}."
