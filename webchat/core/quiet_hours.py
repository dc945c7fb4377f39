"""Do-not-disturb hours and the time zone they are in, as a person sets them (Settings); the
rule that keeps notifications quiet then is core/notifications.py (quiet_now)."""
import functools
import re
from zoneinfo import available_timezones

from ..extensions import db
from ..models import User
from .accounts import AccountError

TIME_OF_DAY = re.compile(r"([01]\d|2[0-3]):([0-5]\d)(?::[0-5]\d(?:\.\d{1,3})?)?")  # <input type=time>'s value


@functools.cache
def time_zones() -> tuple[str, ...]:
    """The time zones a person may choose: the IANA names of this system's time zone database."""
    return tuple(sorted(available_timezones() - {"Factory", "localtime"}))


def time_of_day(minutes: int | None) -> str:
    """Minutes after midnight as <input type=time> shows them ("22:00"); "" for None."""
    return "" if minutes is None else f"{minutes // 60:02d}:{minutes % 60:02d}"


def save_quiet_hours(user: User, *, enabled: bool, start: str | None, end: str | None,
                     time_zone: str | None) -> None:
    """Set the person's do-not-disturb hours (off: none) and time zone; AccountError (by field)
    and nothing changed when a time or the zone is not one."""
    errors = {}
    if time_zone not in time_zones():
        errors["time_zone"] = "Choose your time zone from the list."
    minutes = {}
    if enabled:
        for field, typed in (("dnd_start", start), ("dnd_end", end)):
            found = TIME_OF_DAY.fullmatch((typed or "").strip())
            if found is None:
                errors[field] = "Give a time of day as hours and minutes, such as 22:00."
            else:
                minutes[field] = int(found.group(1)) * 60 + int(found.group(2))
        if len(minutes) == 2 and minutes["dnd_start"] == minutes["dnd_end"]:
            errors["dnd_end"] = "Do-not-disturb hours need to end at another time than they start."
    if errors:
        raise AccountError(errors)
    user.time_zone = time_zone
    user.dnd_start, user.dnd_end = (minutes["dnd_start"], minutes["dnd_end"]) if enabled else (None, None)
    db.session.commit()
