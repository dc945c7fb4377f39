"""flask commands: demo data for a first run."""
import click
from flask import Flask
from sqlalchemy import select

from .extensions import db
from .models import Chat, User

DEMO_PASSWORD = "webchat-demo"
DEMO_USERS = [("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Chen")]

GENERAL_HISTORY = [
    ("alice", "Welcome to **webchat**! This is *#general*, the channel everyone joins."),
    ("bob", "Hi all 👋 Markdown works: `inline code`, **bold**, _italic_, and links like https://example.com"),
    ("carol", "> Quotes work too.\n\nAnd lists:\n- one\n- two"),
    ("alice", "@bob can you review the release notes today?"),
    ("bob", "On it, @alice."),
]
RANDOM_HISTORY = [
    ("carol", "Anyone up for lunch?"),
    ("alice", "```\nprint('hello from a code block')\n```"),
]
DIRECT_HISTORY = [
    ("alice", "Hey Bob, got a minute?"),
    ("bob", "Sure, what's up?"),
]


def seed_demo() -> bool:
    """Create the demo users and chats unless they exist; True when something was created."""
    from .core import channels, messaging, service  # imported late: they need the app's models bound

    if db.session.scalar(select(User.id).where(User.username == "alice")):
        return False
    users = {}
    for username, display in DEMO_USERS:
        user = User(username=username, display_name=display, role="owner" if username == "alice" else "member")
        user.set_password(DEMO_PASSWORD)
        db.session.add(user)
        users[username] = user
    db.session.commit()

    def post(chat: Chat, history):
        for i, (username, text) in enumerate(history):
            membership = service.membership_or_404(chat.id, users[username])
            messaging.send_message(membership, text, f"demo-{chat.id}-{i:04d}")

    # A workspace someone registered in before has its default channel already: a group instead.
    general = (channels.ensure_general(users["alice"], "general")
               or service.create_group(users["alice"], "General", "bob carol"))
    for username in ("bob", "carol"):
        channels.join_default_channels(users[username])
    post(general, GENERAL_HISTORY)
    random = service.create_group(users["carol"], "Random", "alice bob")
    post(random, RANDOM_HISTORY)
    direct = service.open_direct(users["alice"], "bob")
    post(direct, DIRECT_HISTORY)
    return True


def init_app(app: Flask) -> None:
    @app.cli.command("seed-demo")
    def seed_demo_command():
        """Create demo users alice, bob and carol (password webchat-demo) with some chats."""
        click.echo("Creating demo users and chats…")
        # Messages are rendered as they are stored, and their partial builds URLs: give it a request.
        with app.test_request_context("/"):
            created = seed_demo()
        if created:
            click.echo(f"Demo data ready: log in as alice, bob or carol with password {DEMO_PASSWORD}")
        else:
            click.echo("Demo data already present; nothing changed.")
