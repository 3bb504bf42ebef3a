"""Posting an alert to the configured webhook: a Slack-compatible body (``text``, which
Slack, Mattermost, Rocket.Chat and Teams' incoming webhooks show, plus the structured
fields under ``alert`` for anything else), through the process's pooled HTTP client.

The URL is the owner's, but the gateway still will not be aimed at its own network: http
or https only, and every address the host resolves to must be public (as
``gateway.core.url_fetch`` judges) unless the operator allows private hosts
(``SWITCHYARD_ALERT_WEBHOOK_PRIVATE=1``) or lists the host in
``SWITCHYARD_URL_FETCH_ALLOW``. Checked when saved (the form of the URL, a literal
address) and again before each post (what the name resolves to now), and the post goes
to the addresses checked, never to a second resolution (``url_fetch.send_pinned``, the
URL fetches' own way; the Host header and TLS server name stay the URL's). Redirects are
not followed; any answer but 2xx is a failure. Errors name the host only.

The message's ``text`` is markup to its receiver (Slack's mrkdwn, Markdown elsewhere):
every user-chosen value in it goes through ``plain``."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from django.conf import settings

from gateway.core import url_fetch
from gateway.core.url_fetch import Allowlist, is_public

TIMEOUT_SECONDS = 10.0  # the whole post: resolving, connecting, the answer
MAX_ANSWER = 64 * 1024


class Refused(Exception):
    """A webhook URL the gateway will not call, or a post that failed; ``str()`` names
    the host, never the path or query."""


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _private_allowed() -> Allowlist | None:
    """None when any host may be called (the operator allows private ones), else the
    allow list of hosts and networks that may be private."""
    if getattr(settings, "SWITCHYARD_ALERT_WEBHOOK_PRIVATE", False):
        return None
    raw = getattr(settings, "SWITCHYARD_URL_FETCH_ALLOW", "")
    return Allowlist.parse(raw.split(",") if isinstance(raw, str) else list(raw))


def check_form(url: str) -> None:
    """What can be judged without resolving: scheme, host, a literal private address."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise Refused("not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Refused("an http or https URL with a host")
    allow = _private_allowed()
    if allow is None or allow.allows_host(parts.hostname):
        return
    try:
        literal = ipaddress.ip_address(parts.hostname)
    except ValueError:
        if parts.hostname.lower() in ("localhost", "localhost.localdomain"):
            raise Refused(_private_message(parts.hostname)) from None
        return
    if not is_public(literal) and not allow.allows_address(literal):
        raise Refused(_private_message(parts.hostname))


def _private_message(host: str) -> str:
    return (
        f"{host} is a private, loopback or link-local address; the operator allows "
        "private webhook hosts with SWITCHYARD_ALERT_WEBHOOK_PRIVATE=1"
    )


_ANYWHERE = Allowlist.parse(["0.0.0.0/0", "::/0"])


def _allow() -> Allowlist:
    """The addresses the webhook may reach: public ones, and those the operator allows
    (every address with ``SWITCHYARD_ALERT_WEBHOOK_PRIVATE``)."""
    allow = _private_allowed()
    return _ANYWHERE if allow is None else allow


async def check_resolved(url: str) -> list[url_fetch.IPAddress]:
    """The addresses the URL's host resolves to now, each public (or allowed): the post
    goes to these and only these (``url_fetch.send_pinned``), so a DNS answer that
    changes after the check (rebinding) cannot aim it at the gateway's own network."""
    check_form(url)
    host = _host(url)
    try:
        return await url_fetch.checked_addresses(httpx.URL(url), _allow())
    except url_fetch.FetchRefused as exc:
        if "resolve" in str(exc):
            raise Refused(f"{host} does not resolve") from None
        raise Refused(_private_message(host)) from None
    except (httpx.InvalidURL, ValueError):
        raise Refused("not a URL") from None


# Slack's mrkdwn reads ``<...>`` as a mention (``<!channel>``) or a disguised link
# (``<https://x|label>``); Slack asks for exactly these three escaped in text.
_SLACK_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ZWSP = "\u200b"


def plain(value: object) -> str:
    """A user-chosen value (a key, team or user name) as inert text in a webhook
    message: Slack's control characters escaped (Slack shows them as typed; so do
    Markdown renderers, which decode the same entities), and the Markdown of the other
    receivers (Mattermost, Rocket.Chat, Teams) kept from making a link (``[label](url)``)
    or a mention (``@channel``, ``@all``) by an invisible space."""
    text = str(value).translate(_SLACK_ESCAPES)
    return text.replace("@", "@" + _ZWSP).replace("](", "]" + _ZWSP + "(")


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    """The body posted for ``alert`` (a ``BudgetAlert``'s fields, or a test's): its
    ``text`` renders every chosen value through ``plain``; the structured ``alert``
    fields are data, kept as they are."""
    if alert.get("test"):
        text = ":white_check_mark: Switchyard budget alerts reach this webhook (a test)."
    else:
        text = (
            f":warning: Switchyard: {plain(alert['scope'])} *{plain(alert['subject_name'])}* "
            f"has spent ${alert['spend_usd']:.2f} of its ${alert['budget_usd']:.2f} budget "
            f"({alert['percent']:.0f}%, past the {alert['threshold']}% alert) "
            f"in {plain(alert['period_label'])}."
        )
    return {"text": text, "alert": alert}


async def post(url: str, body: dict[str, Any]) -> int:
    """POST ``body`` to ``url`` at the addresses checked for it; its status, or
    ``Refused`` naming the host and why."""
    host = _host(url)
    content = orjson.dumps(body, default=str)
    headers = {"content-type": "application/json", "user-agent": "switchyard-alerts"}
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            addresses = await check_resolved(url)
            response = await url_fetch.send_pinned(
                "POST", httpx.URL(url), addresses, headers, content
            )
            try:
                size = 0
                async for piece in response.aiter_bytes():
                    size += len(piece)
                    if size > MAX_ANSWER:
                        raise Refused(f"{host} answered more than {MAX_ANSWER} bytes")
            finally:
                await response.aclose()
    except TimeoutError:
        raise Refused(f"{host} did not answer in time") from None
    except url_fetch.FetchRefused as exc:  # names the host only
        raise Refused(str(exc)) from None
    except httpx.TimeoutException:
        raise Refused(f"{host} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise Refused(f"{host}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise Refused(f"{host} answered {response.status_code}")
    return response.status_code
