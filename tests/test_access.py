"""Every URL of the app, tried by everyone who must not get in, in every workspace role: a visitor
who is not signed in, a deactivated person's old cookies, a guest, a member of the workspace who is
not in the chat, a workspace administrator and the owner (neither in the chat), and (where it
matters) a member of the chat who does not own the thing. Against a live gunicorn server of this
module's own, over real HTTP and a real WebSocket.

ACCESS below is the one table: a row per endpoint, each probe saying how to call it and what each
of them must get. test_every_url_rule_has_a_row walks app.url_map and fails naming any endpoint
(or method) without one, so no route ships without an access test (Zulip's rule).

Adding a route? Add its row:
    "chats.pin_message": [Probe("POST", "/chats/{chat}/messages/{message}/pin", {"pinned": "1"},
                                anonymous=LOGIN, outsider=404, member=403)],
A role the row does not name gets its default (below): name one only where it differs, e.g. guest=403.
Paths may use {chat} (a private group of alice, its admin, bob and gone), {public} (a public
channel of alice and bob), {message} (alice's message in the private chat), {system_message} (its
"created" event), {attachment} (a picture alice sent in it), {avatar} (the path of alice's
picture), {admin} and {member} (alice's and bob's usernames), {unique} (a new word each time: a
name every role sets for themselves must not look like another's).
What each must get (LOGIN: redirected to sign in; OWN: the URL only ever acts on the caller's own
account, any status below 400, still nothing of alice's or bob's may change or show; None: nothing
to test):
  anonymous      a visitor who is not signed in;
  outsider       mallory, a member of the workspace, not in the chat;
  guest          a guest of the workspace, not in the chat (default: what outsider gets);
  admin, owner   a workspace administrator and the owner, not in the chat (default: what outsider
                 gets: a private chat is none of their business; under /admin None: there they
                 may act, and a row says what they get only where it is safe to try on the scene);
  deactivated    gone, in the chat until deactivated, with the cookies of a sign-in from before
                 (default: what anonymous gets, as for every page once signed out);
  member         bob, in the chat, not the author nor an admin (default None: bob may do it);
  channel_admin  alice, the chat's admin and author (default None: she may do it).
Every probe also checks that the chat's rows, its messages' rows and alice's, bob's and gone's rows
are unchanged, and that neither the chat's name nor its message shows to anyone not in the chat
(names_the_chat_to: the roles to whom the name, never a message, may show there).
"""
import functools
import io
import re
import uuid
from dataclasses import dataclass, field

import pytest
import websocket
from flask import Flask
from PIL import Image
from sqlalchemy import select, update
from werkzeug.exceptions import HTTPException

from webchat import create_app

from .support.stored import LiveDatabase, flask_command
from .support.wsclient import Person, connect, is_chat_list, is_error, message_ids, socket_url

LOGIN = "sign in"
OWN = "own account only"
ALLOWED = "allowed"  # any status below 400: the caller may (what exactly they get is another test's)
REFUSED = "refused frames"  # the socket: every frame about the chat answered with an error
AS_OUTSIDER = "as outsider"  # a role's default: what the row says mallory gets
AS_ANONYMOUS = "as anonymous"  # a role's default: what the row says a visitor gets

# Who tries every probe (the test ids say the role); the administrators last, so that a row
# letting them act on the scene's people is tried after everyone else's probes.
ROLES = ("anonymous", "deactivated", "guest", "outsider", "member", "channel_admin", "admin", "owner")
ADMINISTRATION = re.compile(r"/admin(/|\?|$)")  # every administration URL is under /admin/ (issue 22)
# The roles that come with a signed-in session of their own, kept across probes.
SIGNED_IN = ("guest", "outsider", "admin", "owner")


