"""POST /hooks/<secret>: an incoming webhook's URL (core/webhooks.py), for CI steps and scripts.

The secret in the URL is the only credential: no cookie is read, no CSRF token asked for. It takes
Slack's shape, so tools made for Slack work unchanged: a JSON body {"text": "…"} (other keys
ignored), or a form with a text field or a payload field holding that JSON. Optional "client_id"
(or an X-Request-Id header) makes a retried post store one message. It answers "ok" (200) as Slack
does; errors are JSON {"error": {"code", "message"}} with their status (errors.api_error).
"""
import json
import logging

from flask import Blueprint, current_app, request
from flask_limiter.errors import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from ..core import webhooks
from ..core.errors import ChatError
from ..errors import api_error
from ..extensions import csrf, db, limiter

log = logging.getLogger(__name__)

bp = Blueprint("hooks", __name__, url_prefix="/hooks")
csrf.exempt(bp)

MAX_BODY = 64 * 1024  # a message is at most MAX_MESSAGE_LENGTH characters; Slack's extra keys fit too
FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")
UNKNOWN = "There is no webhook at this address: it was revoked, or the URL is mistyped."


def _limit() -> str:
    return current_app.config["WEBHOOK_INCOMING_LIMIT"]


def _hook_key() -> str:
    """One count per hook URL (its secret's hash: the secret itself is kept out of storage keys)."""
    return "hook:" + webhooks.digest((request.view_args or {}).get("secret", ""))


class BadBody(Exception):
    pass


def _fields() -> dict:
    """What was posted: the JSON object, or the form (its payload field's JSON, if it has one)."""
    request.max_content_length = MAX_BODY
    if request.mimetype in FORMS:
        form = request.form
        if form.get("payload") is not None:
            return _json_object(form["payload"])
        return {"text": form.get("text"), "client_id": form.get("client_id")}
    return _json_object(request.get_data(as_text=True))


def _json_object(raw: str) -> dict:
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise BadBody('Send JSON like {"text": "Deployed"} (or a form with a text field).') from e
    if not isinstance(data, dict):
        raise BadBody('Send a JSON object like {"text": "Deployed"}.')
    return data


@bp.post("/<secret>")
@limiter.limit(_limit, key_func=_hook_key)
def incoming(secret: str):
    """Post a message into the webhook's chat as its bot."""
    hook = webhooks.incoming(secret)
    if hook is None:
        return api_error(404, UNKNOWN)
    try:
        data = _fields()
    except BadBody as e:
        return api_error(400, str(e))
    text, client_id = data.get("text"), data.get("client_id") or request.headers.get("X-Request-Id")
    if not isinstance(text, str):
        return api_error(422 if "text" in data else 400, 'Say what to post in a "text" field.', "invalid")
    if client_id is not None and not isinstance(client_id, str):
        return api_error(422, '"client_id" is a string of 8 to 64 letters, digits, "-" or "_".', "invalid")
    try:
        result = webhooks.post_incoming(hook, text, client_id)
    except ChatError as e:
        db.session.rollback()
        response, status = api_error(e.status, e.message)
        if e.retry_after:
            response.headers["Retry-After"] = str(e.retry_after)
        return response, status
    log.info("webhook.posted hook=%d message=%d created=%s", hook.id, result.message.id, result.created)
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.errorhandler(RateLimitExceeded)
def too_many(e: RateLimitExceeded):
    response, status = api_error(429, "This webhook is posting too fast. Wait a little and post again.")
    response.headers["Retry-After"] = str(max(1, int(e.limit.limit.get_expiry())))
    return response, status


@bp.errorhandler(HTTPException)
def http_error(e: HTTPException):
    if e.code == 413:
        return api_error(413, f"That body is larger than {MAX_BODY // 1024} KiB. Nothing was posted.")
    return api_error(e.code or 500, e.description or "The request could not be completed.")
