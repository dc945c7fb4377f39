"""Account rules: who may register with what, and how a login id maps back to a user."""
import re

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db, login_manager
from ..models import User
from ..text_rules import name_skeleton, unstorable, without_controls
from . import channels, sessions, tokens, workspace
from .broadcasts import publish_control

USERNAME = re.compile(r"^[a-z0-9_-]{3,32}$")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing megabytes of "password" is a cheap way to burn our CPU
MAX_DISPLAY_NAME = 64


class AccountError(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(errors)
        self.errors = errors


def password_error(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"Use a password of at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Use a password of at most {MAX_PASSWORD} characters."
    return None


def lookalike(name: str, besides: int | None = None) -> str | None:
    """The username of someone (other than user id besides) whose username or display name looks
    like name (text_rules.name_skeleton), or None. Deactivated accounts count: their names stay on
    their messages. One indexed lookup (users.username_skeleton, users.display_skeleton)."""
    skeleton = name_skeleton(name)
    # min(): one answer, the same each time, read from the two skeleton indexes.
    query = select(func.min(User.username)).where(or_(User.username_skeleton == skeleton,
                                                       User.display_skeleton == skeleton))
    if besides is not None:
        query = query.where(User.id != besides)
    return db.session.scalar(query)


def clean_display_name(typed: str | None) -> str:
    """The display name to keep of what was typed: without bidi controls and invisible characters
    (the rule file names follow: a name must not reverse the text shown after it, nor differ from
    another only by what no one sees), white space made single spaces. A NUL is kept, to be
    refused in words by display_name_error rather than quietly dropped."""
    name = typed or ""
    if not unstorable(name):
        name = without_controls(name)
    return " ".join(name.split())


def display_name_error(name: str, besides: int | None = None) -> str | None:
    """Why name can't be someone's display name (besides: that someone's user id), or None.

    A name that looks like another person's username or display name is refused: people know each
    other by it in messages, DMs and mentions. Names stored before this rule stay as they are
    (the @username shown beside every name tells those apart); it applies to each name given
    from then on, at registration and on change.
    """
    if len(name) > MAX_DISPLAY_NAME:
        return f"Display names can be at most {MAX_DISPLAY_NAME} characters."
    if unstorable(name):
        return ("That display name contains a character webchat can't store (a NUL or an "
                "unpaired surrogate). Remove it and try again.")
    if (other := lookalike(name, besides)) is not None:
        return f"That name looks too much like another person's (@{other}). Choose another."
    return None


def new_names(username: str | None, display_name: str | None) -> tuple[str, str, dict[str, str]]:
    """The username and display name a new account (a person's or a bot's) would have, and what is
    wrong with them (field -> words; empty when nothing is)."""
    username = (username or "").strip().lower()
    display_name = clean_display_name(display_name) or username
    errors = {}
    if not USERNAME.match(username):
        errors["username"] = "Usernames are 3–32 characters: letters a–z, digits, _ and -."
    elif db.session.scalar(select(User.id).where(User.username == username)):
        errors["username"] = "That username is taken."
    elif (other := lookalike(username)) is not None:
        # "aiice" beside "alice": the @username is what tells two people apart, so it must too.
        errors["username"] = f"That username looks too much like another person's (@{other}). Choose another."
    # A display name left empty is the username: its problem is already said once.
    if not (display_name == username and "username" in errors) and (problem := display_name_error(display_name)):
        errors["display_name"] = problem
    return username, display_name, errors


def register(username: str | None, display_name: str | None, password: str | None, role: str = "member") -> User:
    """A new account with role (the owner's if it is the first; a guest's from a guest invitation).
    The caller's pending changes (core/invitations.py: the use it takes) commit with it or not at all."""
    username, display_name, errors = new_names(username, display_name)
    password = password or ""
    if problem := password_error(password):
        errors["password"] = problem
    if errors:
        raise AccountError(errors)
    if workspace.is_first_account():
        role = "owner"  # the first account runs the workspace
    user = User(username=username, display_name=display_name, role=role)
    user.set_password(password)
    db.session.add(user)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # registered by someone else between our check and the insert
        raise AccountError({"username": "That username is taken."}) from None
    if user.role == "owner":
        channels.ensure_general(user)  # the workspace starts with #general
    channels.join_default_channels(user)
    return user


def change_display_name(user: User, typed: str | None) -> str:
    """Give user the display name typed (cleaned as at registration); the name kept is returned.
    Raises AccountError, changing nothing, for an empty name or one display_name_error refuses."""
    name = clean_display_name(typed)
    if not name:
        raise AccountError({"display_name": "Type a display name."})
    if problem := display_name_error(name, besides=user.id):
        raise AccountError({"display_name": problem})
    user.display_name = name
    db.session.commit()
    return name


def save_preferences(user: User, *, hide_system_messages: bool, hide_presence: bool,
                     send_read_receipts: bool) -> None:
    user.hide_system_messages = hide_system_messages
    user.hide_presence = hide_presence
    user.send_read_receipts = send_read_receipts
    db.session.commit()


# The colour themes a user may pick, with the words the settings page shows for each.
THEMES = {"system": "Same as this device", "light": "Light", "dark": "Dark"}


def save_theme(user: User, theme: str | None) -> None:
    """Keep user's colour theme, one of THEMES; AccountError (nothing changed) for anything else."""
    if theme not in THEMES:
        raise AccountError({"theme": "Pick one of the themes shown."})
    user.theme = theme
    db.session.commit()


def change_password(user: User, current: str | None, new: str | None) -> None:
    """A new password for user, given the current one; AccountError (nothing changed) otherwise.
    Its new session token signs out every browser and remember-me cookie, and the open sockets close."""
    if not user.check_password(current or ""):
        raise AccountError({"current_password": "That is not your current password."})
    if problem := password_error(new or ""):
        raise AccountError({"new_password": problem})
    user.set_password(new)
    sessions.end_all(user.id)
    db.session.commit()
    publish_control([user.id], "credentials-changed")


def sign_out(user_id: int, sid: str) -> None:
    """End one sign-in: every copy of its cookies stops working and its sockets close."""
    sessions.end(sid)
    db.session.commit()
    publish_control([user_id], f"session-ended {sid}")


def set_active(user: User, active: bool) -> None:
    """Take an account out of service (signed out everywhere, sockets closed, its access tokens
    revoked, and the bots it owns deactivated with theirs) or back in (alone: its tokens stay
    revoked and its bots deactivated until someone reactivates each, so nothing comes back unseen)."""
    user.is_active_account = active
    gone = [user]
    if not active:
        sessions.end_all(user.id)
        gone += db.session.scalars(select(User).where(User.bot_owner_id == user.id, User.is_bot.is_(True),
                                                      User.is_active_account.is_(True))).all()
        for bot in gone[1:]:
            bot.is_active_account = False
    db.session.commit()
    if not active:
        for account in gone:
            tokens.revoke_all(account)  # each token's sockets close ("session-ended token:<id>")
        # With Redis the user's sockets close at once; without it (one process, in-process hub) a
        # command cannot reach them, and each worker's session check closes them within seconds.
        publish_control([account.id for account in gone], "credentials-changed")


_DUMMY_HASH = generate_password_hash("not a real password")


class Deactivated(Exception):
    """The password was right, but the account has been deactivated."""


class IsBot(Exception):
    """The username is a bot's: bots have no password and sign in with access tokens only."""


def authenticate(username: str | None, password: str | None) -> User | None:
    """The user these credentials name, or None; raises Deactivated for a right password on a
    deactivated account (only then, so the answer tells nothing to someone guessing), and IsBot
    for a bot's username, whatever the password (bots are listed by name to everyone anyway)."""
    username = (username or "").strip().lower()
    # A name no account can have never reaches the query (PostgreSQL refuses a NUL outright).
    user = None if unstorable(username) else db.session.scalar(select(User).where(User.username == username))
    if user is None:
        # Hash anyway, so the response time does not tell which usernames exist.
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if user.is_bot:
        check_password_hash(_DUMMY_HASH, password or "")  # as long as any other answer takes
        raise IsBot(user.username)
    if not user.check_password(password or ""):
        return None
    if not user.is_active_account:
        raise Deactivated(user.username)
    return user


@login_manager.user_loader
def load_user(login_id: str) -> User | None:
    """Map "<id>:<credential generation>:<login session>" back to the user while that sign-in is live.

    A changed password (new generation), a logout or revocation (row gone), an expired sign-in
    or a deactivated account: no user, whatever cookie was presented.
    """
    return sessions.live_user(login_id)
