from flask import Blueprint

# cli_group=None: its commands are `flask deactivate-user`, not `flask auth deactivate-user`.
bp = Blueprint("auth", __name__, cli_group=None)

from . import commands, invitations, mail, push, quiet_hours, reset, routes, tokens  # noqa: E402,F401  (registers the views and commands on bp)
