"""Personal access tokens in Settings (issue 25): made with a name and a scope, the secret shown once
and only its SHA-256 stored, listed with prefix and last use, revoked by a form — and what the API
(GET /api/v1/me) and the socket guard make of each. Request tests against the app."""
import hashlib
import re

import pytest
from sqlalchemy import select

from webchat.core import tokens
from webchat.extensions import db
from webchat.models import ApiToken, User
from webchat.realtime.hub import control_channel
from webchat.socket import session_guard

from .support.pages import form_error, parse
from .support.records import Recorder

SECRET = re.compile(r"wc_[A-Za-z0-9_-]{43}")


def make_token(person, name="deploy script", scope="read"):
    """Create a token through the Settings form: (the response, the secret it shows)."""
    response = person.post("/settings/tokens", {"name": name, "scope": scope})
    found = SECRET.findall(response.get_data(as_text=True))
    return response, (found[0] if found else None)


def me(app, secret):
    """GET /api/v1/me with the token, as a program calls it (no cookie)."""
    return app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})


def listed(person) -> list[dict]:
    """The tokens Settings lists: name, prefix, scope words, last use."""
    section = parse(person.get("/settings").get_data(as_text=True)).by_id("tokens")
    assert section is not None, "no Access tokens section in Settings"
    return [{"name": li.find(cls="token-name").text, "prefix": li.find(cls="token-prefix").text.rstrip("…"),
             "scope": li.find(cls="tag").text, "used": " ".join(li.find("small").text.split())}
            for li in section.find_all("li", cls="token")]


def stored_tokens(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return [(t.name, t.prefix, t.secret_hash, t.scopes, t.revoked_at is not None)
                for t in db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))]


def test_a_new_token_is_shown_once_with_a_copy_button_and_only_its_hash_is_kept(app, actor):
    alice = actor("alice")

    response, secret = make_token(alice, "deploy script", "write")

    assert response.status_code == 200 and secret
    shown = parse(response.get_data(as_text=True))
    field = shown.by_id("new-token-secret")
    assert field.get("value") == secret and "readonly" in field.attrs
    assert shown.find("button", data_copy="new-token-secret") is not None
    assert "shown only this once" in shown.find(cls="new-token").text
    ((name, prefix, secret_hash, scopes, revoked),) = stored_tokens(app, "alice")
    assert (name, scopes, revoked) == ("deploy script", "read write", False)
    assert secret_hash == hashlib.sha256(secret.encode()).hexdigest() and secret.startswith(prefix)
    with app.app_context(), db.engine.connect() as conn:  # the secret itself is in no column of any table
        for table in db.metadata.sorted_tables:
            assert not any(secret in repr(row) for row in conn.execute(table.select())), table.name
    again = alice.get("/settings").get_data(as_text=True)
    assert secret not in again and prefix in again
    assert me(app, secret).get_json()["username"] == "alice"


def test_settings_lists_each_token_with_its_name_prefix_scope_and_last_use(app, actor):
    alice = actor("alice")
    _, reader = make_token(alice, "nightly report", "read")
    _, writer = make_token(alice, "deploy", "write")

    assert me(app, reader).status_code == 200

    shown = listed(alice)
    assert [(t["name"], t["prefix"], t["scope"]) for t in shown] == [
        ("deploy", writer[:11], "read and write"), ("nightly report", reader[:11], "read only")]  # newest first
    assert re.fullmatch(r"made \d{4}-\d\d-\d\d · last used never", shown[0]["used"])
    assert re.fullmatch(r"made (\d{4}-\d\d-\d\d) · last used \1", shown[1]["used"])


def test_a_revoked_token_is_refused_by_the_api_at_once_and_leaves_the_list(app, actor):
    alice = actor("alice")
    _, secret = make_token(alice)
    token_id = int(re.search(r"/settings/tokens/(\d+)/revoke", alice.get("/settings").get_data(as_text=True))[1])

    response = alice.post(f"/settings/tokens/{token_id}/revoke")

    assert response.status_code == 302 and response.headers["Location"] == "/settings#tokens"
    assert "revoked" in alice.get("/settings").get_data(as_text=True)
    assert listed(alice) == []
    refused = me(app, secret)
    assert refused.status_code == 401 and refused.get_json()["error"]["code"] == "invalid_token"
    assert stored_tokens(app, "alice")[0][4] is True


def test_a_read_token_may_only_read_and_a_read_and_write_token_may_write(app, actor):
    alice = actor("alice")
    _, reader = make_token(alice, "reader", "read")
    _, writer = make_token(alice, "writer", "write")

    with app.test_request_context():
        assert tokens.authenticate(reader).can_write is False
        assert tokens.authenticate(writer).can_write is True
    assert [scopes for _, _, _, scopes, _ in stored_tokens(app, "alice")] == ["read", "read write"]