@dataclass(frozen=True)
class Probe:
    method: str  # GET, POST, PATCH, DELETE, or WS (open the socket, then send frames)
    path: str
    form: dict | None = None
    anonymous: int | str = LOGIN
    outsider: int | str | None = 404
    member: int | str | None = None
    guest: int | str | None = AS_OUTSIDER
    admin: int | str | None = AS_OUTSIDER
    owner: int | str | None = AS_OUTSIDER
    deactivated: int | str | None = AS_ANONYMOUS
    channel_admin: int | str | None = None
    # Roles outside the chat who may see its name (never its messages) in this answer.
    names_the_chat_to: tuple[str, ...] = ()

    def expected(self, role: str) -> int | str | None:
        """What this role must get (None: nothing to test), the defaults resolved."""
        value = getattr(self, role)
        if value == AS_OUTSIDER and role in ("admin", "owner") and ADMINISTRATION.match(self.path):
            return None  # administration is theirs: what they get there is the admin module's tests
        if value == AS_OUTSIDER:
            return self.outsider
        if value == AS_ANONYMOUS:
            return self.anonymous
        return value


PUBLIC_PAGE = {"anonymous": 200, "outsider": OWN}
NO_COOKIE = {"anonymous": 401, "outsider": 401, "member": 401, "channel_admin": 401}  # the API's rows


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
        Probe("POST", "/settings", {"action": "profile", "display_name": "Mask {unique}"}, outsider=OWN),
        Probe("POST", "/settings", {"action": "theme", "theme": "dark"}, outsider=OWN),
    ],
    "chats.dashboard": [Probe("GET", "/", outsider=OWN)],
    "chats.chat_list": [Probe("GET", "/chats/list", outsider=OWN)],
    # A guest creates no chats, and reaches only the people they share a chat with (bob is not one:
    # refused like a name that matches no one).
    "chats.create_chat": [Probe("POST", "/chats", {"name": "Mallory's own", "members": ""}, outsider=OWN,
                                guest=403)],
    "chats.open_direct": [Probe("POST", "/dm", {"username": "{member}"}, outsider=OWN, guest=422)],
    "chats.search": [Probe("GET", "/search?q=members", outsider=OWN)],
    "chats.new_conversation": [Probe("GET", "/new?q={member}", outsider=OWN)],
    "chats.start_conversation": [
        Probe("POST", "/new", {"people": "{member}"}, outsider=OWN, guest=422),
        Probe("POST", "/new", {"people": "{member}", "name": "Mallory's group"}, outsider=OWN, guest=403),
    ],
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
    # alice's picture: for the people who may find her (workspace.findable): everyone but a guest
    # who shares no chat with her.
    "chats.avatar": [Probe("GET", "{avatar}", outsider=OWN, guest=404)],
    # One's own picture only; an upload without a file is refused, changing nothing.
    "auth.avatar": [
        Probe("POST", "/settings/avatar", {}, outsider=422),
        Probe("POST", "/settings/avatar", {"action": "remove"}, outsider=OWN),
    ],
    # E-mail (issue 24): one's own address and opt-out; an unsubscribe link is its own proof (a
    # token that is not one: nothing here, signed in or not); "Forgot your password?" answers
    # everyone the same, and this server sends no e-mail (tests/test_mail.py: with a server).
    "auth.email_settings": [
        Probe("POST", "/settings/email", {"email": "{unique}@example.com", "email_notifications": "1"},
              outsider=OWN),
        Probe("POST", "/settings/email", {"email": "not an address"}, outsider=422),
    ],
    "auth.unsubscribe": [
        Probe("GET", "/unsubscribe/not-an-unsubscribe-token", anonymous=404, outsider=404),
        Probe("POST", "/unsubscribe/not-an-unsubscribe-token", {"List-Unsubscribe": "One-Click"},
              anonymous=404, outsider=404),
    ],
    "auth.forgot_password": [
        Probe("GET", "/forgot", **PUBLIC_PAGE),
        Probe("POST", "/forgot", {"email": "{unique}@example.com"}, **PUBLIC_PAGE),
    ],
    # Web Push devices (webchat/auth/push.py): one's own only. A form that is no subscription is
    # refused; a device id that is not one's own (here: no one's) is "not in your list"; the service
    # worker is public, as any script of the app.
    "auth.subscribe_push": [Probe("POST", "/settings/push", {}, outsider=422)],
    "auth.push_device_list": [Probe("GET", "/settings/push", outsider=OWN)],
    "auth.unsubscribe_push": [Probe("POST", "/settings/push/unsubscribe", {"endpoint": "https://push.example.net/x"},
                                    outsider=OWN)],
    "auth.remove_push_device": [Probe("POST", "/settings/push/1/delete", outsider=404)],
    "auth.service_worker": [Probe("GET", "/sw.js", **PUBLIC_PAGE)],
    # One's own do-not-disturb hours and time zone only; a zone that is not one is refused.
    "auth.quiet_hours": [
        Probe("POST", "/settings/quiet-hours", {"dnd": "1", "dnd_start": "22:00", "dnd_end": "07:00",
                                                "time_zone": "Europe/Paris"}, outsider=OWN),
        Probe("POST", "/settings/quiet-hours", {"time_zone": "Nowhere/Atall"}, outsider=422),
    ],
    # Access tokens (issue 25): one's own only. A form without a name is refused; a token id that is
    # not one's own (here: no one's) is not found.
    "auth.create_token": [
        Probe("POST", "/settings/tokens", {"name": "probe {unique}", "scope": "read"}, outsider=OWN),
        Probe("POST", "/settings/tokens", {"name": "", "scope": "read"}, outsider=422),
    ],
    "auth.revoke_token": [Probe("POST", "/settings/tokens/2147483647/revoke", outsider=404)],
    # Bots (issue 25): the Bots page lists the bots one owns; creating one there is for administrators,
    # in a channel for its admins (alice may: not tried, it adds a member). A bot's tokens and its
    # deactivation are its owner's and the administrators': alice and bob are people, so 404 to all.
    "chats.bots_page": [Probe("GET", "/bots", outsider=OWN)],
    "chats.create_bot": [Probe("POST", "/bots", {"username": "probe-{unique}", "display_name": "Probe {unique}"},
                               member=404, channel_admin=404, admin=ALLOWED, owner=ALLOWED)],
    "chats.add_bot": [Probe("POST", "/chats/{chat}/bots", {"username": "probe-{unique}", "display_name": "Probe"},
                            member=403)],
    "chats.create_bot_token": [Probe("POST", "/bots/{member}/tokens", {"name": "taken over", "scope": "write"},
                                     member=404, channel_admin=404, admin=404, owner=404)],
    "chats.revoke_bot_token": [Probe("POST", "/bots/{member}/tokens/1/revoke", member=404, channel_admin=404,
                                     admin=404, owner=404)],
    "chats.deactivate_bot": [
        Probe("POST", "/bots/{member}/deactivate", member=404, channel_admin=404, admin=404, owner=404),
        Probe("POST", "/bots/{admin}/deactivate", member=404, channel_admin=404, admin=404, owner=404),
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
    # ----- directory -----
    # /directory, /directory/people, previews of {public} and joining it are PLANNED's rows (below),
    # in the table since these URLs exist. Here: joining the private {chat} is refused to its own
    # members too (a join is for public channels; they are in it anyway).
    "chats.join_chat": [Probe("POST", "/chats/{chat}/join", member=404, channel_admin=404)],
    # ----- admin -----
    # Administration is for owners and administrators: to anyone else it does not exist. Their own
    # actions on people and settings are tests/test_admin.py's (here they would change the scene).
    "admin.index": [Probe("GET", "/admin", member=404, admin=302, owner=302)],
    "admin.people": [
        Probe("GET", "/admin/people", member=404, admin=200, owner=200),
        Probe("GET", "/admin/people?q={member}", member=404, admin=200, owner=200),
    ],
    "admin.person_action": [
        Probe("POST", "/admin/people/{member}/deactivate", member=404),
        Probe("POST", "/admin/people/{admin}/reactivate", member=404),
        Probe("POST", "/admin/people/{member}/role", {"role": "owner"}, member=404),
    ],
    "admin.password_reset_link": [Probe("POST", "/admin/people/{member}/reset-link", member=404)],
    "admin.settings": [
        Probe("GET", "/admin/settings", member=404, admin=200, owner=200),
        Probe("POST", "/admin/settings", {"name": "Taken over", "registration": "open", "channel_creators": "members",
                                          "max_upload_mb": "1"}, member=404),
    ],
    "admin.audit": [Probe("GET", "/admin/audit", member=404, admin=200, owner=200)],
    # A reset link is its own proof: without a valid one there is nothing here, signed in or not.
    "auth.reset_password": [
        Probe("GET", "/reset/not-a-reset-token", anonymous=404, outsider=404),
        Probe("POST", "/reset/not-a-reset-token", {"new_password": "taken over now"}, anonymous=404, outsider=404),
    ],
    # ----- channels -----
    # The topic: a channel's admins (alice). Archiving: they or a workspace administrator, who may
    # archive a chat they are not in (tests/test_channels.py: not tried here, it would close the
    # scene's chat); unarchiving a chat that is not archived changes nothing, so they try that.
    "chats.set_topic": [Probe("POST", "/chats/{chat}/topic", {"topic": "Owned", "description": "mine"}, member=403)],
    "chats.archive_channel": [Probe("POST", "/chats/{chat}/archive", member=403, admin=None, owner=None)],
    "chats.unarchive_channel": [Probe("POST", "/chats/{chat}/unarchive", member=403, admin=ALLOWED,
                                      owner=ALLOWED)],
    # GET /admin/channels: its row is in PLANNED below. Handing a channel on: administrators only.
    "chats.set_channel_owner": [Probe("POST", "/admin/channels/{chat}/owner", {"owner": "{member}"}, member=404,
                                      channel_admin=404)],
    "chats.set_default_channel": [Probe("POST", "/admin/channels/{chat}/default", {"default": "1"}, member=404,
                                        channel_admin=404)],
    # ----- threads -----
    # A thread is its chat's: members only. A chat event and a reply have no thread of their own.
    "chats.show_thread": [
        Probe("GET", "/chats/{chat}/threads/{message}"),
        Probe("GET", "/chats/{chat}/threads/{system_message}", member=404, channel_admin=404),
    ],
    "chats.send_reply": [
        Probe("POST", "/chats/{chat}/threads/{message}/replies", {"body": "let me in", "client_id": "intruder-t01"}),
        Probe("POST", "/chats/{chat}/threads/{system_message}/replies", {"body": "hi", "client_id": "intruder-t02"},
              member=404, channel_admin=404),
    ],
    # ----- webhooks (issue 25) -----
    # A chat's webhooks are its admins' (and workspace administrators' in it): bob is refused,
    # anyone outside the chat finds nothing. An incoming URL's secret is its only credential: a
    # secret of no webhook is 404 to everyone, signed in or not, and posts nothing.
    "chats.add_incoming_webhook": [Probe("POST", "/chats/{chat}/webhooks/incoming", {"name": "Intruder"}, member=403)],
    "chats.add_outgoing_webhook": [Probe("POST", "/chats/{chat}/webhooks/outgoing",
                                         {"name": "Intruder", "url": "https://example.com/hook"}, member=403)],
    "chats.revoke_webhook": [Probe("POST", "/chats/{chat}/webhooks/1/revoke", member=403)],
    "hooks.incoming": [Probe("POST", "/hooks/not-the-secret-of-any-webhook-at-all", {"text": "let me in"},
                             anonymous=404, outsider=404)],
    # ----- the socket ---------------------------------------------------------------------------
    "realtime.socket": [Probe("WS", "/socket", anonymous=401, outsider=REFUSED)],
    # ----- the API (webchat/api): a Bearer token or nothing. Every role's browser, its cookies
    # included, gets 401 there, members too: the API never reads a cookie, so no page of another
    # site can use one. What each token may do is tests/test_api.py's table (no, bad, revoked,
    # read-only token; a person's or a bot's outside the chat).
    "api.openapi": [Probe("GET", "/api/v1/openapi.json", **PUBLIC_PAGE)],
    "api.me": [Probe("GET", "/api/v1/me", **NO_COOKIE)],
    "api.list_chats": [Probe("GET", "/api/v1/chats", **NO_COOKIE)],
    "api.show_chat": [Probe("GET", "/api/v1/chats/{chat}", **NO_COOKIE)],
    "api.list_members": [Probe("GET", "/api/v1/chats/{chat}/members", **NO_COOKIE)],
    "api.history": [Probe("GET", "/api/v1/chats/{chat}/messages?after=0", **NO_COOKIE)],
    "api.send_message": [Probe("POST", "/api/v1/chats/{chat}/messages", {"text": "let me in"}, **NO_COOKIE)],
    "api.show_message": [Probe("GET", "/api/v1/chats/{chat}/messages/{message}", **NO_COOKIE)],
    "api.edit_message": [Probe("PATCH", "/api/v1/chats/{chat}/messages/{message}", {"text": "x"}, **NO_COOKIE)],
    "api.delete_message": [Probe("DELETE", "/api/v1/chats/{chat}/messages/{message}", **NO_COOKIE)],
    "api.toggle_reaction": [Probe("POST", "/api/v1/chats/{chat}/messages/{message}/reactions", {"emoji": "👍"},
                                  **NO_COOKIE)],
    "api.upload_file": [Probe("POST", "/api/v1/chats/{chat}/files", {"text": "x"}, **NO_COOKIE)],
    "api.download_file": [Probe("GET", "/api/v1/chats/{chat}/files/{attachment}", **NO_COOKIE)],
    "api.search": [Probe("GET", "/api/v1/search?q=members", **NO_COOKIE)],
}

