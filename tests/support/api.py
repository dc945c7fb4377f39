"""The API as a program calls it: Bearer tokens made straight in a live server's database (as
Settings' "Access tokens" makes them: core/tokens.py keeps only the secret's SHA-256), and JSON
requests over real HTTP."""
import json
import secrets
import urllib.error
import urllib.request
from datetime import UTC, datetime
from types import SimpleNamespace

from sqlalchemy import insert, select

from webchat.core.tokens import PREFIX, SCOPES, digest

from .stored import LiveDatabase


def make_token(stored: LiveDatabase, username: str, scope: str = "write") -> str:
    """A new token of the user (scope "read" or "write"); its secret."""
    tables = stored.metadata.tables
    users, tokens = tables["users"], tables["api_tokens"]
    secret = PREFIX + secrets.token_urlsafe(32)
    with stored.engine.begin() as conn:
        user_id = conn.scalar(select(users.c.id).where(users.c.username == username))
        conn.execute(insert(tokens).values(user_id=user_id, name="tests", prefix=secret[:11],
                                           secret_hash=digest(secret), scopes=SCOPES[scope], created_by_id=user_id,
                                           created_at=datetime.now(UTC)))
    return secret


def call(base_url: str, method: str, path: str, token: str | None = None, body=None, timeout: float = 30):
    """One request; the answer as .status, .headers and .json (None when not JSON)."""
    headers = {"Accept": "application/json"}
    data = None
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        headers["Content-Type"] = "application/json"
        data = json.dumps(body).encode()
    request = urllib.request.Request(base_url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as raw:
            status, raw_headers, text = raw.status, raw.headers, raw.read().decode()
    except urllib.error.HTTPError as error:
        status, raw_headers, text = error.code, error.headers, error.read().decode()
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    return SimpleNamespace(status=status, headers=raw_headers, json=parsed, text=text)
