"""Settings: do-not-disturb hours and the time zone they are in (core/quiet_hours.py; the form:
templates/auth/_settings_quiet.html)."""
from flask import flash, redirect, request, url_for
from flask_login import current_user, login_required

from ..core import quiet_hours as hours
from ..core.accounts import AccountError
from ..extensions import db
from . import bp
from .routes import _settings_page


@bp.post("/settings/quiet-hours")
@login_required
def quiet_hours():
    """Save one's do-not-disturb hours (on or off, from and to) and time zone."""
    try:
        hours.save_quiet_hours(current_user._get_current_object(), enabled=bool(request.form.get("dnd")),
                               start=request.form.get("dnd_start"), end=request.form.get("dnd_end"),
                               time_zone=request.form.get("time_zone"))
    except AccountError as e:
        db.session.rollback()
        return _settings_page(e.errors, 422)
    flash("Do-not-disturb hours saved.")
    return redirect(url_for("auth.settings", _anchor="quiet-hours"))


@bp.app_template_global()
def time_zones() -> tuple[str, ...]:
    return hours.time_zones()


@bp.app_template_filter()
def time_of_day(minutes: int | None) -> str:
    return hours.time_of_day(minutes)
