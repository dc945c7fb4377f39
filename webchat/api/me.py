"""GET /api/v1/me: whom the token is of."""
from spectree import Response

from . import bp, caller, spec
from .schemas import Error, UserOut


def user_out(user) -> dict:
    return {"id": user.id, "username": user.username, "display_name": user.display_name, "is_bot": user.is_bot}


@bp.get("/me")
@spec.validate(resp=Response(HTTP_200=UserOut, HTTP_401=Error), tags=["users"])
def me():
    """The current user: the person or bot the token belongs to."""
    return user_out(caller())
