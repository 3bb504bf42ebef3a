"""The gateway's email, through Django's email backend: the operator's SMTP server
(``SWITCHYARD_EMAIL_HOST``, port, user, password, STARTTLS or SSL, from address:
``gateway/server/settings.py``) or a backend of the operator's (``SWITCHYARD_EMAIL_BACKEND``).
Budget alerts (``gateway.features.alerts.email``) and invitations
(``gateway.features.people.invites``) send through here. Sending blocks (SMTP, up to
``SWITCHYARD_EMAIL_TIMEOUT``): ``send_text`` runs it in a thread, ``send_later`` after the
transaction commits on a small pool of threads, so no view waits on it. Errors name the
SMTP host only, never a password."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Future, ThreadPoolExecutor, wait

from django.conf import settings
from django.core import mail as django_mail  # a worker loads it when it sends (worker.defer)
from django.db import transaction

log = logging.getLogger(__name__)
_pool: ThreadPoolExecutor | None = None
_pending: set[Future[None]] = set()  # send_later's messages until they are sent or failed


class Refused(Exception):
    """An email the gateway could not send; ``str()`` names the SMTP host and the
    kind of failure, never a password."""


def configured() -> bool:
    """Whether the operator set up email (an SMTP host, or a backend of their own)."""
    return bool(getattr(settings, "SWITCHYARD_ALERT_EMAIL", False))


def send_now(recipients: list[str], subject: str, body: str) -> None:
    """Send one plain-text message (blocking); ``Refused`` on failure."""
    host = getattr(settings, "EMAIL_HOST", "") or "the email backend"
    try:
        connection = django_mail.get_connection(fail_silently=False)
        django_mail.EmailMessage(subject, body, to=recipients, connection=connection).send()
    except Exception as exc:  # SMTP refusals, a host down or slow, a bad backend
        raise Refused(f"{host}: {type(exc).__name__}") from None


async def send_text(recipients: list[str], subject: str, body: str) -> None:
    """Email a ready message in a thread (SMTP blocks); ``Refused`` on failure."""
    subject = " ".join(subject.split())[:200]  # one line: no header folding
    await asyncio.to_thread(send_now, recipients, subject, body)


def send_later(recipients: list[str], subject: str, body: str, what: str) -> None:
    """Send one message off the request: once the current transaction commits (at once
    outside one), on a pool of two threads. A failure is logged as ``what`` (which must
    hold no secret: the body may be one) and the SMTP host, and never reaches the
    caller."""
    transaction.on_commit(lambda: _submit(recipients, subject, body, what))


def _submit(recipients: list[str], subject: str, body: str, what: str) -> None:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="mail")
    future = _pool.submit(_send_logged, recipients, subject, body, what)
    _pending.add(future)
    future.add_done_callback(_pending.discard)


def _send_logged(recipients: list[str], subject: str, body: str, what: str) -> None:
    try:
        send_now(recipients, subject, body)
    except Refused as exc:
        log.warning("%s was not sent: %s", what, exc)


def sent(timeout: float = 60.0) -> None:
    """Wait until every ``send_later`` message so far is sent or failed (tests)."""
    wait(list(_pending), timeout=timeout)