# ----- roles -----
# Rows for URLs other parts of issue 22 are building at the same time (administration, the
# directory, joining a public channel). A row joins ACCESS only once the app has a URL rule its
# path and method match (found by path through app.url_map, whatever the endpoint is named), so
# this branch stays green before they land and their URLs are tried by every role once they do.
ADMIN_ONLY = {"anonymous": LOGIN, "outsider": 404, "guest": 404, "member": 404, "channel_admin": 404}
ADMIN_PAGE = {**ADMIN_ONLY, "admin": 200, "owner": 200}
# An administrator's own changes are the admin module's tests: here only that no one else gets in.
ADMIN_ACTION = {**ADMIN_ONLY, "admin": None, "owner": None}
BROWSING = {"outsider": 200, "guest": 404, "member": 200, "channel_admin": 200}
PLANNED: list[Probe] = [
    # The channels page lists private channels too, by name, so that an administrator can archive
    # one or give it a new owner (as Slack's and Mattermost's consoles do); never their messages.
    Probe("GET", "/admin/channels", **ADMIN_PAGE, names_the_chat_to=("admin", "owner")),
    Probe("GET", "/admin/invitations", **ADMIN_PAGE),
    Probe("POST", "/admin/invitations", {"max_uses": "1"}, **ADMIN_ACTION),
    Probe("GET", "/directory", **BROWSING),
    Probe("GET", "/directory?q=private", **BROWSING),
    Probe("GET", "/directory/people", **BROWSING),
    # The scene's chat is private: joining it is for no one outside it, whatever their role.
    Probe("POST", "/chats/{chat}/join", outsider=404),
    # ----- threads (issue 23): a thread's own URLs are its chat members'; the Threads view is
    # each person's own (the threads they follow).
    Probe("GET", "/chats/{chat}/threads/{message}/replies?after=0"),
    Probe("GET", "/chats/{chat}/threads/{message}/replies?before=2147483647"),
    Probe("POST", "/chats/{chat}/threads/{message}/follow"),
    Probe("POST", "/chats/{chat}/threads/{message}/unfollow"),
    Probe("POST", "/chats/{chat}/threads/{message}/read", {"upto": "2147483647"}),
    Probe("GET", "/threads", outsider=OWN),
    Probe("GET", "/chats/{chat}/messages/{message}/quote"),
]
# Rows about the scene's public channel ({public}), which mean something only once public channels
# can be previewed and joined: they join ACCESS once the app serves the joining URL. Anyone in the
# workspace previews a public channel; a guest sees neither it nor its history (issue 22).
PLANNED_WITH_JOINING: list[Probe] = [
    Probe("GET", "/chats/{public}", outsider=200, guest=404),
    Probe("GET", "/chats/{public}/messages?after=0", outsider=None, guest=404),
    Probe("POST", "/chats/{public}/join", outsider=None, guest=404),
]
JOINING = ("POST", "/chats/{public}/join")
SAMPLE_IDS = {"chat": 1, "public": 2, "message": 1, "system_message": 1, "attachment": 1, "avatar": "/avatars/1",
              "admin": "alice", "member": "bob", "unique": "word"}


