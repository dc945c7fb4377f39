"""Chat operations: create a group, open a DM, change members, rename, leave; and the chat list.

Each operation that changes a chat records a system message in the same transaction.
"""
import hashlib
import re
from dataclasses import dataclass

from flask import current_app, render_template
from sqlalchemy import String, and_, bindparam, cast, func, literal_column, null, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased, contains_eager, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ..database import DriverStatement
from ..extensions import db
from ..models import Chat, Membership, Message, ThreadFollow, User, utcnow
from ..text_rules import unstorable, without_controls
from . import program_events, read_state, send_budget, sessions, workspace
from .broadcasts import publish_control
from .errors import ChatError, not_found
from .messaging import IN_CHANNEL, MAX_ID, add_system_message, announce, render_message_frame
from .read_only import check_writable

MAX_CHAT_NAME = 80
MAX_MEMBERS_PER_REQUEST = 100


def find_membership(chat_id: int, user: User) -> Membership | None:
    """The user's membership of the chat, None when the chat does not exist or the user is not in it
    (or the id is past the database's integers: PostgreSQL would refuse to compare it)."""
    if chat_id > MAX_ID:
        return None
    return db.session.scalar(
        select(Membership).where(Membership.chat_id == chat_id, Membership.user_id == user.id)
    )


def members_of(chat: Chat) -> list[Membership]:
    """The chat's memberships with their users, in one query; chat.memberships holds them after
    (loaded one by one, each member's user was a query of its own)."""
    if "memberships" not in chat.__dict__:
        memberships = db.session.scalars(select(Membership).where(Membership.chat_id == chat.id)
                                         .options(joinedload(Membership.user)).order_by(Membership.id)).all()
        set_committed_value(chat, "memberships", memberships)
    return chat.memberships


def membership_or_404(chat_id: int, user: User) -> Membership:
    """The user's membership of the chat; ChatError 404 when the chat does not exist or the user is not in it."""
    membership = find_membership(chat_id, user)
    if membership is None:
        raise not_found()
    return membership


def message_or_404(chat_id: int, user: User, message_id: int) -> tuple[Membership, Message]:
    """The user's membership of the chat and one message of that chat; ChatError 404 when either is missing
    (a message of another chat looks the same as one that does not exist)."""
    membership = membership_or_404(chat_id, user)
    message = db.session.get(Message, message_id) if message_id <= MAX_ID else None
    if message is None or message.chat_id != chat_id:
        raise not_found()
    return membership, message


def parse_usernames(text: str | None) -> list[str]:
    names = [n.lstrip("@").lower() for n in re.split(r"[\s,]+", text or "") if n.strip()]
    return list(dict.fromkeys(names))  # keep order, drop repeats


def users_by_username(requester: User, names: list[str], doing: str) -> list[User]:
    """The active users so named, for requester to put into a chat; ChatError when any is missing.

    Which names exist is no one's business but theirs: the refusal names only people requester
    may find (workspace.findable: for a guest, people they already share a chat with), and every
    other name costs one lookup from requester's budget, so trying usernames one by one is slow.
    doing: what failed, e.g. "Couldn't start the chat".
    """
    if len(names) > MAX_MEMBERS_PER_REQUEST:
        raise ChatError(f"Add at most {MAX_MEMBERS_PER_REQUEST} people at a time.")
    if any(unstorable(n) for n in names):
        raise ChatError("Usernames are letters a–z, digits, _ and -; what you typed holds a character "
                        "no username has (a NUL). Nothing was changed.")
    if not names:
        return []
    known = _known_usernames(requester, names)
    send_budget.spend(requester.id, send_budget.LOOKUP, amount=sum(n not in known for n in names))
    # Only people requester may find: a guest reaches only those they already share a chat with;
    # anyone else is refused as a name that matches no one, so a guest learns nothing of who exists.
    users = [u for u in db.session.scalars(select(User).where(User.username.in_(names)))
             if u.is_active_account and u.username in known]
    found = {u.username for u in users}
    if any(n not in found for n in names):
        raise ChatError(_not_found(doing, [n for n in names if n not in found and n in known],
                                   [n for n in names if n not in known]))
    return users


