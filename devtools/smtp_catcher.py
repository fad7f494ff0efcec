"""A real SMTP server on localhost (aiosmtpd) that keeps what it receives.

``make run`` uses it so the demo's email can be opened as an ``.eml`` file; the tests use
it to check the message that actually went over SMTP.
"""

from __future__ import annotations

import email
import json
import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

# aiosmtpd logs every SMTP command at INFO; a demo run only needs to know a mail arrived.
logging.getLogger("mail.log").setLevel(logging.WARNING)


@dataclass
class CaughtMail:
    message: EmailMessage
    recipients: list[str]
    path: Path | None


@dataclass
class SmtpCatcher:
    host: str
    port: int
    folder: Path | None
    mails: list[CaughtMail] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        raw: bytes = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        path = None
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            stamp = datetime.now().strftime("%Y%m%d_%H%M%S_%f")
            path = self.folder / f"email_{stamp}.eml"
            path.write_bytes(raw)
        message = email.message_from_bytes(raw, policy=default_policy)
        self.mails.append(CaughtMail(message, list(envelope.rcpt_tos), path))  # type: ignore[attr-defined]
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: object, session: object, envelope: object, mechanism: str, data: object
    ) -> AuthResult:
        """Accepts any credentials, remembering the login (tests check a password never leaks)."""
        self.logins.append(getattr(data, "login", b"").decode())
        return AuthResult(success=True)

    def airflow_connection_json(self, login: str | None = None, password: str | None = None) -> str:
        """``smtp_default`` for this server: plain SMTP, as a local server speaks it."""
        conn: dict[str, object] = {
            "conn_type": "smtp",
            "host": self.host,
            "port": self.port,
            "extra": {"disable_tls": True, "disable_ssl": True, "from_email": "divergencias@demo.local"},
        }
        if login:
            conn.update(login=login, password=password)
        return json.dumps(conn)


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


@contextmanager
def smtp_catcher(
    folder: Path | None = None,
    host: str = "127.0.0.1",
    starttls: ssl.SSLContext | None = None,
    size_limit: int = 32 * 2**20,
) -> Iterator[SmtpCatcher]:
    """Run the server for the duration of the block; ``folder`` keeps each message as .eml.
    With ``starttls`` it speaks as a submission port (587) does: plain SMTP that must be
    upgraded with STARTTLS before anything else. ``size_limit``: the largest message in bytes
    it takes (advertised as SIZE; a larger one is refused with 552, as a real server does)."""
    catcher = SmtpCatcher(host=host, port=_free_port(host), folder=folder)
    controller = Controller(
        catcher,
        hostname=host,
        port=catcher.port,
        authenticator=catcher.authenticate,
        auth_require_tls=starttls is not None,
        tls_context=starttls,
        require_starttls=starttls is not None,
        data_size_limit=size_limit,
    )
    controller.start()
    try:
        yield catcher
    finally:
        controller.stop()
