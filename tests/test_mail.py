"""E-mail for what was missed, its one-click unsubscribe, the e-mail settings and "Forgot your
password?", against a real SMTP server (aiosmtpd, STARTTLS and AUTH: tests/support/smtp.py).

The notifier is driven by hand (core/notifier.py: run_once); "the wait" is EMAIL_AFTER_MINUTES,
passed by moving what is due to now rather than by sleeping.
"""
import base64
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select, update

from webchat.core import notifier
from webchat.extensions import db
from webchat.models import Notification, PushSubscription, User, utcnow

from .support import services
from .support.pages import chat_id_from, parse
from .support.records import create_group, message_sent, reply_sent, set_user
from .support.services import free_port
from .support.smtp import SmtpServer
from .support.wsclient import Person

BASE_URL = "https://chat.example.test"


@pytest.fixture
def smtp(app, tmp_path):
    """The app sends e-mail through a real SMTP server of the test's own."""
    with SmtpServer(tmp_path) as server:
        app.config.update(SMTP_URL=server.url, SMTP_CA_FILE=str(server.ca_file), BASE_URL=BASE_URL,
                          SMTP_TIMEOUT_SECONDS=5)
        yield server


def give_address(person, address: str, notify: bool = True):
    response = person.post("/settings/email", {"email": address, "email_notifications": "1" if notify else ""})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


def notifier_round(app) -> None:
    with app.test_request_context():
        notifier.run_once()


