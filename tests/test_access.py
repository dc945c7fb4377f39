"""Every URL of the app, tried by people who must not get in: a visitor who is not signed in,
a signed-in person who is not in the chat, and (where it matters) a member who does not own the
thing. Against the live gunicorn server, over real HTTP and a real WebSocket.

ACCESS below is the one table: a row per endpoint, each probe saying how to call it and what each
of them must get. test_every_url_rule_has_a_row walks app.url_map and fails naming any endpoint
(or method) without one, so no route ships without an access test (Zulip's rule).

Adding a route? Add its row:
    "chats.pin_message": [Probe("POST", "/chats/{chat}/messages/{message}/pin", {"pinned": "1"},
                                anonymous=LOGIN, outsider=404, member=403)],
Paths may use {chat} (a private group of alice, its admin, and bob), {message} (alice's message in
it), {system_message} (its "created" event), {attachment} (a picture alice sent in it), {avatar} (the
path of alice's picture), {admin} and {member} (alice's and bob's usernames).
anonymous / outsider / member: the status the visitor / mallory (not in the chat) / bob (in the
chat, not the author nor an admin) must get. LOGIN: redirected to sign in. OWN: the URL only ever
acts on the caller's own account (any status below 400; still nothing of alice's or bob's may
change or show). member=None: bob may do it, nothing to test. Every probe also checks that the
chat's rows, its messages' rows and alice's and bob's rows are unchanged, and that neither the
chat's name nor its message shows in the answer.
"""
import io
import re
import uuid
from dataclasses import dataclass

import pytest
import websocket
from PIL import Image

from webchat import create_app

from .support.stored import LiveDatabase
from .support.wsclient import Person, connect, is_chat_list, is_error, message_ids

LOGIN = "sign in"
OWN = "own account only"
REFUSED = "refused frames"  # the socket: every frame about the chat answered with an error


@dataclass(frozen=True)
class Probe:
    method: str  # GET, POST, or WS (open the socket, then send frames)
    path: str
    form: dict | None = None
    anonymous: int | str = LOGIN
    outsider: int | str | None = 404
    member: int | None = None


PUBLIC_PAGE = {"anonymous": 200, "outsider": OWN}


