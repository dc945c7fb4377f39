"""GET /api/v1/me: whom the token is of."""
from . import bp, caller, responses, spec
from .schemas import UserOut
from .serialize import user_out


@bp.get("/me")
@spec.validate(resp=responses(HTTP_200=UserOut), tags=["users"])
def me():
    """The current user: the person or bot the token belongs to."""
    return user_out(caller())
