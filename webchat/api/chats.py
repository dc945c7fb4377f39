"""Chats: the caller's chats, one chat, its members."""
from ..core import service
from . import bp, caller, responses, spec
from .schemas import ChatList, ChatOut, MemberList
from .serialize import chat_out, user_out


@bp.get("/chats")
@spec.validate(resp=responses(HTTP_200=ChatList), tags=["chats"])
def list_chats():
    """Every chat the caller is a member of, most recently active first."""
    user = caller()
    return {"chats": [chat_out(entry.chat, user) for entry in service.chat_list(user)]}


@bp.get("/chats/<id:chat_id>")
@spec.validate(resp=responses(404, HTTP_200=ChatOut), tags=["chats"])
def show_chat(chat_id: int):
    """One of the caller's chats."""
    user = caller()
    return chat_out(service.membership_or_404(chat_id, user).chat, user)


@bp.get("/chats/<id:chat_id>/members")
@spec.validate(resp=responses(404, HTTP_200=MemberList), tags=["chats"])
def list_members(chat_id: int):
    """The chat's members, admins first, then by name."""
    chat = service.membership_or_404(chat_id, caller()).chat
    people = sorted(chat.memberships, key=lambda m: (not m.is_admin, m.user.display_name.lower()))
    return {"members": [{**user_out(m.user), "role": m.role} for m in people]}
