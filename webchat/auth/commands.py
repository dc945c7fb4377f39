"""flask deactivate-user / activate-user: take an account out of service and back."""
import click
from sqlalchemy import select

from ..core import accounts
from ..extensions import db
from ..models import User
from . import bp


def _user_or_fail(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise click.ClickException(f"There is no user named {username!r}.")
    return user


@bp.cli.command("deactivate-user")
@click.argument("username")
def deactivate_user(username: str) -> None:
    """Deactivate USERNAME: signed out everywhere, sockets closed, sign-in refused."""
    user = _user_or_fail(username)
    accounts.set_active(user, False)
    click.echo(f"Deactivated {user.username}: signed out everywhere; signing in is refused until "
               f"`flask activate-user {user.username}`.")


@bp.cli.command("activate-user")
@click.argument("username")
def activate_user(username: str) -> None:
    """Reactivate USERNAME: they can sign in again (no earlier sign-in comes back)."""
    user = _user_or_fail(username)
    accounts.set_active(user, True)
    click.echo(f"Activated {user.username}: they can sign in again.")