@functools.cache
def url_map():
    return create_app({"SECRET_KEY": "enumerating", "SQLALCHEMY_DATABASE_URI": "sqlite://"}).url_map


def planned_rows(rules) -> dict[str, list[Probe]]:
    """The PLANNED probes whose path and method these URL rules serve, by the endpoint serving them
    (and those of PLANNED_WITH_JOINING once the rules serve JOINING)."""
    urls = rules.bind("localhost")

    def endpoint_of(method: str, path: str) -> str | None:
        try:
            return urls.match(path.format(**SAMPLE_IDS).split("?")[0], method=method)[0]
        except HTTPException:  # no such URL (yet), not this method, or only with a trailing slash
            return None

    planned = PLANNED + (PLANNED_WITH_JOINING if endpoint_of(*JOINING) else [])
    rows: dict[str, list[Probe]] = {}
    for probe in planned:
        if (endpoint := endpoint_of(probe.method, probe.path)) is not None:
            rows.setdefault(endpoint, []).append(probe)
    return rows


for _endpoint, _probes in planned_rows(url_map()).items():
    ACCESS.setdefault(_endpoint, []).extend(_probes)

PROBES = [(endpoint, probe) for endpoint, probes in ACCESS.items() for probe in probes]
CASES = [(role, endpoint, probe) for role in ROLES for endpoint, probe in PROBES if probe.expected(role) is not None]


