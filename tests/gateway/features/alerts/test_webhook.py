"""The alert webhook's message and connection: a user-chosen name is inert text in the
receiver's markup (L25), and the post goes to the address checked for the host, never
to what a second resolution answers (L29, DNS rebinding)."""

from __future__ import annotations

import asyncio
import socket
from datetime import UTC, datetime
from decimal import Decimal

import httpx
import pytest

from gateway.access import keys
from gateway.core import url_fetch
from gateway.features.alerts import config, delivery, evaluate, webhook
from gateway.models import ApiKey
from gateway.models.alerts import BudgetAlert
from gateway.models.telemetry import SpendRollup

NOW = datetime(2026, 3, 15, 12, 30, tzinfo=UTC)


def spend(key: ApiKey, usd: str) -> None:
    hour = NOW.replace(minute=0, second=0, microsecond=0)
    SpendRollup.objects.create(
        hour=hour,
        key_id=key.pk,
        key_name=key.name,
        end_user="",
        session="",
        route="r",
        model="m",
        cost_usd=Decimal(usd),
        requests=1,
    )


class Resolver:
    """Answers ``host`` with each of ``answers`` in turn (the last one again after
    them), every other name as the system does; counts the questions about ``host``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, host: str, *answers: str) -> None:
        self.host, self.answers, self.asked = host, list(answers), 0
        real = asyncio.base_events.BaseEventLoop.getaddrinfo

        async def getaddrinfo(loop, name, port, *args, **kwargs):  # type: ignore[no-untyped-def]
            if name != self.host:
                return await real(loop, name, port, *args, **kwargs)
            address = self.answers[min(self.asked, len(self.answers) - 1)]
            self.asked += 1
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port or 80)))]

        monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("a & <b>", "a &amp; &lt;b&gt;"),
    ],
)
def test_a_key_named_as_slack_markup_is_shown_as_typed_never_as_markup(
    receiver, name: str, shown: str
) -> None:
    """A member names their key ``<!channel>`` (a mention of everyone) or
    ``<https://evil|click>`` (a disguised link): the alert's text carries it escaped as
    Slack asks (``&``, ``<``, ``>``), so Slack shows the name and pings no one. The
    control: the alert is delivered, names the key, and the structured field keeps the
    name as it is."""
    key = keys.create_key(name=name, budget_usd="10").key
    config.save(webhook_url=receiver.url)
    spend(key, "6")
    (raised,) = evaluate.raise_alerts(NOW.timestamp())
    assert asyncio.run(delivery.deliver_due()) == 1
    assert BudgetAlert.objects.get(pk=raised).status == "sent"
    (posted,) = receiver.received
    assert f"*{shown}*" in posted["text"]
    assert "<" not in posted["text"] and ">" not in posted["text"]
    assert posted["alert"]["subject_name"] == name


def test_markdown_receivers_get_no_link_nor_mention_from_a_name() -> None:
    """Mattermost, Rocket.Chat and Teams read the same ``text`` as Markdown: a name's
    ``[label](url)`` and ``@channel`` are broken by an invisible space (a plain name
    is left as it is: the control)."""
    fields = {
        "scope": "key",
        "spend_usd": 6.0,
        "budget_usd": 10.0,
        "percent": 60.0,
        "threshold": 50,
        "period_label": "March 2026",
    }
    text = webhook.payload({**fields, "subject_name": "[click](https://evil) @channel"})["text"]
    assert "](" not in text and "@channel" not in text
    assert "*ci-key*" in webhook.payload({**fields, "subject_name": "ci-key"})["text"]


@pytest.mark.django_db(transaction=True)
def test_dns_rebinding_cannot_aim_the_post_at_the_gateways_network(
    receiver, settings, monkeypatch
) -> None:
    """The webhook's name answers a public address when checked and 127.0.0.1 (where a
    receiver listens) afterwards: the post goes to the checked address (here nothing
    answers it), with the name's Host header, and the local receiver gets nothing."""
    settings.SWITCHYARD_ALERT_WEBHOOK_PRIVATE = False
    port = int(receiver.url.split(":")[2].split("/")[0])
    url = f"http://rebind.example:{port}/hook"
    config.save(webhook_url=url)
    resolver = Resolver(monkeypatch, "rebind.example", "93.184.216.34", "127.0.0.1")
    sent: list[httpx.Request] = []

    def unreachable(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        raise httpx.ConnectError("no route to host", request=request)

    def pinned_client() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(unreachable))

    monkeypatch.setattr(url_fetch, "_client", pinned_client)
    with pytest.raises(webhook.Refused, match="rebind.example could not be reached"):
        asyncio.run(webhook.post(url, webhook.payload({"test": True})))
    assert receiver.received == []
    assert resolver.asked == 1  # resolved once; the second answer is never used
    assert sent and {r.url.host for r in sent} == {"93.184.216.34"}
    assert {r.headers["host"] for r in sent} == {f"rebind.example:{port}"}


@pytest.mark.django_db(transaction=True)
def test_a_name_checked_once_reaches_its_receiver_at_the_checked_address(
    receiver, monkeypatch
) -> None:
    """The control: a name the operator allows (private hosts allowed) answers
    127.0.0.1 when checked and then a private address nothing listens on; the post still
    reaches the receiver, through the one checked address."""
    port = int(receiver.url.split(":")[2].split("/")[0])
    url = f"http://hooks.example:{port}/hook"
    resolver = Resolver(monkeypatch, "hooks.example", "127.0.0.1", "10.255.255.1")
    assert asyncio.run(webhook.post(url, webhook.payload({"test": True}))) == 200
    assert len(receiver.received) == 1 and "a test" in receiver.received[0]["text"]
    assert resolver.asked == 1