@pytest.mark.parametrize(("name", "scope", "words"), [
    ("", "read", "Give the token a name"),
    ("   ", "read", "Give the token a name"),
    ("x" * 65, "read", "1 to 64 characters"),
    ("nul\x00here", "read", "can't store"),
    ("fine", "admin", "read, or read and write"),
    ("fine", "", "read, or read and write"),
], ids=["empty", "blank", "too long", "a NUL", "no such scope", "no scope"])
def test_a_token_without_a_usable_name_or_scope_is_refused_in_words_and_nothing_is_stored(app, actor, name, scope,
                                                                                          words):
    alice = actor("alice")

    response, secret = make_token(alice, name, scope)

    assert response.status_code == 422 and secret is None
    assert words in form_error(response.get_data(as_text=True))
    assert stored_tokens(app, "alice") == []


def test_two_live_tokens_may_not_share_a_name_but_a_revoked_ones_name_is_free_again(app, actor):
    alice = actor("alice")
    make_token(alice, "Deploy")

    response, secret = make_token(alice, "deploy")

    assert response.status_code == 422 and secret is None
    assert "called “deploy” already" in form_error(response.get_data(as_text=True))
    token_id = int(re.search(r"/settings/tokens/(\d+)/revoke", alice.get("/settings").get_data(as_text=True))[1])
    alice.post(f"/settings/tokens/{token_id}/revoke")
    assert make_token(alice, "deploy")[1] is not None


def test_a_person_has_at_most_50_live_tokens_and_revoking_one_makes_room(app, actor):
    alice = actor("alice")
    with app.test_request_context():
        user = db.session.scalar(select(User).where(User.username == "alice"))
        for n in range(tokens.MAX_TOKENS):
            tokens.create(user, f"script {n}", "read")

    response, secret = make_token(alice, "one more")

    assert response.status_code == 409 and secret is None
    assert "50 tokens already" in form_error(response.get_data(as_text=True))
    assert len(listed(alice)) == tokens.MAX_TOKENS
    token_id = int(re.search(r"/settings/tokens/(\d+)/revoke", alice.get("/settings").get_data(as_text=True))[1])
    alice.post(f"/settings/tokens/{token_id}/revoke")
    assert make_token(alice, "one more")[1] is not None


def test_another_persons_token_is_not_found_and_keeps_working(app, actor):
    alice, bob = actor("alice"), actor("bob")
    _, secret = make_token(alice)
    token_id = int(re.search(r"/settings/tokens/(\d+)/revoke", alice.get("/settings").get_data(as_text=True))[1])

    response = bob.post(f"/settings/tokens/{token_id}/revoke")

    assert response.status_code == 404
    assert me(app, secret).status_code == 200
    assert [t["name"] for t in listed(alice)] == ["deploy script"] and listed(bob) == []


def test_revoking_tells_the_tokens_sockets_to_close_and_the_guard_counts_them_dead(app, actor):
    alice = actor("alice")
    _, secret = make_token(alice)
    _, other = make_token(alice, "another")
    with app.app_context():
        user_id = db.session.scalar(select(User.id).where(User.username == "alice"))
        ids = [t.id for t in db.session.scalars(select(ApiToken).order_by(ApiToken.id))]
        sids = [f"token:{token_id}" for token_id in ids]
        assert session_guard.still_live(sids + ["token:999999", "token:x", "token:１"]) == set(sids)
    control = Recorder()
    app.extensions["webchat.hub"].subscribe(control_channel(user_id), control)

    alice.post(f"/settings/tokens/{ids[0]}/revoke")

    assert control.got == [f"session-ended token:{ids[0]}"]  # socket/tab.py closes the socket whose sid it is
    with app.app_context():
        assert session_guard.still_live(sids) == {sids[1]}
        db.session.remove()


def test_deactivating_a_person_revokes_every_token_of_theirs(app, actor):
    alice = actor("alice")
    _, first = make_token(alice, "first")
    _, second = make_token(alice, "second", "write")
    admin = actor("admin")
    with app.app_context():
        db.session.scalar(select(User).where(User.username == "admin")).role = "owner"
        alice_id = db.session.scalar(select(User.id).where(User.username == "alice"))
        db.session.commit()
    control = Recorder()
    app.extensions["webchat.hub"].subscribe(control_channel(alice_id), control)

    assert admin.post("/admin/people/alice/deactivate").status_code == 302

    assert me(app, first).status_code == 401 and me(app, second).status_code == 401
    assert [revoked for *_, revoked in stored_tokens(app, "alice")] == [True, True]
    with app.app_context():
        ids = [t.id for t in db.session.scalars(select(ApiToken).order_by(ApiToken.id))]
    assert sorted(control.got) == sorted([f"session-ended token:{n}" for n in ids] + ["credentials-changed"])
    # Reactivated, the person signs in again; the old tokens stay revoked.
    assert admin.post("/admin/people/alice/reactivate").status_code == 302
    assert me(app, first).status_code == 401