def probe_id(endpoint: str, probe: Probe) -> str:
    return f"{endpoint} {probe.method} {probe.path}"


def case_id(role: str, endpoint: str, probe: Probe) -> str:
    return f"{role}: {probe_id(endpoint, probe)}"


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


def test_a_row_in_the_first_format_is_tried_by_every_role_with_the_defaults():
    row = Probe("GET", "/chats/{chat}/pins", outsider=404, member=403)
    assert {role: row.expected(role) for role in ROLES} == {
        "anonymous": LOGIN, "deactivated": LOGIN, "guest": 404, "outsider": 404, "admin": 404, "owner": 404,
        "member": 403, "channel_admin": None}
    public = Probe("GET", "/healthz", **PUBLIC_PAGE)
    assert [public.expected(role) for role in ("deactivated", "guest", "admin", "owner")] == [200, OWN, OWN, OWN]
    administration = Probe("POST", "/admin/people/{member}/deactivate", member=404)
    assert [administration.expected(role) for role in ("guest", "outsider", "admin", "owner")] == [404, 404, None, None]


def test_a_planned_row_joins_the_table_by_its_path_whatever_its_endpoint_is_called():
    app = Flask(__name__)
    app.add_url_rule("/admin/channels", "channels_admin.index", lambda: "")
    app.add_url_rule("/chats/<int:chat_id>/join", "membership.join", lambda chat_id: "", methods=["POST"])
    app.add_url_rule("/directory/", "directory.channels", lambda: "")  # /directory only redirects here
    app.add_url_rule("/chats/<int:chat_id>", "chats.show_chat", lambda chat_id: "")
    app.add_url_rule("/chats/<int:chat_id>/messages", "chats.list_messages", lambda chat_id: "")

    rows = planned_rows(app.url_map)

    assert {endpoint: [(p.method, p.path) for p in probes] for endpoint, probes in rows.items()} == {
        "channels_admin.index": [("GET", "/admin/channels")],
        "membership.join": [("POST", "/chats/{chat}/join"), ("POST", "/chats/{public}/join")],
        "chats.show_chat": [("GET", "/chats/{public}")],
        "chats.list_messages": [("GET", "/chats/{public}/messages?after=0")]}