def _known_usernames(requester: User, names: list[str]) -> set[str]:
    """Which of these names belong to requester or to someone they may find."""
    found = db.session.scalars(select(User.username).where(User.username.in_(names), workspace.findable(requester)))
    return {requester.username, *found}


NAMES_IN_REFUSAL = 5


def _not_found(doing: str, missing_known: list[str], unknown: list[str]) -> str:
    """The refusal for names that match no one. It names the missing people requester knows;
    of the others it says only that one or more is missing, which tells nothing about who exists."""
    if missing_known:
        verb = "doesn't" if len(missing_known) == 1 else "don't"
        return f"{doing}: {', '.join(missing_known)} {verb} match anyone you can add. Nothing was changed."
    if len(unknown) == 1:
        which = f"the username — {unknown[0]} doesn't"
    elif len(unknown) <= NAMES_IN_REFUSAL:
        which = f"the usernames — one or more of {', '.join(unknown)} don't"
    else:
        which = f"the usernames — one or more of the {len(unknown)} that aren't people you can find don't"
    return f"{doing}: check {which} match anyone you can add. Nothing was changed."


def validate_chat_name(name: str | None) -> str:
    name = name or ""
    if unstorable(name):
        raise ChatError("That name contains a character webchat can't store (a NUL or an unpaired "
                        "surrogate). Nothing was changed — remove it and try again.")
    # Bidi controls and invisible characters are dropped, as from file names and display names: a
    # chat name must not reverse the text shown after it (the system message, the list's preview).
    name = " ".join(without_controls(name).split())
    if not name:
        raise ChatError("Give the chat a name.")
    if len(name) > MAX_CHAT_NAME:
        raise ChatError(f"Chat names can be at most {MAX_CHAT_NAME} characters.")
    return name


def create_group(creator: User, name: str | None, member_names: str | None, *, public: bool = False,
                 topic: str = "", description: str = "") -> Chat:
    """A group chat of creator (its admin and owner) and the named people; public: a channel
    anyone but a guest finds (core/channels.create_channel checks its name and who may)."""
    check_may_create(creator, public)
    name = validate_chat_name(name)
    send_budget.spend(creator.id, send_budget.CREATE_CHAT)  # every try: probing names costs too
    others = [u for u in users_by_username(creator, parse_usernames(member_names), "Couldn't start the chat")
              if u.id != creator.id]
    _spend_on_adding(creator, others)
    chat = Chat(kind="group", name=name, is_public=public, topic=topic, description=description,
                owner_id=creator.id)
    chat.memberships.append(Membership(user=creator, role="admin"))
    chat.memberships.extend(Membership(user=u) for u in others)
    db.session.add(chat)
    db.session.flush()
    add_system_message(chat, f"{creator.display_name} created the chat “{name}”")
    if others:
        add_system_message(chat, f"{creator.display_name} added " + _names(others))
    db.session.commit()
    publish_control([creator.id, *(u.id for u in others)], "memberships")
    return chat


def check_may_create(creator: User, public: bool) -> None:
    """ChatError 403 unless creator may start a chat of that kind (workspace.may_create_channel)."""
    if creator.is_guest:
        raise ChatError("Guests can't create channels.", 403)
    if not workspace.may_create_channel(creator, public):
        raise ChatError("In this workspace only administrators create public channels. Make it private, "
                        "or ask an administrator.", 403)


def start_conversation(user: User, people: str | None, name: str | None) -> Chat:
    """The people picker's one button: one person and no name opens the direct message with them
    (the existing one if there is one); several people, or a name, start a group."""
    names = [n for n in parse_usernames(people) if n != user.username]
    if not names:
        raise ChatError("Choose someone to message: type a name and pick them from the list.")
    if len(names) == 1 and not (name or "").strip():
        return open_direct(user, names[0])
    if not (name or "").strip():
        raise ChatError("Give the group a name: it has more than one other person.")
    return create_group(user, name, " ".join(names))


