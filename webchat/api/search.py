"""GET /api/v1/search: messages of the caller's chats containing words (core/search.py)."""
from ..core import service
from ..core.search import search_messages
from . import bp, caller, responses, spec
from .schemas import SearchQuery, SearchResults
from .serialize import chat_out, message_out


@bp.get("/search")
@spec.validate(resp=responses(404, 422, HTTP_200=SearchResults), tags=["search"])
def search(query: SearchQuery):
    """Messages containing every word of ?q=, newest first, in the caller's chats (or ?chat= only)."""
    user = caller()
    if query.chat is not None:
        service.membership_or_404(query.chat, user)
    page = search_messages(user, query.q, query.limit, before=query.before, chat_id=query.chat)
    return {"results": [{"message": message_out(hit.message), "chat": chat_out(hit.chat, user),
                         "snippet": str(hit.snippet)} for hit in page.hits],
            "more_before": page.more_before}
