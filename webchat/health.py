"""Probes for load balancers and orchestrators: alive, and ready to serve."""
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from .extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is up and answering."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database (and Redis, when configured) answer; 503 naming what does not."""
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as e:  # noqa: BLE001 - any failure means "not ready", reported by name
        db.session.rollback()
        checks["database"] = f"unreachable: {type(e).__name__}"
    finally:
        db.session.remove()
    if current_app.config.get("REDIS_URL"):
        try:
            current_app.extensions["webchat.hub"].redis.ping()
            checks["redis"] = "ok"
        except Exception as e:  # noqa: BLE001
            checks["redis"] = f"unreachable: {type(e).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)