def open_direct(user: User, username: str | None) -> Chat:
    """The one direct chat between user and the named user, created on first use."""
    names = parse_usernames(username)
    if len(names) != 1:
        raise ChatError("Name one person to message directly.")
    (other,) = users_by_username(user, names, "Couldn't open the conversation")
    if other.id == user.id:
        raise ChatError("You can't start a direct message with yourself.")
    key = f"{min(user.id, other.id)}:{max(user.id, other.id)}"
    chat = db.session.scalar(select(Chat).where(Chat.direct_key == key))
    if chat is not None:
        return chat
    send_budget.spend(user.id, send_budget.CREATE_CHAT)
    _spend_on_adding(user, [other])
    chat = Chat(kind="direct", direct_key=key)
    chat.memberships.append(Membership(user=user, role="admin"))
    chat.memberships.append(Membership(user=other, role="admin"))
    db.session.add(chat)
    try:
        db.session.flush()
        add_system_message(chat, f"{user.display_name} started a conversation with {other.display_name}")
        db.session.commit()
        publish_control([user.id, other.id], "memberships")
    except IntegrityError:
        db.session.rollback()  # the other person opened it at the same moment
        chat = db.session.scalar(select(Chat).where(Chat.direct_key == key))
        if chat is None:
            raise
    return chat


def _spend_on_adding(actor: User, users: list[User]) -> None:
    """Count the people actor is putting into a chat: against actor's budget of additions, and
    each against the cap on how often one person may put that one into new chats (a flood of
    chats around one person slows their chat list and buries what matters to them)."""
    send_budget.spend(actor.id, send_budget.ADD_MEMBERS, amount=len(users))
    for user in users:
        send_budget.spend(actor.id, send_budget.PUT_INTO, about=user.id, name=user.display_name)


def _require_group(chat: Chat, action: str) -> None:
    if chat.is_direct:
        raise ChatError(f"A direct message can't {action}; start a group chat instead.", 400)


def _require_admin(membership: Membership) -> None:
    if not membership.is_admin:
        raise ChatError("Only the chat's admins can do that.", 403)


def announce_membership(chat: Chat, message: Message, *, joined: list[User] = (), left: list[User] = ()) -> None:
    """Someone joined, was added or removed, or left (after commit): the chat's open pages get the
    system message and the new member count, one frame (an open members page fetches its list);
    programs get the message and member.joined or member.left naming who."""
    count = db.session.scalar(select(func.count()).select_from(Membership).where(Membership.chat_id == chat.id))
    kind, users = ("member.joined", joined) if joined else ("member.left", left)
    announce(message, render_message_frame([message])
             + render_template("chats/_member_count.html", chat=chat, count=count, oob=True),
             also=lambda: [program_events.members(kind, chat.id, users, message)] if users else [])


def add_members(membership: Membership, member_names: str | None) -> list[User]:
    chat = membership.chat
    _require_group(chat, "have more members")
    check_writable(chat)
    users = users_by_username(membership.user, parse_usernames(member_names), "Couldn't add anyone")
    if not users:
        raise ChatError("Name at least one person to add.")
    present = {m.user_id for m in chat.memberships}
    new = [u for u in users if u.id not in present]
    if not new:
        raise ChatError("Everyone you named is already in this chat.")
    _spend_on_adding(membership.user, new)
    chat.memberships.extend(Membership(user=u) for u in new)
    message = add_system_message(chat, f"{membership.user.display_name} added {_names(new)}")
    db.session.commit()
    announce_membership(chat, message, joined=new)
    publish_control([u.id for u in new], "memberships")
    return new


def remove_member(membership: Membership, username: str | None) -> User:
    chat = membership.chat
    _require_group(chat, "lose members")
    _require_admin(membership)
    target = next((m for m in chat.memberships if m.user.username == (username or "").lower()), None)
    if target is None:
        raise ChatError("That person is not in this chat.")
    if target.user_id == membership.user_id:
        raise ChatError("To remove yourself, leave the chat.")
    chat.memberships.remove(target)
    message = add_system_message(chat, f"{membership.user.display_name} removed {target.user.display_name}")
    db.session.commit()
    publish_control([target.user_id], f"left {chat.id}")  # their sockets stop receiving this chat
    announce_membership(chat, message, left=[target.user])
    return target.user