# ----- the scene ---------------------------------------------------------------------------------

@dataclass
class Scene:
    chat: int
    public: int
    message: int
    system_message: int
    name: str
    secret: str
    base_url: str
    stored: LiveDatabase
    people: dict[str, Person]  # every signed-in role's session, kept across probes
    gone_cookies: dict[str, str]  # gone's cookies (session and remember me) from before deactivation
    gone_csrf: str  # the CSRF token a page open from before held
    attachment: int = 0
    avatar: str = ""
    usernames: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return path.format(chat=self.chat, public=self.public, message=self.message, system_message=self.system_message,
                           attachment=self.attachment, avatar=self.avatar,
                           admin=self.people["channel_admin"].username, member=self.people["member"].username,
                           unique=uuid.uuid4().hex[:8])

    def form(self, probe: Probe) -> dict | None:
        return None if probe.form is None else {k: self.url(v) for k, v in probe.form.items()}

    def rows(self):
        return self.stored.rows_about(self.chat, self.usernames)

    def browser(self, role: str) -> Person:
        """The role's browser for one probe: a signed-in session of theirs (kept across probes), a
        new visitor, or gone's old cookies with the token a page from before held."""
        if role == "anonymous":
            return Person(self.base_url)
        if role == "deactivated":
            old = Person(self.base_url, self.people["deactivated"].username)
            old.cookies, old._csrf = dict(self.gone_cookies), self.gone_csrf
            return old
        return self.people[role]

    def still_signed_in(self, role: str) -> None:
        """After a probe that may have signed the role out (/logout, /login), sign them back in."""
        person = self.people[role]
        if person.get("/chats/list").status != 200:
            person.close_tabs()
            self.people[role] = person.another_browser()


