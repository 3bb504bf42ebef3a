"""Email off the request (``mail.send_later``): a message goes once the transaction
commits, on a thread, so a slow SMTP server (here one on 127.0.0.1 that says nothing
until the test lets it) keeps no view waiting; a failure is logged by what it was and
the SMTP host, never the body, and never reaches the caller."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from gateway.base import mail

pytestmark = pytest.mark.django_db


class StalledSmtp:
    """An SMTP server on 127.0.0.1 that accepts a connection and says nothing until
    ``release`` is set (then takes one message into ``messages``); let go within 20 s or
    it hangs up, so a sender that waited on it gets no message through."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.release = threading.Event()
        self.received = threading.Event()
        self.messages: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.listener, self.listener.accept()[0] as conn:
            if not self.release.wait(20):
                return
            lines = conn.makefile("rb")
            conn.sendall(b"220 stalled.test ESMTP\r\n")
            while line := lines.readline():
                verb = line[:4].upper()
                if verb == b"DATA":
                    conn.sendall(b"354 go on\r\n")
                    data = b"".join(iter(lambda: lines.readline(), b".\r\n"))
                    self.messages.append(data.decode())
                    conn.sendall(b"250 queued\r\n")
                    self.received.set()
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")

    def close(self) -> None:
        self.release.set()
        self.thread.join(30)


def serve_stalled(settings: Any) -> Iterator[StalledSmtp]:
    """A ``StalledSmtp`` as the operator's SMTP server while the test runs."""
    server = StalledSmtp()
    settings.SWITCHYARD_ALERT_EMAIL = True
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 30
    yield server
    server.close()
    mail.sent()


stalled_smtp = pytest.fixture(serve_stalled)


def test_a_message_waits_for_no_one_and_still_arrives(
    stalled_smtp: StalledSmtp, django_capture_on_commit_callbacks
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # sent once committed
        mail.send_later(["ada@example.com"], "Hello", "the body\n", "a test message")
    assert not stalled_smtp.received.is_set()  # the caller went on before the server spoke
    stalled_smtp.release.set()
    mail.sent()
    (message,) = stalled_smtp.messages
    assert "To: ada@example.com" in message and "the body" in message


def test_a_failure_is_logged_without_the_body_and_raises_nowhere(
    settings, caplog, django_capture_on_commit_callbacks
) -> None:
    settings.SWITCHYARD_ALERT_EMAIL = True
    settings.EMAIL_HOST = "smtp.example.test"
    settings.EMAIL_BACKEND = "tests.gateway.features.alerts.test_email.Broken"
    with caplog.at_level(logging.WARNING, logger="gateway.base.mail"):
        with django_capture_on_commit_callbacks(execute=True):
            mail.send_later(["ada@example.com"], "Hello", "secret-link\n", "invite 7's email")
        mail.sent()
    (record,) = caplog.records
    message = record.getMessage()
    assert message == "invite 7's email was not sent: smtp.example.test: ConnectionRefusedError"
    assert "secret-link" not in caplog.text