def rename(membership: Membership, name: str | None) -> None:
    chat = membership.chat
    _require_group(chat, "be renamed")
    name = validate_chat_name(name)
    if name == chat.name:
        return
    send_budget.spend(membership.user_id, send_budget.RENAME)  # its system message goes to everyone
    chat.name = name
    message = add_system_message(chat, f"{membership.user.display_name} renamed the chat to “{name}”")
    db.session.commit()
    announce(message)


def leave(membership: Membership) -> None:
    chat = membership.chat
    _require_group(chat, "be left")
    user = membership.user
    remaining = [m for m in chat.memberships if m.user_id != user.id]
    # A group never loses its last admin while people remain in it.
    if membership.is_admin and remaining and not any(m.is_admin for m in remaining):
        remaining[0].role = "admin"
    chat.memberships.remove(membership)
    message = add_system_message(chat, f"{user.display_name} left")
    db.session.commit()
    publish_control([user.id], f"left {chat.id}")
    announce_membership(chat, message, left=[user])


NOTIFY_LEVELS = ("all", "mentions", "none")


def set_notifications(membership: Membership, level: str | None) -> None:
    """Which of the chat's messages notify the member: all, mentions only, or none."""
    if level not in NOTIFY_LEVELS:
        raise ChatError("Choose all messages, mentions only, or nothing.")
    membership.notify = level
    db.session.commit()


def _names(users: list[User]) -> str:
    names = [u.display_name for u in users]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


@dataclass
class ChatListEntry:
    chat: Chat
    title: str
    preview: Message | None
    unread: int
    partner: User | None  # the other person of a direct chat
    notify: str  # the viewer's notification level for the chat
    mentions: int = 0  # unread messages that mention the viewer (the "@2" beside the unread count)
    counted_upto: int = 0  # the newest message id the counts saw
    counted_read: int = 0  # the viewer's read marker the counts saw


def chat_list(user: User) -> list[ChatListEntry]:
    """The user's chats, most recent activity first, with preview and unread count."""
    # The chats come with their memberships, and the DM partners with theirs: one query each,
    # not one more per chat in the list (every socket's "view" and every list poll renders it).
    memberships = list(db.session.scalars(
        select(Membership).join(Chat).where(Membership.user_id == user.id)
        .order_by(Chat.last_message_id.desc(), Chat.id.desc()).options(contains_eager(Membership.chat))
    ))
    if not memberships:
        return []
    chat_ids = [m.chat_id for m in memberships]
    counts = read_state.unread_counts(user.id)
    previews = _previews(user, [m.chat for m in memberships])
    partners = {
        m.chat_id: m.user for m in db.session.scalars(
            select(Membership).join(Chat)
            .where(Membership.chat_id.in_(chat_ids), Membership.user_id != user.id, Chat.kind == "direct")
            .options(joinedload(Membership.user))
        )
    }
    entries = []
    for m in memberships:
        partner = partners.get(m.chat_id)
        title = m.chat.name or (partner.display_name if partner else "Just you")
        unread, mentions, upto, read = counts.get(m.chat_id, (0, 0, 0, 0))
        entries.append(ChatListEntry(m.chat, title, previews.get(m.chat_id), unread, partner, m.notify, mentions,
                                     upto, read))
    return entries


def _previews(user: User, chats: list[Chat]) -> dict[int, Message]:
    ids = [c.last_message_id for c in chats if c.last_message_id]
    # With their authors: the preview line names them (templating.message_preview).
    last = {m.chat_id: m for m in db.session.scalars(
        select(Message).where(Message.id.in_(ids)).options(joinedload(Message.author)))} if ids else {}
    if user.hide_system_messages:
        for chat_id, message in list(last.items()):
            if message.is_system:
                newest_user = db.session.scalar(
                    select(Message).where(Message.chat_id == chat_id, Message.kind == "user", IN_CHANNEL)
                    .order_by(Message.id.desc()).limit(1)
                )
                if newest_user is None:
                    del last[chat_id]
                else:
                    last[chat_id] = newest_user
    return last


