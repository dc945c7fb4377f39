"""A real SMTP server for tests (aiosmtpd) on a free port of 127.0.0.1: STARTTLS with a
self-signed certificate made here, AUTH only after it, and every e-mail it takes recorded.

The app trusts the certificate through WEBCHAT_SMTP_CA_FILE (config SMTP_CA_FILE), as a
deployment with a private CA would; nothing is sent in the clear.
"""
import datetime
import ipaddress
import logging
import ssl
import threading
import time
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .services import free_port

USER, PASSWORD = "webchat", "smtp secret/1"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1 and its key, written as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "smtp-cert.pem", directory / "smtp-key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


class Recorder:
    """The server's handler: refuses the recipients in `refused` for good (550), keeps the rest."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refused: set[str] = set()
        self.lock = threading.Lock()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refused:
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


def _authenticator(server, session, envelope, mechanism, auth_data):
    good = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() \
        and auth_data.password == PASSWORD.encode()
    return AuthResult(success=good, handled=False)


class SmtpServer:
    """with SmtpServer(tmp) as smtp: app.config["SMTP_URL"] = smtp.url; … smtp.take() -> e-mails."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.ca_file, self._key_file = self_signed(directory / f"smtp-{self.port}")
        self.recorder = Recorder()
        self.controller = None

    @property
    def url(self) -> str:
        return f"smtp://{USER}:{PASSWORD.replace('/', '%2F').replace(' ', '%20')}@127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """What a live server's environment needs to send through this server."""
        return {"WEBCHAT_SMTP_URL": self.url, "WEBCHAT_SMTP_CA_FILE": str(self.ca_file)}

    def refuse(self, address: str) -> None:
        """From now on, refuse this recipient for good (550: no such mailbox)."""
        self.recorder.refused.add(address.lower())

    def start(self) -> None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.ca_file, self._key_file)
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, tls_context=context,
                                     require_starttls=True, auth_required=True, auth_require_tls=True,
                                     authenticator=_authenticator)
        self.controller.start()

    def stop(self) -> None:
        """The server goes away: connections to its port are refused until start()."""
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def take(self) -> list[EmailMessage]:
        """The e-mails received since the last take, oldest first."""
        with self.recorder.lock:
            taken, self.recorder.messages[:] = list(self.recorder.messages), []
            return taken

    def wait_for(self, count: int, seconds: float = 30) -> list[EmailMessage]:
        """The first `count` e-mails received (taken), waiting for a server in another process to
        send them; fewer if they did not come within the seconds."""
        deadline = time.monotonic() + seconds
        while len(self.recorder.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.take()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's line-by-line session log
