"""Posting an alert to the configured webhook: a Slack-compatible body (``text``, which
Slack, Mattermost, Rocket.Chat and Teams' incoming webhooks show, plus the structured
fields under ``alert`` for anything else), through the process's pooled HTTP client.

The URL is the owner's, but the gateway still will not be aimed at its own network: http
or https only, and every address the host resolves to must be public (as
``gateway.core.url_fetch`` judges) unless the operator allows private hosts
(``SWITCHYARD_ALERT_WEBHOOK_PRIVATE=1``) or lists the host in
``SWITCHYARD_URL_FETCH_ALLOW``. Checked when saved (the form of the URL, a literal
address) and again before each post (what the name resolves to now). Redirects are not
followed; any answer but 2xx is a failure. Errors name the host only."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
from django.conf import settings

from gateway.base import http
from gateway.core.url_fetch import Allowlist, is_public

TIMEOUT = httpx.Timeout(10.0)
MAX_ANSWER = 64 * 1024


class Refused(Exception):
    """A webhook URL the gateway will not call, or a post that failed; ``str()`` names
    the host, never the path or query."""


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


def _private_allowed(host: str) -> Allowlist | None:
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
    allow = _private_allowed(parts.hostname)
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


async def check_resolved(url: str) -> None:
    """Every address the URL's host resolves to now is public (or allowed)."""
    check_form(url)
    host = _host(url)
    allow = _private_allowed(host)
    if allow is None or allow.allows_host(host):
        return
    try:
        ipaddress.ip_address(host)
        return  # a literal: check_form judged it
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise Refused(f"{host} does not resolve") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if not is_public(address) and not allow.allows_address(address):
            raise Refused(_private_message(host))


def payload(alert: dict[str, Any]) -> dict[str, Any]:
    """The body posted for ``alert`` (a ``BudgetAlert``'s fields, or a test's)."""
    if alert.get("test"):
        text = ":white_check_mark: Switchyard budget alerts reach this webhook (a test)."
    else:
        text = (
            f":warning: Switchyard: {alert['scope']} *{alert['subject_name']}* has spent "
            f"${alert['spend_usd']:.2f} of its ${alert['budget_usd']:.2f} budget "
            f"({alert['percent']:.0f}%, past the {alert['threshold']}% alert) "
            f"in {alert['period_label']}."
        )
    return {"text": text, "alert": alert}


async def post(url: str, body: dict[str, Any]) -> int:
    """POST ``body`` to ``url``; its status, or ``Refused`` naming the host and why."""
    await check_resolved(url)
    host = _host(url)
    content = orjson.dumps(body, default=str)
    headers = {"content-type": "application/json", "user-agent": "switchyard-alerts"}
    try:
        response, _ = await http.post_capped(url, content, headers, TIMEOUT, MAX_ANSWER)
    except httpx.TimeoutException:
        raise Refused(f"{host} did not answer in time") from None
    except httpx.HTTPError as exc:
        raise Refused(f"{host}: {type(exc).__name__}") from None
    except Exception as exc:  # an answer too large, a transport fault
        raise Refused(f"{host}: {type(exc).__name__}") from None
    if not 200 <= response.status_code < 300:
        raise Refused(f"{host} answered {response.status_code}")
    return response.status_code
