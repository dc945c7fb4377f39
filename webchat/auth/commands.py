"""flask deactivate-user / activate-user / create-admin: accounts out of service and back, and administrators."""
import click
from sqlalchemy import select

from ..core import accounts, invitations
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


@bp.cli.command("create-admin")
@click.argument("username")
@click.option("--password", help="The new account's password (asked for, hidden, when not given).")
@click.option("--display-name", help="The new account's display name (default: the username).")
def create_admin(username: str, password: str | None, display_name: str | None) -> None:
    """Make USERNAME an administrator (the owner if the workspace has none), creating the account
    if there is none."""
    if invitations.find_user(username) is None and password is None:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        _user, done = invitations.appoint_admin(username, password, display_name)
    except accounts.AccountError as e:
        raise click.ClickException(" ".join(e.errors.values())) from None
    click.echo(done)
