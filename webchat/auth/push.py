"""A person's devices for Web Push: turning notifications on in a browser (static/push.js posts
its PushSubscription), removing a device (Settings, works without JavaScript), and the service
worker itself (static/sw.js), served from the root so that its scope is the whole app."""
import re

from flask import (
    current_app,
    flash,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user, login_required

from ..core import push
from ..core.errors import ChatError
from ..errors import render_error
from ..extensions import db
from . import bp

# What a User-Agent says, in the order it must be asked: Edge and Opera also say "Chrome", Chrome
# also says "Safari", Android also says "Linux", an iPad may say "Macintosh".
BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("FxiOS/", "Firefox"),
            ("CriOS/", "Chrome"), ("Chrome/", "Chrome"), ("Chromium/", "Chromium"), ("Safari/", "Safari"))
SYSTEMS = (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("CrOS", "ChromeOS"),
           ("Windows", "Windows"), ("Mac OS X", "macOS"), ("Macintosh", "macOS"), ("Linux", "Linux"))


def device_name(user_agent: str | None) -> str:
    """"Chrome on Linux": how Settings names a device, from its browser's User-Agent."""
    user_agent = user_agent or ""
    browser = next((name for mark, name in BROWSERS if mark in user_agent), "A browser")
    system = next((name for mark, name in SYSTEMS if re.search(rf"\b{re.escape(mark)}", user_agent)), None)
    return f"{browser} on {system}" if system else browser


def _subscription() -> dict:
    """The PushSubscription's JSON (pushSubscription.toJSON()), or the same as form fields."""
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return {"endpoint": request.form.get("endpoint"), "p256dh": request.form.get("p256dh"),
                "auth": request.form.get("auth")}
    keys = data.get("keys") if isinstance(data.get("keys"), dict) else {}
    return {name: value if isinstance(value, str) else None
            for name, value in (("endpoint", data.get("endpoint")), ("p256dh", keys.get("p256dh")),
                                ("auth", keys.get("auth")))}


def _refusal(e: ChatError):
    db.session.rollback()
    return jsonify(error=e.message), e.status


@bp.post("/settings/push")
@login_required
def subscribe_push():
    """Turn notifications on for this browser: store (or renew) its push subscription."""
    try:
        row = push.subscribe(current_user._get_current_object(), **_subscription(),
                             device=device_name(request.headers.get("User-Agent")))
    except ChatError as e:
        return _refusal(e)
    return jsonify(id=row.id, device=row.device, message=f"Notifications are on for {row.device}."), 201


@bp.post("/settings/push/unsubscribe")
@login_required
def unsubscribe_push():
    """This browser turned notifications off: forget its subscription (by its endpoint)."""
    removed = push.unsubscribe_endpoint(current_user._get_current_object(), _subscription()["endpoint"])
    return jsonify(removed=removed)


@bp.post("/settings/push/<id:subscription_id>/delete")
@login_required
def remove_push_device(subscription_id: int):
    """Remove one of one's devices from Settings: it gets no more notifications."""
    try:
        push.unsubscribe(current_user._get_current_object(), subscription_id)
    except ChatError as e:
        db.session.rollback()
        return render_error(e.status, e.message)
    flash("That device gets no more notifications.")
    return redirect(url_for("auth.settings"))


@bp.get("/settings/push")
@login_required
def push_device_list():
    """One's devices with notifications on, the list alone (Settings refreshes it after a change)."""
    return render_template("auth/_push_device_list.html")


@bp.get("/sw.js")
def service_worker():
    """The service worker, from the root: a worker's scope is at most the folder it is served from
    (Service-Worker-Allowed says so too), and no-cache lets a new version reach every browser."""
    response = make_response(send_from_directory(current_app.static_folder, "sw.js",
                                                 mimetype="application/javascript", max_age=0))
    response.headers["Service-Worker-Allowed"] = "/"
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.app_template_global()
def push_devices() -> list:
    """The signed-in person's devices with notifications on (Settings)."""
    return push.devices(current_user._get_current_object())


@bp.app_template_global()
def push_public_key() -> str:
    """The applicationServerKey browsers subscribe with (static/push.js)."""
    return push.public_key()