def set_role(stored: LiveDatabase, username: str, role: str) -> None:
    """What an administrator's "change role" does, straight in the live server's database."""
    users = stored.metadata.tables["users"]
    with stored.engine.begin() as conn:
        conn.execute(update(users).where(users.c.username == username).values(role=role))


def roles_of(stored: LiveDatabase, people: dict[str, Person]) -> dict[str, str]:
    users = stored.metadata.tables["users"]
    with stored.engine.connect() as conn:
        stored_roles = dict(conn.execute(select(users.c.username, users.c.role)).all())
    return {role: stored_roles[person.username] for role, person in people.items()}


@pytest.fixture(scope="module")
def scene(server):
    owner = Person.register(server.url, "owner")  # the first account: the workspace's owner, not in the chat
    alice = Person.register(server.url, "alice")
    bob = Person.register(server.url, "bob")
    gone = Person.register(server.url, "gone")
    mallory = Person.register(server.url, "mallory")
    guest = Person.register(server.url, "guest")
    admin = Person.register(server.url, "admin")
    stored = LiveDatabase(server)
    set_role(stored, guest.username, "guest")
    set_role(stored, admin.username, "admin")
    name = f"Private {uuid.uuid4().hex[:6]}"
    secret = f"for members only {uuid.uuid4().hex[:6]}"
    chat = alice.create_chat(name, [bob, gone])
    message = alice.send(chat, secret)
    system_message = min(alice.stored_ids(chat))
    assert alice.upload(chat, [("secret.png", small_png())]).status == 302
    attachment = int(re.search(rf"/chats/{chat}/attachments/(\d+)/secret.png", alice.get(f"/chats/{chat}").text)[1])
    assert alice.choose_avatar("me.png", small_png()).status == 302
    avatar = re.search(r'src="(/avatars/[^"]+)"', alice.get(f"/chats/{chat}").text)[1]
    public = alice.create_chat(f"Open {uuid.uuid4().hex[:6]}", [bob])  # made public as an administrator would
    alice.send(public, f"for the workspace {uuid.uuid4().hex[:6]}")
    chats = stored.metadata.tables["chats"]
    with stored.engine.begin() as conn:
        conn.execute(update(chats).where(chats.c.id == public).values(is_public=True))
    # gone read the chat from a laptop that remembers the sign-in; then an administrator deactivated them.
    laptop = Person(server.url, gone.username).login(remember=True)
    assert name in laptop.get(f"/chats/{chat}").text
    gone_csrf = laptop.csrf()
    deactivated = flask_command(server, "deactivate-user", gone.username)
    assert deactivated.returncode == 0, deactivated.stderr
    people = {"guest": guest, "outsider": mallory, "admin": admin, "owner": owner, "member": bob,
              "channel_admin": alice, "deactivated": gone}
    assert roles_of(stored, people) == {"guest": "guest", "outsider": "member", "admin": "admin", "owner": "owner",
                                        "member": "member", "channel_admin": "member", "deactivated": "member"}
    yield Scene(chat, public, message, system_message, name, secret, server.url, stored, people, dict(laptop.cookies),
                gone_csrf, attachment, avatar, [alice.username, bob.username, gone.username])
    stored.close()
    for person in (owner, alice, bob, gone, mallory, guest, admin, laptop):
        person.close_tabs()


