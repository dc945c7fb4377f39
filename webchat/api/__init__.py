"""The API for programs: /api/v1, JSON in and out, a Bearer token (core/tokens.py) on every call.

A front door like pages/ and socket/: each endpoint checks its input (pydantic models, through
spectree, which also writes the OpenAPI 3.1 document served at /api/v1/openapi.json) and calls
the same core as the pages do (one permission check, one store, one publication).

Cookies are never read here and CSRF tokens never needed: a request is the token's, or refused.
So a page of another site can't use a visitor's sign-in against the API (there is none to use).
Every answer is JSON, errors too: {"error": {"code", "message"}} (errors.api_error).
"""
import json

from flask import Blueprint, g, request
from spectree import SpecTree

from ..core import tokens
from ..errors import api_error
from ..extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)



def _invalid_request(req, resp, error, _instance, adapter) -> None:
    """spectree's answer to a request its model refuses, in the API's error shape."""
    if error is None:
        return
    problems = adapter.validation_errors(error)
    first = problems[0] if problems else {"loc": [], "msg": "not what this endpoint takes"}
    where = ".".join(str(part) for part in first.get("loc", ()))
    resp.set_data(json.dumps({"error": {"code": "invalid",
                                        "message": f"{where}: {first.get('msg')}" if where else first.get("msg")}}))
    resp.mimetype = "application/json"


spec = SpecTree("flask", before=_invalid_request, title="webchat API", version="1", path="api/v1/docs", mode="strict",
                annotations=True, naming_strategy=lambda model: model.__name__,
                security_schemes=[{"name": "bearer", "data": {"type": "http", "scheme": "bearer"}}],
                security={"bearer": []})

PUBLIC = {"api.openapi"}  # endpoints that need no token


@bp.before_request
def authenticate():
    """Who is calling: the token in Authorization: Bearer <token>, nothing else (no cookie)."""
    g.api_token = None
    if request.endpoint in PUBLIC:
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return api_error(401, "Send your token as “Authorization: Bearer <token>”.", "unauthorized")
    token = tokens.authenticate(secret.strip())
    if token is None:
        return api_error(401, "This token is not valid: revoked, mistyped, or its account is deactivated.",
                         "invalid_token")
    g.api_token = token
    return None


def caller():
    """The user the token is of (a person or a bot)."""
    return g.api_token.user


def require_write():
    """A refusal for a read-only token, else None."""
    if not g.api_token.can_write:
        return api_error(403, "This token may only read. Make one that may read and write.", "read_only_token")
    return None


from . import chats, me, openapi  # noqa: E402,F401  (registers the endpoints on bp)
