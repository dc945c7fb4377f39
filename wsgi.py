"""The application object for gunicorn: `gunicorn -k gevent wsgi:app`."""
import gc

from webchat import create_app

app = create_app()
# Everything made so far (modules, the app, SQLAlchemy's and Jinja's caches) lives as long as the
# worker: keep it out of the garbage collector's full passes, which then scan only what came
# later (sockets, requests) and pause a fan-out for less.
gc.freeze()
