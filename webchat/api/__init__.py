"""The API for programs: /api/v1, JSON in and out, a Bearer token (core/tokens.py) on every call.

A front door like pages/ and socket/: each endpoint checks its input (pydantic models, through
spectree, which also writes the OpenAPI 3.1 document served at /api/v1/openapi.json) and calls
the same core as the pages do (one permission check, one store, one publication).

Cookies are never read here and CSRF tokens never needed: a request is the token's, or refused.
So a page of another site can't use a visitor's sign-in against the API (there is none to use).
Every answer is JSON, errors too: {"error": {"code", "message"}} (errors.api_error); the core's
refusals (ChatError) keep their status and words. Limits: per token (API_RATE_LIMIT for every
call, API_SEND_LIMIT for every write, flask-limiter's storage: Redis when REDIS_URL is set), the
person's own send budgets (core/send_budget.py) on top, bodies bounded (API_MAX_JSON_BYTES for
JSON, MAX_CONTENT_LENGTH for uploads), pages bounded (schemas.PAGE_MAX).
"""
import json

from flask import Blueprint, current_app, g, request
from flask_limiter.util import get_remote_address
from spectree import Response, SpecTree
from spectree.model_adapter.pydantic_adapter import PydanticModelAdapter
from spectree.plugins.flask_plugin import FlaskPlugin

from ..core import tokens
from ..core.errors import ChatError
from ..errors import api_error
from ..extensions import csrf, db, limiter
from .schemas import ID_MAX, Error

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

PUBLIC = {"api.openapi"}  # endpoints that need no token
MULTIPART = {"api.upload_file"}  # endpoints whose body is multipart/form-data; every other body is JSON
WRITES = ["POST", "PATCH", "PUT", "DELETE"]


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


def _invalid_response(req, resp, error, _instance, adapter) -> None:
    """An answer of ours that its model refuses is our bug: logged, and a 500 in the error shape."""
    if error is None:
        return
    current_app.logger.error("api.response_invalid endpoint=%s errors=%s", req.endpoint,
                             adapter.validation_errors(error))
    resp.set_data(json.dumps({"error": {"code": "server_error", "message": DESCRIPTIONS[500] + "."}}))
    resp.mimetype = "application/json"


class _Adapter(PydanticModelAdapter):
    """pydantic's errors without the input they refused (a file part, bytes: not JSON, and not
    something to echo back)."""

    def validation_errors(self, err):
        return err.errors(include_url=False, include_context=False, include_input=False)


class _Plugin(FlaskPlugin):
    """spectree's Flask plugin, knowing our <id:…> converter (routing.IdConverter)."""

    def parse_path(self, route, path_parameter_descriptions):
        path, parameters = super().parse_path(route, path_parameter_descriptions)
        for parameter in parameters:
            if parameter["schema"] is None:
                parameter["schema"] = {"type": "integer", "minimum": 0, "maximum": ID_MAX}
        return path, parameters


class _Spec(SpecTree):
    """The document as spectree writes it, plus what it can't say: Retry-After on every 429, and
    the bodies that are not JSON (a downloaded file)."""

    def _generate_spec(self):
        spec = super()._generate_spec()
        for operations in spec["paths"].values():
            for operation in operations.values():
                responses = operation["responses"]
                if "429" in responses:
                    responses["429"]["headers"] = {"Retry-After": {
                        "description": "Seconds until a request may succeed", "required": True,
                        "schema": {"type": "integer", "minimum": 1}}}
                for status, binary in BINARY.get(operation["operationId"], {}).items():
                    responses[status]["content"] = {binary: {"schema": {"type": "string", "format": "binary"}}}
        return spec


BINARY: dict[str, dict[str, str]] = {}  # operationId -> {status: media type} of responses that are files

spec = _Spec("flask", backend=_Plugin, model_adapter=_Adapter(), before=_invalid_request,
             after=_invalid_response, validation_error_model=Error,
             title="webchat API", version="1", path="api/v1/docs", mode="strict", annotations=True,
             naming_strategy=lambda model: model.__name__, nested_naming_strategy=lambda _parent, child: child,
             security_schemes=[{"name": "bearer", "data": {"type": "http", "scheme": "bearer"}}],
             security={"bearer": []})


