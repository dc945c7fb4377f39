"""htmx, the django-htmx way: what a request says about itself, and the headers that steer htmx
(client redirect, trigger, retarget).

Every request header read through here is named in the response's Vary (init_app's hook, once
for all views): a response that differs by HX-Request says so, and no cache hands a fragment to
a page load or a page to htmx.
"""
from flask import Response, g, make_response, redirect, request


def _read(header: str) -> str | None:
    """A request header the response depends on: read, and remembered for Vary."""
    g.setdefault("htmx_vary", set()).add(header)
    return request.headers.get(header)


def is_htmx() -> bool:
    return _read("HX-Request") == "true"


def is_history_restore() -> bool:
    return _read("HX-History-Restore-Request") == "true"


def wants_fragment(target_id: str) -> bool:
    """True when htmx asks for just the element target_id, not a whole page."""
    htmx, restore, target = is_htmx(), is_history_restore(), _read("HX-Target")
    return htmx and not restore and target == target_id


def triggered_by(element_id: str) -> bool:
    """True when the element with this id made the htmx request (HX-Trigger)."""
    return _read("HX-Trigger") == element_id


def retarget(response: Response, selector: str, swap: str = "outerHTML") -> Response:
    """Swap the response into selector instead of the requesting element's target."""
    response.headers["HX-Retarget"] = selector
    response.headers["HX-Reswap"] = swap
    return response


def trigger(response: Response, event: str) -> Response:
    """Fire event on the requesting element once the response arrives (HX-Trigger)."""
    response.headers["HX-Trigger"] = event
    return response


def client_redirect(url: str) -> Response:
    """204 with HX-Redirect: htmx loads url as a full page (django-htmx's HttpResponseClientRedirect)."""
    response = make_response("", 204)
    response.headers["HX-Redirect"] = url
    return response


def navigate(url: str) -> Response:
    """Go to url: a full page load by htmx for an htmx request, a plain redirect otherwise."""
    return client_redirect(url) if is_htmx() else redirect(url)


def vary_on_what_was_read(response: Response) -> Response:
    response.vary.update(g.pop("htmx_vary", ()))
    return response


def init_app(app) -> None:
    app.after_request(vary_on_what_was_read)
