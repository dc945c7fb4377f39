"""GET /api/v1/openapi.json: the OpenAPI 3.1 document, generated from the endpoints' models."""
from flask import jsonify

from . import bp, spec


@bp.get("/openapi.json")
def openapi():
    """The API's description (no token needed)."""
    return jsonify(spec.spec)