def responses(*errors: int, **ok) -> Response:
    """The endpoint's answers for the document and spectree's response check: ok (HTTP_200=Model…),
    the errors named, and those any call may get (no or a bad token, too fast, server trouble)."""
    described = {f"HTTP_{status}": (Error, DESCRIPTIONS[status]) for status in (401, 429, 500, 503, *errors)}
    return Response(**ok, **described)


DESCRIPTIONS = {
    400: "The body is not valid JSON, or the request makes no sense here",
    401: "No token, or one that is not valid (revoked, mistyped, its account deactivated)",
    403: "A read-only token on a write (read_only_token), or not allowed (someone else's message, an archived chat)",
    404: "No such chat or message, or not one of the token's user's chats (the same answer: nothing is revealed)",
    409: "In conflict with what is stored (a deleted message, a client_id used in another chat)",
    413: "The body is too large",
    415: "The body is not of the media type this endpoint takes",
    422: "The request's values are not what this endpoint takes (error.message says which and why)",
    429: "Too many requests: wait Retry-After seconds",
    500: "webchat hit an error; nothing was half-stored",
    503: "webchat can't reach its database right now; nothing was stored",
}
WRITE_ERRORS = (400, 403, 404, 409, 413, 415, 422)


# ----- who is calling, and how fast ------------------------------------------------------------

def current_token():
    """The live token of this request's Authorization: Bearer header, or None (looked up once)."""
    if "api_token" not in g:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        g.api_token = tokens.authenticate(secret.strip()) if scheme.lower() == "bearer" else None
    return g.api_token


def _limit_key() -> str:
    """Limits count per token; calls without a valid one, per address."""
    token = current_token() if request.endpoint not in PUBLIC else None
    return f"api-token:{token.id}" if token is not None else f"api-address:{get_remote_address()}"


limiter.shared_limit(lambda: current_app.config["API_RATE_LIMIT"], scope="api", key_func=_limit_key)(bp)
limiter.shared_limit(lambda: current_app.config["API_SEND_LIMIT"], scope="api-writes", key_func=_limit_key,
                     methods=WRITES)(bp)


@bp.before_request
def authenticate():
    """Who is calling: the token in Authorization: Bearer <token>, nothing else (no cookie)."""
    if request.endpoint in PUBLIC:
        return None
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return api_error(401, "Send your token as “Authorization: Bearer <token>”.", "unauthorized")
    if current_token() is None:
        return api_error(401, "This token is not valid: revoked, mistyped, or its account is deactivated.",
                         "invalid_token")
    if request.method in WRITES:
        return require_write() or _check_body()
    return None


def _check_body():
    """A write's body is of the endpoint's media type and small; a JSON body parses."""
    if request.endpoint in MULTIPART:
        if request.mimetype != "multipart/form-data":
            return api_error(415, "Send the files as multipart/form-data, each in a part named “files”.")
        return None
    limit = current_app.config["API_MAX_JSON_BYTES"]
    request.max_content_length = limit  # also stops a body without a Content-Length at the limit
    if (request.content_length or 0) > limit:
        return api_error(413, f"That body is larger than the {limit // 1024} KiB a JSON request may be.")
    if request.method == "DELETE" and not request.content_length:
        return None
    if not request.is_json:
        return api_error(415, "Send a JSON body, with “Content-Type: application/json”.")
    if request.get_json(silent=True) is None:
        return api_error(400, "The body is not valid JSON.", "invalid_json")
    return None


def caller():
    """The user the token is of (a person or a bot)."""
    return g.api_token.user


def require_write():
    """A refusal for a read-only token, else None."""
    if not g.api_token.can_write:
        return api_error(403, "This token may only read. Make one that may read and write.", "read_only_token")
    return None


@bp.errorhandler(ChatError)
def refused(e: ChatError):
    """The core refused: nothing half-stored, its words and status as JSON; Retry-After on a 429."""
    db.session.rollback()
    body, status = api_error(e.status, e.message)
    if status == 429:
        body.headers["Retry-After"] = str(e.retry_after or 1)
    return body, status


from . import chats, files, me, messages, openapi, search  # noqa: E402,F401  (registers the endpoints on bp)