def after_the_wait(app) -> None:
    """The notifier's rounds: what was sent is decided, EMAIL_AFTER_MINUTES pass, what is due goes."""
    notifier_round(app)
    with app.app_context():
        db.session.execute(update(Notification).where(Notification.state == "due")
                           .values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    notifier_round(app)


def text_part(mail) -> str:
    return mail.get_body(("plain",)).get_content()


def html_part(mail) -> str:
    return mail.get_body(("html",)).get_content()


def links(mail) -> list[str]:
    return re.findall(rf"{re.escape(BASE_URL)}/chats/\S+", text_part(mail))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def email_settings(person) -> tuple[str, bool]:
    """The address and the checkbox as Settings shows them."""
    page = parse(person.get("/settings"))
    [address] = page.find_all("input", name="email")
    [checkbox] = page.find_all("input", name="email_notifications")
    return address.get("value"), "checked" in checkbox.attrs


# ----- e-mail for a missed mention ---------------------------------------------------------------

def test_a_mention_left_unread_is_emailed_once_with_a_link_that_opens_it(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    mention = message_sent(alice, chat, "@bob can you review the plan by Friday?")

    notifier_round(app)
    assert smtp.take() == []  # not before the wait
    after_the_wait(app)

    [mail] = smtp.take()
    assert mail["To"] == "bob@example.com"
    assert mail["Subject"] == "Alice mentioned you in #Team"
    assert "@bob can you review the plan by Friday?" in text_part(mail)
    assert links(mail) == [f"{BASE_URL}/chats/{chat}/messages/{mention}#m-{mention}"]
    assert f'href="{BASE_URL}/chats/{chat}/messages/{mention}#m-{mention}"' in html_part(mail)
    opened = bob.get(path_of(links(mail)[0]))
    assert opened.status_code == 200
    assert "can you review the plan by Friday?" in opened.get_data(as_text=True)

    after_the_wait(app)
    assert smtp.take() == []  # once


def test_two_mentions_and_a_direct_message_come_in_one_email(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    first = message_sent(alice, chat, "@bob first question")
    second = message_sent(carol, chat, "@bob second question")
    dm = chat_id_from(alice.post("/dm", {"username": "bob"}))
    direct = message_sent(alice, dm, "are you around?")

    after_the_wait(app)

    [mail] = smtp.take()
    assert mail["Subject"] == "3 unread messages in webchat"
    text = text_part(mail)
    assert text.index("first question") < text.index("second question") < text.index("are you around?")
    assert links(mail) == [f"{BASE_URL}/chats/{chat}/messages/{first}#m-{first}",
                           f"{BASE_URL}/chats/{chat}/messages/{second}#m-{second}",
                           f"{BASE_URL}/chats/{dm}/messages/{direct}#m-{direct}"]


def test_a_direct_message_alone_says_who_sent_it(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    dm = chat_id_from(alice.post("/dm", {"username": "bob"}))
    message_sent(alice, dm, "lunch?")

    after_the_wait(app)

    [mail] = smtp.take()
    assert mail["Subject"] == "Alice sent you a direct message"
    assert "lunch?" in text_part(mail)


def test_a_mention_read_before_the_wait_is_not_emailed(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    mention = message_sent(alice, chat, "@bob quick one")
    notifier_round(app)

    assert bob.post(f"/chats/{chat}/read", {"upto": str(mention)}).status_code < 400
    after_the_wait(app)

    assert smtp.take() == []


def test_a_mention_in_a_thread_counts_as_read_once_read_in_the_thread(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    parent = message_sent(alice, chat, "the plan")
    read_there = reply_sent(carol, chat, parent, "@bob thoughts on this?")
    notifier_round(app)
    assert bob.post(f"/chats/{chat}/threads/{parent}/read", {"upto": str(read_there)}).status_code < 400
    unread = reply_sent(carol, chat, parent, "@bob and on this?")

    after_the_wait(app)

    [mail] = smtp.take()
    assert "and on this?" in text_part(mail) and "thoughts on this?" not in text_part(mail)
    assert links(mail) == [f"{BASE_URL}/chats/{chat}/messages/{unread}#t-{unread}"]
    assert "and on this?" in bob.get(path_of(links(mail)[0]), follow_redirects=True).get_data(as_text=True)


def test_a_mention_deleted_or_in_a_chat_left_before_the_wait_is_not_emailed(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    give_address(carol, "carol@example.com")
    deleted = message_sent(alice, chat, "@bob oops, wrong person")
    other = create_group(alice, "Side", "carol")
    message_sent(alice, other, "@carol are you in?")
    notifier_round(app)

    assert alice.post(f"/chats/{chat}/messages/{deleted}/delete").status_code < 400
    assert carol.post(f"/chats/{other}/leave").status_code < 400
    after_the_wait(app)

    assert smtp.take() == []


def test_no_address_no_email_and_turning_it_off_before_the_wait_stops_it(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")  # carol gave none
    message_sent(alice, chat, "@bob @carol both of you")
    notifier_round(app)

    give_address(bob, "bob@example.com", notify=False)
    after_the_wait(app)

    assert smtp.take() == []


def test_a_direct_message_to_someone_with_a_push_device_is_pushed_not_emailed(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    give_address(carol, "carol@example.com")
    with app.app_context():  # bob's phone is subscribed to Web Push; carol has no device
        bob_id = db.session.scalar(select(User.id).where(User.username == "bob"))
        db.session.add(PushSubscription(user_id=bob_id, endpoint=f"https://127.0.0.1:{free_port()}/push/bob",
                                        **device_keys(), device="Firefox on Android"))
        db.session.commit()
    message_sent(alice, chat_id_from(alice.post("/dm", {"username": "bob"})), "for bob")
    message_sent(alice, chat_id_from(alice.post("/dm", {"username": "carol"})), "for carol")

    after_the_wait(app)

    assert [mail["To"] for mail in smtp.take()] == ["carol@example.com"]


def device_keys() -> dict[str, str]:
    """A browser's subscription keys (RFC 8291): a P-256 public key and 16 random bytes."""
    public = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    return {"p256dh": b64(public), "auth": b64(b"sixteen byte key")}


def test_message_text_shows_as_text_in_the_email_never_as_html(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    message_sent(alice, chat, '@bob <script>alert(1)</script> & <img src=x onerror="boom">')

    after_the_wait(app)

    [mail] = smtp.take()
    assert '<script>alert(1)</script> & <img src=x onerror="boom">' in text_part(mail)
    html = html_part(mail)
    assert "<script" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img" in html


# ----- the SMTP server away or refusing ------------------------------------------------------------

def test_with_the_smtp_server_down_the_email_is_retried_and_arrives_once_when_it_is_back(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    message_sent(alice, chat, "@bob are you there?")
    smtp.stop()

    after_the_wait(app)  # refused: due again after a backoff
    smtp.start()
    assert smtp.take() == []
    after_the_wait(app)  # the backoff passed

    [mail] = smtp.take()
    assert "are you there?" in text_part(mail)
    after_the_wait(app)
    assert smtp.take() == []


def test_an_smtp_server_that_never_answers_times_out_and_is_tried_again(app, trio, smtp):
    import socket
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    message_sent(alice, chat, "@bob ping")
    real_url = app.config["SMTP_URL"]
    with socket.socket() as silent:  # takes connections, says nothing
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        app.config.update(SMTP_URL=f"smtp://127.0.0.1:{silent.getsockname()[1]}", SMTP_TIMEOUT_SECONDS=0.5)
        after_the_wait(app)
    app.config.update(SMTP_URL=real_url, SMTP_TIMEOUT_SECONDS=5)

    after_the_wait(app)

    [mail] = smtp.take()
    assert "ping" in text_part(mail)


def test_an_address_the_server_refuses_for_good_is_not_tried_again(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    smtp.refuse("bob@example.com")
    message_sent(alice, chat, "@bob hello")
    after_the_wait(app)

    smtp.recorder.refused.clear()
    after_the_wait(app)

    assert smtp.take() == []
    with app.app_context():
        assert set(db.session.scalars(select(Notification.state).where(Notification.kind == "email"))) == {"failed"}


# ----- unsubscribe ---------------------------------------------------------------------------------

def unsubscribe_link(mail) -> str:
    header = mail["List-Unsubscribe"]
    assert header.startswith(f"<{BASE_URL}/unsubscribe/") and header.endswith(">")
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert header[1:-1] in text_part(mail)
    return header[1:-1]


def missed_mention(app, alice, chat, smtp, text="@bob look"):
    message_sent(alice, chat, text)
    after_the_wait(app)
    return smtp.take()


def test_one_click_unsubscribe_from_a_mail_client_stops_the_emails(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    [mail] = missed_mention(app, alice, chat, smtp)
    link = unsubscribe_link(mail)

    mail_client = app.test_client()  # no cookie, no CSRF token: the signed link is the authority
    answer = mail_client.post(path_of(link), data={"List-Unsubscribe": "One-Click"})
    assert answer.status_code == 200
    assert "You won't get e-mails about missed mentions and direct messages" in answer.get_data(as_text=True)
    assert mail_client.post(path_of(link), data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: same

    assert missed_mention(app, alice, chat, smtp, "@bob still there?") == []
    assert email_settings(bob) == ("bob@example.com", False)


def test_the_unsubscribe_link_opens_a_page_whose_button_works_without_javascript(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    [mail] = missed_mention(app, alice, chat, smtp)
    visitor = app.test_client()

    page = parse(visitor.get(path_of(unsubscribe_link(mail))))
    [form] = page.find_all("form", method="post")
    assert form.get("action") == path_of(unsubscribe_link(mail))
    assert email_settings(bob) == ("bob@example.com", True)  # opening the page changed nothing

    assert visitor.post(form.get("action")).status_code == 200
    assert email_settings(bob) == ("bob@example.com", False)


def test_a_tampered_unsubscribe_link_or_one_for_an_old_address_is_refused_and_changes_nothing(app, trio, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    [mail] = missed_mention(app, alice, chat, smtp)
    link = path_of(unsubscribe_link(mail))
    visitor = app.test_client()

    tampered = visitor.post(link[:-3] + ("AAA" if not link.endswith("AAA") else "BBB"))
    assert tampered.status_code == 404
    assert "not a valid unsubscribe link" in tampered.get_data(as_text=True)

    give_address(bob, "bob@work.example")
    old = visitor.post(link)
    assert old.status_code == 404
    assert "an address this account no longer uses" in old.get_data(as_text=True)
    assert email_settings(bob) == ("bob@work.example", True)


# ----- the settings --------------------------------------------------------------------------------

def test_settings_keep_the_address_lower_cased_and_refuse_what_is_not_one(app, trio):
    chat, alice, bob, carol = trio
    assert email_settings(bob) == ("", True)

    give_address(bob, "  Bob@Example.COM ")
    assert email_settings(bob) == ("bob@example.com", True)

    for typed in ("not an address", "bob@example.com, eve@example.com", "Bob <bob@example.com>"):
        refused = bob.post("/settings/email", {"email": typed, "email_notifications": "1"})
        assert refused.status_code == 422
        assert "Type an e-mail address like name@example.com" in parse(refused).text
        assert email_settings(bob) == ("bob@example.com", True)

    give_address(bob, "", notify=False)
    assert email_settings(bob) == ("", False)


def test_settings_say_when_this_webchat_sends_no_email(app, trio):
    chat, alice, bob, carol = trio
    assert "doesn't send e-mail yet" in " ".join(parse(bob.get("/settings")).text.split())


# ----- forgot your password ------------------------------------------------------------------------

def test_forgot_password_emails_a_link_that_sets_a_new_password(app, trio, anonymous, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    login = parse(anonymous.get("/login"))
    assert [a.get("href") for a in login.find_all("a") if a.text == "Forgot your password?"] == ["/forgot"]

    answer = anonymous.post("/forgot", {"email": " Bob@Example.com"})

    assert answer.status_code == 200
    assert "If an account has the address bob@example.com, we sent it a link" in " ".join(parse(answer).text.split())
    [mail] = smtp.take()
    assert mail["To"] == "bob@example.com"
    assert mail["Subject"] == "Set a new password for webchat"
    [link] = re.findall(rf"{re.escape(BASE_URL)}/reset/\S+", text_part(mail))
    assert f'href="{link}"' in html_part(mail)
    assert "@bob" in parse(anonymous.get(path_of(link))).text
    assert anonymous.post(path_of(link), {"new_password": "a brand new secret"}).status_code == 302

    assert anonymous.login("bob", "a brand new secret").status_code == 302
    assert app.test_client().post("/login", data={"username": "bob", "password": "password123"}).status_code != 302
    assert anonymous.get(path_of(link)).status_code == 410  # used


def test_forgot_password_answers_the_same_for_an_unknown_or_deactivated_address_and_sends_nothing(
        app, trio, anonymous, smtp):
    chat, alice, bob, carol = trio
    give_address(bob, "bob@example.com")
    give_address(carol, "carol@example.com")
    set_user(app, "carol", is_active_account=False)

    def answer_for(address):
        response = anonymous.post("/forgot", {"email": address})
        assert response.status_code == 200
        return " ".join(parse(response).find_all("main")[0].text.split()).replace(address, "ADDRESS")

    known = answer_for("bob@example.com")
    assert len(smtp.take()) == 1
    assert answer_for("nobody@example.com") == known
    assert answer_for("carol@example.com") == known
    assert smtp.take() == []


def test_forgot_password_without_email_says_to_ask_an_administrator(app, anonymous):
    page = parse(anonymous.get("/forgot"))
    assert "Ask an administrator for a password reset link" in " ".join(page.text.split())
    assert page.find_all("input", name="email") == []
    assert anonymous.post("/forgot", {"email": "bob@example.com"}).status_code == 200


# ----- under gunicorn: the notifier and the reset e-mail run in greenlets of their own -------------

@pytest.fixture(scope="module")
def mailing_server(tmp_path_factory):
    """A live server (gunicorn -k gevent) that e-mails through a real SMTP server, at once."""
    tmp = tmp_path_factory.mktemp("mail")
    with SmtpServer(tmp) as smtp, services.module_server(
            "mail", tmp, extra_env={**smtp.env(), "WEBCHAT_EMAIL_AFTER_MINUTES": "0",
                                    "WEBCHAT_BASE_URL": BASE_URL}) as live:
        yield live, smtp


def test_under_gunicorn_a_missed_mention_and_a_reset_link_are_emailed_off_the_request(mailing_server):
    live, smtp = mailing_server
    alice, bob = Person.register(live.url, "alice"), Person.register(live.url, "bob")
    assert bob.post("/settings/email", {"email": f"{bob.username}@example.com",
                                        "email_notifications": "1"}).status == 302
    chat = alice.create_chat("Plans", [bob])
    alice.send(chat, f"@{bob.username} the notifier sends this by itself")

    [mail] = smtp.wait_for(1)
    assert mail["To"] == f"{bob.username}@example.com"
    assert "the notifier sends this by itself" in text_part(mail)

    visitor = Person(live.url)
    answer = visitor.post("/forgot", {"email": f"{bob.username}@example.com"})
    assert answer.status == 200 and "we sent it a link" in answer.text
    [reset] = smtp.wait_for(1)
    [link] = re.findall(rf"{re.escape(BASE_URL)}/reset/\S+", text_part(reset))
    assert visitor.post(path_of(link), {"new_password": "set from the e-mail"}).status == 302
    assert Person(live.url, bob.username, "set from the e-mail").login().get("/settings").status == 200