def small_png() -> bytes:
    """The scene's attachment is a picture, so it has a thumbnail URL too."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "white").save(buffer, "PNG")
    return buffer.getvalue()


ACCESS: dict[str, list[Probe]] = {
    # ----- public ---------------------------------------------------------------------------
    "static": [Probe("GET", "/static/app.css", **PUBLIC_PAGE)],
    "health.healthz": [Probe("GET", "/healthz", **PUBLIC_PAGE)],
    "health.readyz": [Probe("GET", "/readyz", **PUBLIC_PAGE)],
    "auth.csrf_token": [Probe("GET", "/csrf-token", **PUBLIC_PAGE)],
    "auth.login": [
        Probe("GET", "/login", anonymous=200, outsider=OWN),
        Probe("POST", "/login", {"username": "{admin}", "password": "not alice's password"},
              anonymous=401, outsider=OWN),
    ],
    "auth.register": [
        Probe("GET", "/register", **PUBLIC_PAGE),
        Probe("POST", "/register", {"username": "{admin}", "password": "password123"}, anonymous=422, outsider=422),
    ],
    "auth.logout": [Probe("POST", "/logout", anonymous=302, outsider=OWN)],
    # ----- one's own account and chats ------------------------------------------------------
    "auth.settings": [
        Probe("GET", "/settings", outsider=OWN),
        Probe("POST", "/settings", {"action": "preferences", "hide_presence": "1"}, outsider=OWN),
        Probe("POST", "/settings", {"action": "profile", "display_name": "Mallory Mask"}, outsider=OWN),
        Probe("POST", "/settings", {"action": "theme", "theme": "dark"}, outsider=OWN),
    ],
    "chats.dashboard": [Probe("GET", "/", outsider=OWN)],
    "chats.chat_list": [Probe("GET", "/chats/list", outsider=OWN)],
    "chats.create_chat": [Probe("POST", "/chats", {"name": "Mallory's own", "members": ""}, outsider=OWN)],
    "chats.open_direct": [Probe("POST", "/dm", {"username": "{member}"}, outsider=OWN)],
    "chats.search": [Probe("GET", "/search?q=members", outsider=OWN)],
    "chats.new_conversation": [Probe("GET", "/new?q={member}", outsider=OWN)],
    "chats.start_conversation": [Probe("POST", "/new", {"people": "{member}"}, outsider=OWN)],
    # ----- one chat: members only -----------------------------------------------------------
    "chats.show_chat": [Probe("GET", "/chats/{chat}")],
    "chats.list_messages": [
        Probe("GET", "/chats/{chat}/messages?after=0"),
        Probe("GET", "/chats/{chat}/messages?before=2147483647"),
    ],
    "chats.send_message": [Probe("POST", "/chats/{chat}/messages", {"body": "let me in", "client_id": "intruder-001"})],
    "chats.show_message": [Probe("GET", "/chats/{chat}/messages/{message}")],
    "chats.mark_read": [Probe("POST", "/chats/{chat}/read", {"upto": "2147483647"})],
    "chats.set_notifications": [Probe("POST", "/chats/{chat}/notifications", {"notify": "none"})],
    "chats.mention_suggestions": [Probe("GET", "/chats/{chat}/mentions?q={member}")],
    "chats.members": [Probe("GET", "/chats/{chat}/members")],
    "chats.add_members": [Probe("POST", "/chats/{chat}/members", {"usernames": "{member}"})],
    "chats.remove_member": [Probe("POST", "/chats/{chat}/members/{admin}/remove", member=403)],
    "chats.rename_chat": [Probe("POST", "/chats/{chat}/rename", {"name": "Owned"})],
    "chats.leave_chat": [Probe("POST", "/chats/{chat}/leave")],
    "chats.edit_message_form": [Probe("GET", "/chats/{chat}/messages/{message}/edit", member=403)],
    "chats.edit_message": [Probe("POST", "/chats/{chat}/messages/{message}/edit", {"body": "rewritten"}, member=403)],
    # The confirmation page shows bob what he can read anyway; its POST refuses him (below).
    "chats.delete_message_form": [Probe("GET", "/chats/{chat}/messages/{message}/delete", member=403)],
    "chats.delete_message": [
        Probe("POST", "/chats/{chat}/messages/{message}/delete", member=403),
        Probe("POST", "/chats/{chat}/messages/{system_message}/delete", member=403),
    ],
    "chats.reaction_picker": [Probe("GET", "/chats/{chat}/messages/{message}/reactions")],
    "chats.toggle_reaction": [Probe("POST", "/chats/{chat}/messages/{message}/reactions", {"emoji": "👍"})],
    "chats.upload_attachments": [Probe("POST", "/chats/{chat}/attachments", {"body": "let me in",
                                                                             "client_id": "intruder-002"})],
    "chats.download_attachment": [Probe("GET", "/chats/{chat}/attachments/{attachment}/secret.png")],
    "chats.attachment_thumbnail": [Probe("GET", "/chats/{chat}/thumbnails/{attachment}")],
    # alice's picture: for the people who share a chat with her (bob may, nothing to test).
    "chats.avatar": [Probe("GET", "{avatar}")],
    # One's own picture only; an upload without a file is refused, changing nothing.
    "auth.avatar": [
        Probe("POST", "/settings/avatar", {}, outsider=422),
        Probe("POST", "/settings/avatar", {"action": "remove"}, outsider=OWN),
    ],
    # ----- invitations -----
    # A token of no invitation: "This invitation link isn't valid." (404) to everyone, signed in or
    # not, and nothing registered; such a miss costs like a failed login (auth/invitations.py).
    # Expired, used-up and revoked links answer 410 (tests/test_invitations.py).
    "auth.invitation": [
        Probe("GET", "/invite/not-a-real-token", anonymous=404, outsider=404),
        Probe("POST", "/invite/not-a-real-token", {"username": "intruder", "password": "password123"},
              anonymous=404, outsider=404),
    ],
    # Administrators only: to anyone else the pages do not exist.
    "chats.invitations_page": [Probe("GET", "/admin/invitations", member=404)],
    "chats.create_invitation": [Probe("POST", "/admin/invitations", {"days": "7", "uses": "1"}, member=404)],
    "chats.revoke_invitation": [Probe("POST", "/admin/invitations/1/revoke", member=404)],
    # ----- admin -----
    # Administration is for owners and administrators: to anyone else it does not exist.
    "admin.index": [Probe("GET", "/admin", member=404)],
    "admin.people": [Probe("GET", "/admin/people?q={member}", member=404)],
    "admin.person_action": [
        Probe("POST", "/admin/people/{member}/deactivate", member=404),
        Probe("POST", "/admin/people/{admin}/reactivate", member=404),
        Probe("POST", "/admin/people/{member}/role", {"role": "owner"}, member=404),
    ],
    "admin.password_reset_link": [Probe("POST", "/admin/people/{member}/reset-link", member=404)],
    "admin.settings": [
        Probe("GET", "/admin/settings", member=404),
        Probe("POST", "/admin/settings", {"name": "Taken over", "registration": "open", "channel_creators": "members",
                                          "max_upload_mb": "1"}, member=404),
    ],
    "admin.audit": [Probe("GET", "/admin/audit", member=404)],
    # A reset link is its own proof: without a valid one there is nothing here, signed in or not.
    "auth.reset_password": [
        Probe("GET", "/reset/not-a-reset-token", anonymous=404, outsider=404),
        Probe("POST", "/reset/not-a-reset-token", {"new_password": "taken over now"}, anonymous=404, outsider=404),
    ],
    # ----- the socket ---------------------------------------------------------------------------
    "realtime.socket": [Probe("WS", "/socket", anonymous=401, outsider=REFUSED)],
}

PROBES = [(endpoint, probe) for endpoint, probes in ACCESS.items() for probe in probes]


def probe_id(endpoint: str, probe: Probe) -> str:
    return f"{endpoint} {probe.method} {probe.path}"


# ----- the table covers the app ------------------------------------------------------------------

def test_every_url_rule_has_a_row_with_a_probe_for_each_method(tmp_path):
    app = create_app({"SECRET_KEY": "enumerating", "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'urls.db'}"})
    missing = []
    for rule in app.url_map.iter_rules():
        probed = {"GET" if p.method == "WS" else p.method for p in ACCESS.get(rule.endpoint, [])}
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"} - probed):
            missing.append(f"{rule.endpoint} ({method} {rule.rule})")
    assert not missing, ("URLs without an access row in tests/test_access.py ACCESS — add a probe saying what a "
                         "visitor, a non-member and a non-owner get: " + ", ".join(missing))
    stale = sorted(set(ACCESS) - {rule.endpoint for rule in app.url_map.iter_rules()})
    assert not stale, f"ACCESS rows for endpoints the app no longer has: {stale}"


# ----- the scene ---------------------------------------------------------------------------------

@dataclass
class Scene:
    chat: int
    message: int
    system_message: int
    name: str
    secret: str
    alice: Person
    bob: Person
    mallory: Person
    stored: LiveDatabase
    attachment: int = 0
    avatar: str = ""

    def url(self, path: str) -> str:
        return path.format(chat=self.chat, message=self.message, system_message=self.system_message,
                           attachment=self.attachment, avatar=self.avatar, admin=self.alice.username,
                           member=self.bob.username)

    def form(self, probe: Probe) -> dict | None:
        return None if probe.form is None else {k: self.url(v) for k, v in probe.form.items()}

    def rows(self):
        return self.stored.rows_about(self.chat, [self.alice.username, self.bob.username])


@pytest.fixture(scope="module")
def scene(live_server):
    alice = Person.register(live_server.url, "alice")
    bob = Person.register(live_server.url, "bob")
    mallory = Person.register(live_server.url, "mallory")
    name = f"Private {uuid.uuid4().hex[:6]}"
    secret = f"for members only {uuid.uuid4().hex[:6]}"
    chat = alice.create_chat(name, [bob])
    message = alice.send(chat, secret)
    system_message = min(alice.stored_ids(chat))
    assert alice.upload(chat, [("secret.png", small_png())]).status == 302
    attachment = int(re.search(rf"/chats/{chat}/attachments/(\d+)/secret.png", alice.get(f"/chats/{chat}").text)[1])
    assert alice.choose_avatar("me.png", small_png()).status == 302
    avatar = re.search(r'src="(/avatars/[^"]+)"', alice.get(f"/chats/{chat}").text)[1]
    stored = LiveDatabase(live_server)
    yield Scene(chat, message, system_message, name, secret, alice, bob, mallory, stored, attachment, avatar)
    stored.close()
    for person in (alice, bob, mallory):
        person.close_tabs()


def call(person: Person, scene: Scene, probe: Probe):
    path = scene.url(probe.path)
    if probe.method == "GET":
        return person.get(path)
    return person.post(path, scene.form(probe))


def assert_answer(response, expected, scene: Scene) -> None:
    if expected == LOGIN:
        assert response.status == 302, response
        assert response.location.startswith("/login?next="), response
    elif expected == OWN:
        assert response.status < 400, response
    else:
        assert response.status == expected, response
    assert scene.secret not in response.text
    assert scene.name not in response.text


# ----- the probes ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("endpoint", "probe"), PROBES, ids=[probe_id(*p) for p in PROBES])
def test_a_visitor_who_is_not_signed_in_gets_what_the_row_says_and_changes_nothing(scene, live_server,
                                                                                     endpoint, probe):
    visitor = Person(live_server.url)
    before = scene.rows()
    if probe.method == "WS":
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            connect(live_server.url)
        assert refused.value.status_code == probe.anonymous
    else:
        assert_answer(call(visitor, scene, probe), probe.anonymous, scene)
    assert scene.rows() == before


@pytest.mark.parametrize(("endpoint", "probe"), [p for p in PROBES if p[1].outsider is not None],
                         ids=[probe_id(*p) for p in PROBES if p[1].outsider is not None])
def test_a_signed_in_non_member_gets_what_the_row_says_and_changes_nothing(scene, endpoint, probe):
    mallory = scene.mallory.another_browser()  # a browser of her own: some probes sign out
    before = scene.rows()
    if probe.method == "WS":
        assert_every_frame_about_the_chat_is_refused(mallory, scene)
    else:
        assert_answer(call(mallory, scene, probe), probe.outsider, scene)
    assert scene.rows() == before
    mallory.close_tabs()


@pytest.mark.parametrize(("endpoint", "probe"), [p for p in PROBES if p[1].member is not None],
                         ids=[probe_id(*p) for p in PROBES if p[1].member is not None])
def test_a_member_who_does_not_own_it_gets_what_the_row_says_and_changes_nothing(scene, endpoint, probe):
    before = scene.rows()

    response = call(scene.bob, scene, probe)

    assert response.status == probe.member, response
    assert scene.rows() == before


def assert_every_frame_about_the_chat_is_refused(mallory: Person, scene: Scene) -> None:
    watching = scene.bob.open_tab()
    watching.view(scene.chat, after=scene.message)
    watching.wait_for(is_chat_list)
    tab = mallory.open_tab()
    frames = [
        {"type": "view", "chat": scene.chat, "after": 0},
        {"type": "send", "chat": scene.chat, "body": "let me in", "client_id": uuid.uuid4().hex},
        {"type": "read", "chat": scene.chat, "upto": scene.message},
        {"type": "delivered", "chat": scene.chat, "upto": scene.message},
        {"type": "typing", "chat": scene.chat, "state": "start"},
    ]
    for frame in frames:
        tab.send_json(frame)
        answer = tab.wait_for(lambda f: is_error(f) or "pending--failed" in f or bool(message_ids(f)))
        assert "not available to you" in answer, (frame["type"], answer)
    # Nothing reached the chat's members: no message, no typing, no receipt from her.
    about_the_chat = (f'data-chat="{scene.chat}"', f'id="typing-{scene.chat}"', f'id="receipts-{scene.chat}"',
                      "let me in")
    heard = [f for f in watching.collect(1.5) if any(mark in f for mark in about_the_chat)]
    assert heard == []
    assert not any(scene.secret in f or scene.name in f for f in tab.frames)
    watching.close()
