"""The gateway's email, through Django's email backend: the operator's SMTP server
(``SWITCHYARD_EMAIL_HOST``, port, user, password, STARTTLS or SSL, from address:
``gateway/settings.py``) or a backend of the operator's (``SWITCHYARD_EMAIL_BACKEND``).
Budget alerts (``gateway.features.alerts.email``) and invitations
(``gateway.ops.invites``) send through here. Sending blocks (SMTP): ``send_text`` runs it
in a thread. Errors name the SMTP host only, never a password."""

from __future__ import annotations

import asyncio

from django.conf import settings
from django.core.mail import EmailMessage, get_connection


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
        connection = get_connection(fail_silently=False)
        EmailMessage(subject, body, to=recipients, connection=connection).send()
    except Exception as exc:  # SMTP refusals, a host down or slow, a bad backend
        raise Refused(f"{host}: {type(exc).__name__}") from None


async def send_text(recipients: list[str], subject: str, body: str) -> None:
    """Email a ready message in a thread (SMTP blocks); ``Refused`` on failure."""
    subject = " ".join(subject.split())[:200]  # one line: no header folding
    await asyncio.to_thread(send_now, recipients, subject, body)
