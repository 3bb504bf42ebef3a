"""A hosted MCP server over HTTPS through ``PinnedTransport``: the connection goes to the
checked address (127.0.0.1) while the Host header and the TLS server name stay the
URL's host name, and the certificate is verified against that name (with the gateway's
verify setting, ``url_fetch.VERIFY``).

A real handshake: a self-signed certificate for a made-up name, made here with
``cryptography``, served by the ``mcp`` SDK's streamable HTTP app under uvicorn with
TLS on 127.0.0.1; the name reaches 127.0.0.1 only through the test's resolver, and the
server accepts only that Host (the SDK's DNS-rebinding check)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gateway.base.types import McpServer
from gateway.core import url_fetch
from gateway.features.mcp.hosted.servers import Connections, ServerFailed, address_refused
from tests.mcp_test_server import running_mcp_server

NAME = "mcp.pinned.test"  # made up: it resolves nowhere but through the test's resolver
OTHER = "other.pinned.test"  # resolves to the same server, which has no certificate for it


def self_signed(folder: Path, name: str) -> tuple[Path, Path]:
    """A certificate for ``name`` only (no IP address in it), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture(scope="module")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path, list[str | None]]]:
    cert, key = self_signed(tmp_path_factory.mktemp("mcp-tls"), NAME)
    names: list[str | None] = []
    with running_mcp_server(tls=(str(cert), str(key)), host_name=NAME, server_names=names) as url:
        yield url, cert, names


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``NAME`` and ``OTHER`` answer 127.0.0.1; every other name as the system says."""
    asked: list[str] = []
    real = asyncio.base_events.BaseEventLoop.getaddrinfo

    async def getaddrinfo(loop, host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host not in (NAME, OTHER):
            return await real(loop, host, port, *args, **kwargs)
        asked.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", int(port)))]

    monkeypatch.setattr(asyncio.base_events.BaseEventLoop, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def trusted(monkeypatch: pytest.MonkeyPatch, tls_server) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(tls_server[1]))
    monkeypatch.setattr(url_fetch, "VERIFY", context)
    return context


def hosted(url: str) -> McpServer:
    return McpServer(label="tools", url=url, approval="never")


async def test_the_handshake_names_the_host_while_connecting_to_the_checked_address(
    tls_server, resolver, trusted
) -> None:
    url, _, names = tls_server
    names.clear()
    async with Connections(timeout=5, allow=NAME) as connections:
        tools = await connections.list_tools(hosted(url))
        assert {"add", "secret_word"} <= {t.name for t in tools}
        result = await connections.call_tool(hosted(url), "add", {"a": 2, "b": 3})
    assert not result.is_error and result.content[0].text == "5"
    assert resolver == [NAME], "resolved once, at the check"
    assert names and set(names) == {NAME}, "every handshake's server name is the host"


async def test_a_certificate_for_another_name_fails(tls_server, resolver, trusted) -> None:
    """The same server, the same trusted certificate, reached as ``OTHER``: its
    certificate names ``NAME`` only, so the handshake fails (the address it connects to
    does not make it pass)."""
    url, _, names = tls_server
    names.clear()
    async with Connections(timeout=5, allow=OTHER) as connections:
        with pytest.raises(ServerFailed) as failed:
            await connections.list_tools(hosted(url.replace(NAME, OTHER)))
    assert "unreachable" in str(failed.value) and OTHER in str(failed.value)
    assert names and set(names) == {OTHER}, "it asked for the name of its URL"


async def test_a_certificate_not_trusted_fails(tls_server, resolver) -> None:
    """Without the test's certificate among the trusted ones (the default verify)."""
    assert url_fetch.VERIFY is True
    async with Connections(timeout=5, allow=NAME) as connections:
        with pytest.raises(ServerFailed, match="unreachable"):
            await connections.list_tools(hosted(tls_server[0]))


def test_the_certificate_has_no_address_in_it(tls_server) -> None:
    """So a handshake that named 127.0.0.1 instead of the host could never pass."""
    cert = x509.load_pem_x509_certificate(tls_server[1].read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [NAME]
    assert ipaddress.ip_address("127.0.0.1") not in names.get_values_for_type(x509.IPAddress)


async def test_a_private_address_is_refused_naming_the_setting_that_allows_it() -> None:
    async with Connections(timeout=5) as connections:
        with pytest.raises(ServerFailed) as failed:
            await connections.list_tools(hosted("http://127.0.0.1:9/mcp"))
    assert str(failed.value) == (
        "MCP server 'tools' (127.0.0.1) is refused: a private, loopback or link-local address "
        "(the gateway's SWITCHYARD_MCP_HOSTED_ALLOW can allow it)"
    )


def test_a_name_that_does_not_resolve_is_said_so() -> None:
    refused = url_fetch.FetchRefused("nowhere.test does not resolve")
    assert address_refused(refused, "MCP server 'tools'") == "MCP server 'tools' does not resolve"
