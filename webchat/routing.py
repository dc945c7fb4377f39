"""The one URL converter for ids: every route that names a stored row uses <id:...>."""
from werkzeug.routing import IntegerConverter


class IdConverter(IntegerConverter):
    """Up to 18 digits, read as an int; a longer number matches no route: 404.

    A number past SQLite's 64-bit integers could not even be compared with a column there (it
    raised: a 500 with a traceback). 18 digits stay below 2^63 and far above any id the database
    holds (PostgreSQL integer columns). The bound is in the pattern rather than a max=, which
    werkzeug checks only after picking the rule: a path that another method's rule also matches
    (POST .../delete beside GET .../delete) would answer 405 instead of 404.
    """

    regex = r"\d{1,18}"


def init_app(app) -> None:
    """Before any blueprint: rules look their converters up as they are added."""
    app.url_map.converters["id"] = IdConverter
