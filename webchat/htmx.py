"""What an htmx request says about itself (the django-htmx idea, in a few lines)."""
from flask import Response, request


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def is_history_restore() -> bool:
    return request.headers.get("HX-History-Restore-Request") == "true"


def wants_fragment(target_id: str) -> bool:
    """True when htmx asks for just the element target_id, not a whole page."""
    return is_htmx() and not is_history_restore() and request.headers.get("HX-Target") == target_id


def retarget(response: Response, selector: str, swap: str = "outerHTML") -> Response:
    response.headers["HX-Retarget"] = selector
    response.headers["HX-Reswap"] = swap
    return response


def vary_on_htmx(response: Response) -> Response:
    response.vary.add("HX-Request")
    response.vary.add("HX-Target")
    return response
