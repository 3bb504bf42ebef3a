"""RFC 8693 token exchange at the gateway's token endpoint (``POST /oauth/token``,
``grant_type=urn:ietf:params:oauth:grant-type:token-exchange``): an A2A agent holding the
token the gateway carried to it (``gateway.access.delegation``) asks for one for fewer
surfaces (``audience=models`` or ``mcp``, or ``resource=<this gateway>/mcp[/<server>]``
or ``/v1``), for the same caller's key in the same run, never living longer.

The subject token is the credential: no client is registered or authenticated (RFC 8693
section 2.1 leaves that to the deployment), and nothing is stored. Only access tokens
are exchanged, for access tokens (``requested_token_type`` may say so); an actor token
is refused. Errors are RFC 6749's JSON: ``invalid_request``, ``invalid_grant`` (the
subject token is not ours, expired, or its key revoked), ``invalid_target``."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from authlib.consts import default_json_headers
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError
from authlib.oauth2.rfc6749.grants import BaseGrant, TokenEndpointMixin

from gateway.access import delegation
from gateway.features.mcp.oauth_server import resources

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


class InvalidTarget(OAuth2Error):  # type: ignore[misc]
    """RFC 8693 2.2.2: the audience or resource asked is not one the token may reach."""

    error = "invalid_target"


def _surface(resource: str, base: str) -> str:
    """The surface a ``resource`` URL names on this gateway (``models``, ``mcp``,
    ``mcp:<server>``); InvalidTarget for anything else."""
    parts = urlsplit(resource)
    origin = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme and origin != base:
        raise InvalidTarget(f"{resource} is not on this gateway")
    path = parts.path.rstrip("/") or "/"
    if path == "/v1" or path.startswith("/v1/"):
        return delegation.MODELS
    found = resources.mcp_path(path)
    if found is None:
        raise InvalidTarget(f"{resource} is not this gateway's /v1 or /mcp")
    server = found[len(resources.MCP_PATH) + 1 :]
    return f"{delegation.MCP}:{server}" if server else delegation.MCP


class TokenExchangeGrant(BaseGrant, TokenEndpointMixin):  # type: ignore[misc]
    GRANT_TYPE = GRANT_TYPE

    def validate_token_request(self) -> None:
        payload = self.request.payload
        data = payload.data
        subject = data.get("subject_token")
        if not subject or not isinstance(subject, str):
            raise InvalidRequestError("Missing 'subject_token'")
        if data.get("subject_token_type") != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"'subject_token_type' must be {ACCESS_TOKEN_TYPE}")
        asked_type = data.get("requested_token_type")
        if asked_type and asked_type != ACCESS_TOKEN_TYPE:
            raise InvalidRequestError(f"only {ACCESS_TOKEN_TYPE} is issued")
        if data.get("actor_token"):
            raise InvalidRequestError("actor tokens are not accepted")
        if not delegation.is_agent_token(subject):
            raise InvalidGrantError("the subject token is not an agent token of this gateway")
        listed = payload.datalist
        surfaces = [str(a) for a in listed.get("audience") or () if a]
        uri = urlsplit(self.request.uri)
        base = resources.configured_base() or f"{uri.scheme}://{uri.netloc}"
        surfaces += [_surface(str(r), base) for r in listed.get("resource") or () if r]
        for surface in surfaces:
            if not delegation.known_surface(surface):
                raise InvalidTarget(
                    f"unknown audience {surface!r}: models, mcp, mcp:<server>, a2a or a2a:<agent>"
                )
        self.request.exchange = (subject, surfaces)

    def create_token_response(self) -> tuple[int, dict[str, Any], Any]:
        subject, surfaces = self.request.exchange
        try:
            token, expires_in = delegation.exchange(subject, surfaces, None)
        except delegation.ExchangeRefused as refused:
            if refused.error == "invalid_target":
                raise InvalidTarget(str(refused)) from None
            raise InvalidGrantError(str(refused)) from None
        body = {
            "access_token": token,
            "issued_token_type": ACCESS_TOKEN_TYPE,
            "token_type": "Bearer",
            "expires_in": expires_in,
        }
        return 200, body, default_json_headers
