"""Budget alerts' settings (``gateway.features.alerts.config``): a webhook aimed at the
gateway's own network is refused when saved (naming the field) and when a name resolves
there at posting time; the URL is kept encrypted, shown by its host only, and never in
the audit trail."""

from __future__ import annotations

import asyncio
import socket

import pytest

from gateway.features.alerts import config, webhook
from gateway.models import AuditEvent


def test_webhook_urls_aimed_at_the_gateways_own_network_are_refused(db, settings, monkeypatch):
    settings.SWITCHYARD_ALERT_WEBHOOK_PRIVATE = False
    for url in (
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "http://localhost/x",
        "ftp://example.com/x",
        "not a url",
    ):
        with pytest.raises(Exception) as refused:
            config.save(webhook_url=url)
        assert "webhook_url" in str(refused.value)
    # a name is judged by what it resolves to when the alert is posted (a DNS answer)
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        if host == "hooks.internal.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    config.save(webhook_url="https://hooks.internal.example/x")  # saved: not resolved yet
    with pytest.raises(webhook.Refused, match="private"):
        asyncio.run(webhook.check_resolved("https://hooks.internal.example/x"))
    settings.SWITCHYARD_URL_FETCH_ALLOW = "10.0.0.0/8"
    config.save(webhook_url="http://10.1.2.3/hook")  # the operator listed it


def test_the_webhook_is_kept_encrypted_and_shown_by_its_host_only(db):
    url = "https://hooks.slack.com/services/T0001/B0002/VerySecretTokenWxyz"
    shown = config.save(webhook_url=url).webhook_shown
    assert shown == "https://hooks.slack.com/…Wxyz"
    stored = config.row().webhook_ciphertext
    assert "hooks.slack.com" not in stored and "VerySecret" not in stored
    assert config.load().webhook_url == url
    change = AuditEvent.objects.filter(object_type="alert_settings").first()
    assert change is not None and "VerySecret" not in str(change.changes)
    assert config.save(webhook_url="").webhook_url == ""
