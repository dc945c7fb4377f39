"""Error pages and fragments that read like a product, not a traceback."""
import math
import time

from flask import g, jsonify, make_response, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError, generate_csrf
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from .core.errors import NOT_FOUND
from .extensions import db, limiter, login_manager
from .htmx import is_htmx, retarget

TITLES = {
    400: ("Bad request", "The request could not be understood."),
    401: ("Sign in required", "Sign in to continue."),
    403: ("Not allowed", "You don't have access to that."),
    404: ("Not found", NOT_FOUND),
    405: ("Not allowed", "That action isn't available here."),
    413: ("Too large", "That was larger than webchat accepts."),
    429: ("Slow down", "Too many attempts. Wait a few minutes and try again."),
    500: ("Something went wrong", "webchat hit an error. Nothing you sent was half-stored; try again."),
    503: ("Try again in a moment", "webchat can't reach its database right now. Nothing was half-stored: "
                                   "your message was not sent — retry in a moment."),
}


API_PREFIX = "/api/v1/"  # programs' front door (webchat/api): every answer there is JSON
API_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
             409: "conflict", 413: "too_large", 415: "unsupported_media_type", 422: "invalid", 429: "rate_limited",
             500: "server_error", 503: "unavailable"}


def api_error(status: int, message: str, code: str | None = None):
    """An API error: {"error": {"code", "message"}} with its status; never HTML, never a traceback."""
    return jsonify({"error": {"code": code or API_CODES.get(status, "error"), "message": message}}), status


def api_rate_limited(e: RateLimitExceeded):
    """A per-token limit of the API spent (webchat/api): JSON, and Retry-After in seconds."""
    current = limiter.current_limit
    wait = current.window[0] - time.time() if current is not None else e.limit.limit.get_expiry()  # its reset
    seconds = max(1, math.ceil(wait))
    response, status = api_error(429, f"Too many requests for this token. Try again in {seconds} "
                                      f"second{'s' if seconds != 1 else ''}.")
    response.headers["Retry-After"] = str(seconds)
    return response, status


def render_error(status: int, detail: str | None = None):
    """An error in the page's flash area for htmx, else a page of its own; JSON on the API."""
    title, text = TITLES.get(status, (f"Error {status}", "The request could not be completed."))
    if request.path.startswith(API_PREFIX):
        return api_error(status, detail or text)
    if is_htmx():
        response = make_response(render_template("_flash.html", message=detail or text, kind="error"), status)
        return retarget(response, "#flash", "innerHTML")
    return render_template("error.html", title=title, text=detail or text, status=status), status


def init_app(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(e):
        response = make_response(render_error(
            400, "Your session has expired or the form was stale. Reload the page and try again; "
                 "your text is still in the box."))
        # A page of ours takes the fresh token (static/csrf.js), so sending again just works.
        # Another site's page cannot read a response header of ours.
        response.headers["X-CSRF-Token"] = generate_csrf()
        return response

    @app.errorhandler(RateLimitExceeded)
    def rate_limited(e):
        if request.path.startswith(API_PREFIX):
            return api_rate_limited(e)
        seconds = max(60, int(e.limit.limit.get_expiry()))
        minutes = (seconds + 59) // 60
        return render_error(429, f"Too many attempts. Try again in {minutes} minute{'s' if minutes != 1 else ''}.")

    @app.errorhandler(HTTPException)
    def http_error(e):
        return render_error(e.code or 500)

    @app.errorhandler(DBAPIError)
    def database_unavailable(e):
        db.session.rollback()
        app.logger.warning("database.unavailable error=%s", type(e.orig).__name__ if e.orig else type(e).__name__)
        # Render without the database: the signed-in user can't be loaded (or refreshed after the
        # rollback) now, and trying would turn this page into a bare 500. Drawn as for a visitor.
        g._login_user = login_manager.anonymous_user()
        return render_error(503)

    @app.errorhandler(Exception)
    def server_error(e):
        db.session.rollback()
        app.logger.exception("unhandled error")
        return render_error(500)
