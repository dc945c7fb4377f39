"""What every template can use: the htmx settings, the CSRF token, the viewer's style nonce."""
import json
from datetime import UTC, datetime

from flask import current_app
from flask_wtf.csrf import generate_csrf

from .security import add_security_headers, style_nonce


def htmx_config() -> str:
    return json.dumps({
        "selfRequestsOnly": True,
        "allowScriptTags": False,
        "allowEval": False,
        "historyCacheSize": 0,
        "includeIndicatorStyles": False,
        "scrollIntoViewOnBoost": False,
        # Our own refusals (bad input, stale form, throttled) carry a fragment to show; swap it.
        "responseHandling": [
            {"code": "204", "swap": False},
            {"code": "[23]..", "swap": True},
            {"code": "^(400|403|409|413|422|429)$", "swap": True, "error": False},
            {"code": "[45]..", "swap": False, "error": True},
        ],
    })


def short_time(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.strftime("%H:%M")


def init_app(app) -> None:
    app.after_request(add_security_headers)
    app.jinja_env.filters["short_time"] = short_time

    @app.context_processor
    def globals_for_templates():
        return {
            "htmx_config": htmx_config,
            "csrf_token": generate_csrf,
            "style_nonce": style_nonce,
            "csrf_headers": lambda: json.dumps({"X-CSRFToken": generate_csrf()}),
            "poll_seconds": current_app.config["POLL_INTERVAL_SECONDS"],
        }