def call(person: Person, scene: Scene, probe: Probe):
    path = scene.url(probe.path)
    if probe.method == "GET":
        return person.get(path)
    if probe.method == "POST":
        return person.post(path, scene.form(probe))
    return person.request(probe.method, path, scene.form(probe))


def assert_answer(response, expected, scene: Scene, in_the_chat: bool = False, may_name_it: bool = False) -> None:
    if expected == LOGIN:
        assert response.status == 302, response
        assert response.location.startswith("/login?next="), response
    elif expected in (OWN, ALLOWED):
        assert response.status < 400, response
    else:
        assert response.status == expected, response
    if not in_the_chat:
        assert scene.secret not in response.text
    if not (in_the_chat or may_name_it):
        assert scene.name not in response.text


# ----- the probes ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("role", "endpoint", "probe"), CASES, ids=[case_id(*c) for c in CASES])
def test_every_role_gets_what_the_row_says_and_changes_nothing(scene, role, endpoint, probe):
    expected = probe.expected(role)
    before = scene.rows()
    if probe.method == "WS" and expected == REFUSED:
        assert_every_frame_about_the_chat_is_refused(scene.browser(role), scene)
    elif probe.method == "WS":
        with pytest.raises(websocket.WebSocketBadStatusException) as refused:
            open_socket(scene.browser(role))
        assert refused.value.status_code == expected
    else:
        response = call(scene.browser(role), scene, probe)
        assert_answer(response, expected, scene, in_the_chat=role in ("member", "channel_admin"),
                      may_name_it=role in probe.names_the_chat_to)
    assert scene.rows() == before
    if role in SIGNED_IN:
        scene.still_signed_in(role)


def open_socket(person: Person) -> websocket.WebSocket:
    """The socket with every cookie the browser holds (a remember-me cookie too), as a page opens it."""
    if not person.cookies:
        return connect(person.base_url)
    jar = "; ".join(f"{k}={v}" for k, v in person.cookies.items())
    return websocket.create_connection(socket_url(person.base_url), header=[f"Cookie: {jar}"],
                                       origin=person.base_url, timeout=5)


def assert_every_frame_about_the_chat_is_refused(intruder: Person, scene: Scene) -> None:
    watching = scene.people["member"].open_tab()
    watching.view(scene.chat, after=scene.message)
    watching.wait_for(is_chat_list)
    tab = intruder.open_tab()
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
    # Nothing reached the chat's members: no message, no typing, no receipt from the intruder.
    about_the_chat = (f'data-chat="{scene.chat}"', f'id="typing-{scene.chat}"', f'id="receipts-{scene.chat}"',
                      "let me in")
    heard = [f for f in watching.collect(1.5) if any(mark in f for mark in about_the_chat)]
    assert heard == []
    assert not any(scene.secret in f or scene.name in f for f in tab.frames)
    watching.close()
    tab.close()
    intruder.tabs.remove(tab)
