"""GET /api/v1/chats: the chats the token's user is in."""
from spectree import Response

from ..core import service
from . import bp, caller, spec
from .schemas import ChatList, Error


@bp.get("/chats")
@spec.validate(resp=Response(HTTP_200=ChatList, HTTP_401=Error), tags=["chats"])
def list_chats():
    """Every chat the caller is a member of, most recently active first."""
    user = caller()
    entries = service.chat_list(user)
    return {"chats": [{"id": e.chat.id, "kind": e.chat.kind, "name": e.chat.name, "title": e.title,
                       "last_message_id": e.chat.last_message_id or 0, "archived": e.chat.archived_at is not None}
                      for e in entries]}
