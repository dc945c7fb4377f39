"""webchat: a self-hosted real-time team chat (Flask, htmx, WebSockets)."""
import logging

from flask import Flask, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

from . import config as config_module
from .extensions import csrf, db, limiter, login_manager, migrate, sock


class SessionInterface(SecureCookieSessionInterface):
    """Marks the session cookie Secure whenever the request came over https, and never lets a
    request from another site replace the browser's session."""

    def get_cookie_secure(self, app):
        return super().get_cookie_secure(app) or request.is_secure

    def should_set_cookie(self, app, session):
        # Another site's form post arrives without our cookie (SameSite=Lax) and is refused; the
        # empty session it got must not overwrite the browser's own, or any site could sign people out.
        # (A link from another site is a GET and carries the cookie; a first visit needs one set.)
        if request.method not in ("GET", "HEAD") and request.headers.get("Sec-Fetch-Site") == "cross-site" \
                and self.get_cookie_name(app) not in request.cookies:
            return False
        return super().should_set_cookie(app, session)


def create_app(config: dict | None = None) -> Flask:
    """Build the app: settings from the environment, overridden by config (tests)."""
    instance = config_module.instance_path()
    root = config_module.PROJECT_ROOT
    app = Flask(__name__, instance_path=str(instance), instance_relative_config=True,
                template_folder=str(root / "templates"), static_folder=str(root / "static"))
    app.config.from_mapping(config_module.from_environment(instance))
    if config:
        app.config.update(config)
    instance.mkdir(parents=True, exist_ok=True)
    _configure_logging()
    if app.config["PROXY_FIX"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.session_interface = SessionInterface()

    from .database import engine_options
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(app.config["SQLALCHEMY_DATABASE_URI"],
                                                                      app.config["DATABASE_CONNECTIONS"]))
    db.init_app(app)
    from .core.search import include_in_autogenerate
    migrate.init_app(app, db, directory=str(root / "migrations"), render_as_batch=True,
                     include_name=include_in_autogenerate)
    from .pages.chats import answer_idle_poll
    app.before_request(answer_idle_poll)  # before the hooks below, which such a poll needs none of
    csrf.init_app(app)
    limiter.init_app(app)
    from .security import secure_cookies_on_https
    app.after_request(secure_cookies_on_https)  # before flask-login's hook: runs after it
    login_manager.init_app(app)
    sock.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = "basic"

    from .core.group_commit import SendQueue
    app.extensions["webchat.hub"], app.extensions["webchat.live_state"] = _live_backends(app.config.get("REDIS_URL"))
    app.extensions["webchat.send_queue"] = SendQueue()
    from .core.notifier import Notifier
    app.extensions["webchat.notifier"] = Notifier(app)
    from .core.work_budget import create_work_budget
    app.extensions["webchat.work_budget"] = create_work_budget(app)

    from . import cli, errors, htmx, routing, templating
    routing.init_app(app)
    cli.init_app(app)
    errors.init_app(app)
    htmx.init_app(app)
    templating.init_app(app)
    from .core import threads, webhooks
    threads.init_app(app)
    webhooks.init_app(app)

    from .api import bp as api_bp
    from .api import spec as api_spec
    from .api.hooks import bp as hooks_bp
    from .auth import bp as auth_bp
    from .health import bp as health_bp
    from .pages import bp as pages_bp
    from .pages.admin import bp as admin_bp
    from .socket import bp as socket_bp
    app.register_blueprint(health_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(socket_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(hooks_bp)
    api_spec.app = app  # the OpenAPI document is read off this app's routes (no doc pages registered)
    app.extensions["webchat.notifier"].start()
    return app


def _live_backends(redis_url: str | None):
    """The hub and the live state: through Redis when REDIS_URL is set (several workers or hosts
    share channels, presence and budgets), else this process only."""
    if redis_url:
        from .realtime.redis_hub import RedisHub, RedisLiveState

        return RedisHub(redis_url), RedisLiveState(redis_url)
    from .realtime.hub import InProcessHub
    from .realtime.live_state import InProcessLiveState

    return InProcessHub(), InProcessLiveState()


def _configure_logging() -> None:
    """key=value lines on stderr; events carry ids and sizes, never message text."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
