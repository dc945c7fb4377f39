"""The application object for gunicorn: `gunicorn -k gevent wsgi:app`."""
from webchat import create_app

app = create_app()