def chat_title(chat: Chat, viewer: User) -> str:
    if chat.name:
        return chat.name
    other = next((m.user for m in chat.memberships if m.user_id != viewer.id), None)
    return other.display_name if other else "Just you"


# What the chat list (and the Threads badge sent with it) is made of, read without a message row:
# per chat of the user's, its newest id and change number (a new message, an edit or deletion, a
# thread reply: previews, order, unread and "@" counts), the member's read marker and level, the
# chat's name and archiving, the partner of a direct chat as the list shows them; per followed
# thread, the follow's state and read marker; and the viewer's own settings the list reads. One
# statement (UNION ALL, every column as text so the branches agree on PostgreSQL), the memberships
# by ix_memberships_user and the follows by their primary key. signed_in: only for a live sign-in
# (its login id's parts as parameters), as the idle messages poll checks it (changes.nothing_new_for).
# Constants are literal columns: DriverStatement takes every bound value from its caller.
def _list_state(signed_in: bool) -> DriverStatement:
    partner, partner_user = aliased(Membership), aliased(User)
    chats = (select(literal_column("'c'"), *(cast(c, String) for c in (
                 Membership.chat_id, Chat.last_message_id, Chat.last_change_seq, Membership.last_read_message_id,
                 Membership.notify, Chat.kind, Chat.name, Chat.archived_at, User.hide_system_messages,
                 User.hide_presence, partner_user.id, partner_user.username, partner_user.display_name,
                 partner_user.hide_presence, partner_user.last_seen_at)))
             .select_from(User).join(Membership, Membership.user_id == User.id)
             .join(Chat, Chat.id == Membership.chat_id)
             .outerjoin(partner, and_(Chat.kind == literal_column("'direct'"), partner.chat_id == Chat.id,
                                      partner.user_id != User.id))
             .outerjoin(partner_user, partner_user.id == partner.user_id))
    if signed_in:
        chats = chats.join(sessions.LoginSession, sessions.LoginSession.user_id == User.id).where(
            sessions.live_sign_in(bindparam("sid"), bindparam("user"), bindparam("token"), bindparam("now")))
    else:
        chats = chats.where(User.id == bindparam("user"))
    follows = select(literal_column("'t'"), *(cast(c, String) for c in (
                         ThreadFollow.thread_id, ThreadFollow.last_read_id, ThreadFollow.following)),
                     *(null() for _ in range(12))).where(ThreadFollow.user_id == bindparam("user"))
    return DriverStatement(union_all(chats, follows).order_by(literal_column("1"), literal_column("2")))


_LIST_STATE, _LIST_STATE_SIGNED_IN = _list_state(False), _list_state(True)


def _list_version(rows: list[tuple]) -> str:
    """The chat list's version from its state's rows, and whether each direct chat's partner is
    online (the list shows it; a page without its socket learns it from the list alone)."""
    partners = {int(row[11]) for row in rows if row[0] == "c" and row[11] is not None}
    online = sorted(current_app.extensions["webchat.live_state"].online(partners)) if partners else []
    return hashlib.blake2b(repr((rows, online)).encode(), digest_size=8).hexdigest()


def _state_rows(statement: DriverStatement, params: dict) -> list[tuple]:
    return statement.on_pool(db.engine, params)  # as changes.nothing_new_for: no ORM transaction


def chat_list_version(user_id: int) -> str:
    """The version of the user's chat list as it is now: read before the list itself, so a change
    landing in between makes the next poll's version differ (list_unchanged_for)."""
    return _list_version(_state_rows(_LIST_STATE, {"user": user_id}))


def list_unchanged_for(login_id: str, version: str) -> int | None:
    """For a page polling its chat list as of `version`: the user's id when the sign-in
    `login_id` is live and the list would be rendered the same (the same version); else None, and
    the full answer decides. One statement, no message row read."""
    parsed = sessions.parse_login_id(login_id)
    if parsed is None or parsed[0] > MAX_ID:
        return None
    user_id, token, sid = parsed
    rows = _state_rows(_LIST_STATE_SIGNED_IN, {"user": user_id, "token": token, "sid": sid, "now": utcnow()})
    if not rows or rows[0][0] != "c" or _list_version(rows) != version:
        return None
    return user_id
