"""Fetching a caller's image or document URL for an upstream that takes bytes only,
without letting the gateway be aimed at its own network.

Every hop of a fetch (redirects are followed by hand, at most ``MAX_HOPS``) is checked:
``http``/``https`` only; the host resolved once and every address it resolves to must be
public (not private, loopback, link-local, multicast, reserved, unspecified, CGNAT, the
cloud metadata address, nor an IPv6 form of those, IPv4-mapped included) unless the host
or the address is listed in ``SWITCHYARD_URL_FETCH_ALLOW`` (comma-separated host names
or CIDRs); the connection then goes to the checked address itself (the URL rewritten to
it, the Host header and TLS server name kept), so a DNS answer that changes between
check and connect (rebinding) cannot redirect it. The body is read up to
``SWITCHYARD_URL_FETCH_MAX_BYTES`` and the whole fetch bounded by
``SWITCHYARD_URL_FETCH_TIMEOUT``; the content type must be one the caller allows.

A refused or failed fetch raises ``FetchRefused`` whose message names only the URL's
host (a query string may hold a token).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass

import httpx
from django.conf import settings

MAX_HOPS = 5
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
DEFAULT_TIMEOUT = 10.0

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_clients: dict[int, httpx.AsyncClient] = {}
# Certificate verification of https fetches (an ``ssl.SSLContext`` in tests), always
# against the URL's host name although the connection goes to an address.
VERIFY: ssl.SSLContext | bool = True
# The well-known NAT64 prefix: its addresses carry an IPv4 address in their last 32 bits.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class FetchRefused(Exception):
    """A URL the gateway will not or could not fetch; ``str()`` names the host only."""


@dataclass(slots=True, frozen=True)
class Fetched:
    data: bytes
    content_type: str  # lower-cased, parameters removed


@dataclass(slots=True, frozen=True)
class Allowlist:
    hosts: frozenset[str]
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        hosts, networks = set(), []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(frozenset(hosts), tuple(networks))

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.networks)


def _allowlist() -> Allowlist:
    raw = getattr(settings, "SWITCHYARD_URL_FETCH_ALLOW", "")
    entries = raw.split(",") if isinstance(raw, str) else list(raw)
    return Allowlist.parse(entries)


def is_public(address: IPAddress) -> bool:
    """Whether ``address`` is on the public internet (an IPv4-mapped IPv6 address is
    judged as the IPv4 address it carries)."""
    if isinstance(address, ipaddress.IPv6Address):
        carried = address.ipv4_mapped or address.sixtofour
        if carried is None and address.teredo is not None:
            carried = address.teredo[1]
        if carried is None and address in _NAT64:
            carried = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if carried is not None:
            address = carried
    return address.is_global and not (
        address.is_multicast or address.is_reserved or address.is_unspecified
    )


def host_of(url: str) -> str:
    """The host a message may name (never the path or query)."""
    try:
        return httpx.URL(url).host or "the URL"
    except (httpx.InvalidURL, TypeError, ValueError):
        return "the URL"


async def checked_addresses(url: httpx.URL, allow: Allowlist) -> list[IPAddress]:
    """The addresses to connect to for ``url``: resolved once, every answer checked.
    Connect to them only (``send_pinned`` here, hosted MCP's ``PinnedTransport``):
    resolving the name again would undo the check."""
    host = url.host
    if not host:
        raise FetchRefused("the URL has no host")
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [literal]
    else:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise FetchRefused(f"{host} does not resolve") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not addresses:
            raise FetchRefused(f"{host} does not resolve")
    if allow.allows_host(host):
        return addresses
    for address in addresses:
        if not is_public(address) and not allow.allows_address(address):
            raise FetchRefused(
                f"{host} is a private, loopback or link-local address; list it in "
                "SWITCHYARD_URL_FETCH_ALLOW to allow it"
            )
    return list(dict.fromkeys(addresses))


def _client() -> httpx.AsyncClient:
    """One client per event loop, its own (no proxies from the environment: a proxy
    would resolve the host itself, after the check)."""
    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            verify=VERIFY,
            trust_env=False,
            follow_redirects=False,
            limits=httpx.Limits(max_connections=50, max_keepalive_connections=0),
        )
        _clients[loop_id] = client
    return client


async def fetch(
    url: str,
    accept: frozenset[str],
    *,
    trusted_hosts: Iterable[str] = (),
    max_bytes: int | None = None,
) -> Fetched:
    """The body and content type at ``url``, the content type one of ``accept``.
    ``trusted_hosts``: host names the operator configured themselves (an identity
    provider's issuer), allowed wherever they resolve; a redirect elsewhere is checked.
    ``max_bytes``: a smaller cap than ``SWITCHYARD_URL_FETCH_MAX_BYTES`` (a document
    known to be small)."""
    allow = _allowlist()
    if trusted_hosts:
        extra = {h.lower().rstrip(".") for h in trusted_hosts}
        allow = Allowlist(allow.hosts | extra, allow.networks)
    limit = int(getattr(settings, "SWITCHYARD_URL_FETCH_MAX_BYTES", DEFAULT_MAX_BYTES))
    if max_bytes is not None:
        limit = min(limit, max_bytes)
    timeout = float(getattr(settings, "SWITCHYARD_URL_FETCH_TIMEOUT", DEFAULT_TIMEOUT))
    try:
        async with asyncio.timeout(timeout):
            return await _fetch(url, accept, allow, limit)
    except TimeoutError:
        raise FetchRefused(f"{host_of(url)} did not answer within {timeout:g} s") from None


async def send_pinned(
    method: str,
    url: httpx.URL,
    addresses: list[IPAddress],
    headers: dict[str, str],
    content: bytes | None = None,
) -> httpx.Response:
    """The streamed response of ``method url`` from the first of the checked
    ``addresses`` that takes the connection (``checked_addresses``), never from what the
    name resolves to now: the URL's host is replaced by the address, the Host header and
    the TLS server name stay the URL's. No redirect is followed, no proxy used; bound it
    with ``asyncio.timeout``. Close the response; ``FetchRefused`` naming the host when
    no address answers."""
    host = url.host
    headers = {**headers, "Host": url.netloc.decode("ascii")}
    extensions = {"sni_hostname": host} if url.scheme == "https" else {}
    failure: Exception | None = None
    for address in addresses:
        target = url.copy_with(host=str(address))
        request = _client().build_request(
            method,
            target,
            headers=headers,
            content=content,
            extensions=extensions,
        )
        try:
            return await _client().send(request, stream=True)
        except httpx.ConnectError as exc:  # the next address may answer (IPv6 vs IPv4)
            failure = exc
        except httpx.HTTPError as exc:
            failure = exc
            break
    name = type(failure).__name__ if failure else "no address"
    raise FetchRefused(f"{host} could not be reached ({name})")


async def _connect(
    url: httpx.URL, addresses: list[IPAddress], accept: frozenset[str]
) -> httpx.Response:
    """The response headers of ``url`` from the checked ``addresses``."""
    return await send_pinned("GET", url, addresses, {"Accept": ", ".join(sorted(accept))})


async def _fetch(url: str, accept: frozenset[str], allow: Allowlist, limit: int) -> Fetched:
    try:
        current = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise FetchRefused("the URL is not valid") from None
    for _hop in range(MAX_HOPS + 1):
        host = current.host
        if current.scheme not in ("http", "https"):
            raise FetchRefused(f"{host or 'the URL'} is not an http or https URL")
        response = await _connect(current, await checked_addresses(current, allow), accept)
        try:
            if response.is_redirect:
                location = response.headers.get("location")
                if not location:
                    raise FetchRefused(f"{host} redirected nowhere")
                current = current.join(location)
                continue
            if response.status_code != 200:
                raise FetchRefused(f"{host} answered {response.status_code}")
            kind = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            if kind not in accept:
                raise FetchRefused(f"{host} sent {kind or 'no content type'}, not one of "
                                   f"{', '.join(sorted(accept))}")  # fmt: skip
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > limit:
                raise FetchRefused(f"{host} sent more than {limit} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise FetchRefused(f"{host} sent more than {limit} bytes")
            return Fetched(bytes(body), kind)
        except httpx.HTTPError as exc:
            raise FetchRefused(f"{host} failed mid-answer ({type(exc).__name__})") from None
        finally:
            await response.aclose()
    raise FetchRefused(f"{host_of(url)} redirected more than {MAX_HOPS} times")
