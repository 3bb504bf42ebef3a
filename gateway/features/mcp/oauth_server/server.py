"""The authorization server, built from Authlib's parts: the authorization code grant
with PKCE (S256 only, required), the refresh token grant with rotation, dynamic client
registration (RFC 7591, public clients) beside Client ID Metadata Documents
(``metadata_documents``), and revocation (RFC 7009), over the tables of
``gateway.models.mcp``. Authlib parses and checks every request; what is ours is
where rows live, the ``resource`` (RFC 8707) and what a replay revokes.

Replays: a code is spent once; presented again, every token issued from it is revoked
(RFC 6749 section 4.1.2). A refresh token is spent by its refresh (rotation); presented
again, the whole family of tokens descending from that consent is revoked (OAuth 2.1).
The token endpoint runs in one transaction rolled back on any error, so a refused
request stores nothing; the revocations a replay causes are made after it."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from authlib.integrations.django_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidGrantError, InvalidRequestError, OAuth2Request
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint, InvalidClientMetadataError
from authlib.oauth2.rfc7636 import CodeChallenge
from django.db import transaction
from django.utils import timezone

from gateway.features.mcp.oauth_server import metadata_documents, resources
from gateway.features.mcp.oauth_server.client_rules import GRANT_TYPES, redirect_uri_problem
from gateway.features.mcp.oauth_server.exchange import TokenExchangeGrant
from gateway.features.mcp.oauth_server.tokens import ACCESS_PREFIX, REFRESH_PREFIX
from gateway.models import ApiKey
from gateway.models.mcp import (
    McpAccessToken,
    McpAuthorizationCode,
    McpOAuthClient,
    token_hash,
)

ACCESS_SECONDS = 3600  # an access token lives an hour
REFRESH_DAYS = 30  # a refresh token a month (each refresh starts a new month)
CODE_SECONDS = 600  # a code ten minutes (RFC 6749's recommended most)
OAUTH_REQUEST = "switchyard_oauth2_request"  # where the Django request keeps Authlib's


class InvalidTargetError(OAuth2Error):  # type: ignore[misc]
    """RFC 8707: the ``resource`` is not this gateway's MCP endpoint."""

    error = "invalid_target"


def _holder(granted: McpAuthorizationCode | McpAccessToken) -> Any:
    """The person a code or token was granted to, while its key stands and they may sign
    in (None otherwise)."""
    if granted.api_key.revoked_at is not None:
        return None
    user = granted.user
    return user if user is not None and user.is_active else None


def _for_resource(request: Any, granted: McpAuthorizationCode | McpAccessToken, what: str) -> None:
    """A token request naming a ``resource`` names the one the code or token is for."""
    asked = request.form.get("resource")
    if asked and asked != granted.resource:
        raise InvalidTargetError(f"this {what} is for {granted.resource}")


# --- PKCE: S256 only, always ----------------------------------------------------------------


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE required of every client, with the S256 method only (plain is refused)."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge' (PKCE is required)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("'code_challenge_method' must be S256")
        super().validate_code_challenge(grant, redirect_uri)


# --- grants ---------------------------------------------------------------------------------


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]

    def save_authorization_code(self, code: str, request: Any) -> None:
        """Called by the consent page's approval, which put the managed key and the
        checked resource on the request."""
        McpAuthorizationCode.objects.create(
            code_hash=token_hash(code),
            client=request.client,
            user=request.user,
            api_key=request.signin_key,
            redirect_uri=request.payload.redirect_uri or request.client.redirect_uris[0],
            scope=request.scope or resources.SCOPE,
            resource=request.resource,
            code_challenge=request.payload.data["code_challenge"],
            code_challenge_method="S256",
            expires_at=timezone.now() + timedelta(seconds=CODE_SECONDS),
        )

    def query_authorization_code(self, code: str, client: Any) -> Any:
        row = (
            McpAuthorizationCode.objects.select_related("user", "api_key")
            .filter(code_hash=token_hash(code), client=client)
            .first()
        )
        if row is None or row.is_expired():
            return None
        if row.used_at is not None:
            self.request.replayed_code = row.pk  # revoked after the refusal (``token``)
            return None
        return row

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _for_resource(self.request, self.request.authorization_code, "code")

    def delete_authorization_code(self, code: McpAuthorizationCode) -> None:
        """Spend the code; a request that spent it a moment before wins (replay)."""
        spent = McpAuthorizationCode.objects.filter(pk=code.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        )
        if not spent:
            self.request.replayed_code = code.pk
            raise InvalidGrantError("Invalid 'code' in request.")

    def authenticate_user(self, code: McpAuthorizationCode) -> Any:
        return _holder(code)


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # rotation: every refresh gets a new refresh token

    def authenticate_refresh_token(self, refresh_token: str) -> Any:
        if not refresh_token.startswith(REFRESH_PREFIX):
            return None
        row = (
            McpAccessToken.objects.select_related("user", "api_key")
            .filter(refresh_hash=token_hash(refresh_token))
            .first()
        )
        if row is None:
            return None
        if row.refresh_used_at is not None:
            self.request.replayed_family = row.family  # revoked after the refusal
            return None
        return row if row.refresh_usable else None

    def validate_token_request(self) -> None:
        super().validate_token_request()
        _for_resource(self.request, self.request.refresh_token, "token")

    def authenticate_user(self, old: McpAccessToken) -> Any:
        return _holder(old)

    def revoke_old_credential(self, old: McpAccessToken) -> None:
        spent = McpAccessToken.objects.filter(pk=old.pk, refresh_used_at__isnull=True).update(
            refresh_used_at=timezone.now()
        )
        if not spent:  # refreshed a moment ago by another request: a replay
            self.request.replayed_family = old.family
            raise InvalidGrantError()


# --- endpoints ------------------------------------------------------------------------------


class Registration(ClientRegistrationEndpoint):  # type: ignore[misc]
    """Open registration of public clients: anyone may register (a registration grants
    nothing: a user still signs in and consents), with redirect URIs we can trust to be
    the client's own, for the code grant and refresh only."""

    def authenticate_token(self, request: Any) -> bool:
        return True

    def get_server_metadata(self) -> dict[str, Any]:
        return resources.authorization_server("")

    def extract_client_metadata(self, request: Any) -> dict[str, Any]:
        data = request.payload.data
        if not isinstance(data, dict):
            raise InvalidClientMetadataError("the body must be a JSON object")
        # a client asking for a secret is registered public all the same (RFC 7591
        # 3.2.1: the server may replace what it asked for; the answer says "none")
        data.pop("token_endpoint_auth_method", None)
        metadata: dict[str, Any] = super().extract_client_metadata(request)
        uris = metadata.get("redirect_uris")
        if not uris or not isinstance(uris, list):
            raise InvalidClientMetadataError("redirect_uris: at least one is required")
        for uri in uris:
            problem = redirect_uri_problem(uri)
            if problem:
                raise InvalidClientMetadataError(problem)
        grants = metadata.get("grant_types") or list(GRANT_TYPES)
        if set(grants) - set(GRANT_TYPES):
            raise InvalidClientMetadataError(f"grant_types: only {', '.join(GRANT_TYPES)}")
        if set(metadata.get("response_types") or ["code"]) != {"code"}:
            raise InvalidClientMetadataError("response_types: only code")
        metadata.update(
            grant_types=grants,
            response_types=["code"],
            token_endpoint_auth_method="none",  # a public client (RFC 7591 3.2.1 lets us say)
            scope=resources.SCOPE,
        )
        return metadata

    def generate_client_info(self, request: Any) -> dict[str, Any]:
        info: dict[str, Any] = super().generate_client_info(request)
        info.pop("client_secret", None)
        info.pop("client_secret_expires_at", None)
        return info

    def save_client(
        self, client_info: dict[str, Any], client_metadata: dict[str, Any], request: Any
    ) -> McpOAuthClient:
        def text(name: str, most: int) -> str:
            value = client_metadata.get(name)
            return str(value)[:most] if value else ""

        client: McpOAuthClient = McpOAuthClient.objects.create(
            client_id=client_info["client_id"],
            client_name=text("client_name", 200),
            client_uri=text("client_uri", 500),
            redirect_uris=list(client_metadata["redirect_uris"]),
            grant_types=list(client_metadata["grant_types"]),
            response_types=["code"],
            scope=resources.SCOPE,
            software_id=text("software_id", 200),
            software_version=text("software_version", 100),
        )
        return client


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: a client revokes its access or refresh token (a refresh token takes
    its family with it); an unknown token is answered 200 as the RFC asks."""

    CLIENT_AUTH_METHODS = ["none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> Any:
        digest = token_hash(token_string)
        if token_string.startswith(ACCESS_PREFIX):
            return McpAccessToken.objects.filter(access_hash=digest).first()
        if token_string.startswith(REFRESH_PREFIX):
            row = McpAccessToken.objects.filter(refresh_hash=digest).first()
            if row is not None:
                row.revoke_family = True
            return row
        return None

    def revoke_token(self, token: McpAccessToken, request: Any) -> None:
        if getattr(token, "revoke_family", False):
            revoke(family=token.family)
        else:
            revoke(pk=token.pk)


def revoke(*, pk: int | None = None, family: str | None = None, code: int | None = None) -> int:
    """Revoke one token, a family, or every token a code led to; the managed keys they
    act through are touched, so every process forgets them (``tokens``). Returns how
    many were revoked."""

    rows = McpAccessToken.objects.filter(revoked_at__isnull=True)
    if pk is not None:
        rows = rows.filter(pk=pk)
    elif family is not None:
        rows = rows.filter(family=family)
    elif code is not None:
        families = McpAccessToken.objects.filter(code_id=code).values("family")
        rows = rows.filter(family__in=families)
    else:
        return 0
    with transaction.atomic():
        keys = list(rows.values_list("api_key_id", flat=True).distinct())
        count: int = rows.update(revoked_at=timezone.now())
        for key in ApiKey.objects.filter(pk__in=keys):
            key.save(update_fields=["updated_at"])  # a registry change: announced
    return count


# --- the server -----------------------------------------------------------------------------


def _access_token(**_: Any) -> str:
    return ACCESS_PREFIX + secrets.token_urlsafe(32)


def _refresh_token(**_: Any) -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(40)


class McpAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(McpOAuthClient, McpAccessToken)
        self.register_grant(CodeGrant, [S256Only(required=True)])
        self.register_grant(RefreshGrant)
        self.register_grant(TokenExchangeGrant)  # RFC 8693: an agent's token, narrowed
        self.register_endpoint(Registration)
        self.register_endpoint(Revocation)
        self.scopes_supported = [resources.SCOPE]

    def create_bearer_token_generator(self) -> BearerTokenGenerator:
        return BearerTokenGenerator(
            access_token_generator=_access_token,
            refresh_token_generator=_refresh_token,
            expires_generator=lambda client, grant_type: ACCESS_SECONDS,
        )

    def create_oauth2_request(self, request: Any) -> Any:
        """Authlib's view of ``request``, kept on it: the token view reads what a grant
        noted (a replay) after the transaction it rolled back."""
        if isinstance(request, OAuth2Request):
            return request
        made = super().create_oauth2_request(request)
        setattr(request, OAUTH_REQUEST, made)
        return made

    def query_client(self, client_id: str) -> McpOAuthClient | None:
        """A registered client, or one known by its metadata document (an https
        ``client_id``: ``metadata_documents``), whose refusal is ``invalid_client``
        naming why."""
        from authlib.oauth2.rfc6749 import InvalidClientError

        if metadata_documents.is_document_id(client_id):
            try:
                return metadata_documents.client(client_id)
            except metadata_documents.DocumentRefused as exc:
                raise InvalidClientError(description=str(exc)) from None
        if not isinstance(client_id, str) or len(client_id) > 64:
            return None
        found: McpOAuthClient | None = McpOAuthClient.objects.filter(client_id=client_id).first()
        return found

    def save_token(self, token: dict[str, Any], request: Any) -> McpAccessToken:
        """The new pair, hashed: from a code (a new family) or a refresh (its family)."""
        now = timezone.now()
        old = getattr(request, "refresh_token", None)
        code = getattr(request, "authorization_code", None)
        source = old if old is not None else code
        if source is None:  # pragma: no cover - Authlib sets one or the other
            raise InvalidGrantError()
        refresh = token.get("refresh_token")
        row: McpAccessToken = McpAccessToken.objects.create(
            access_hash=token_hash(token["access_token"]),
            refresh_hash=token_hash(refresh) if refresh else None,
            client=request.client,
            user=request.user,
            api_key=source.api_key,
            code=code if old is None else old.code,
            family=old.family if old is not None else secrets.token_hex(16),
            scope=token.get("scope") or resources.SCOPE,
            resource=source.resource,
            issued_at=now,
            expires_at=now + timedelta(seconds=int(token.get("expires_in") or ACCESS_SECONDS)),
            refresh_expires_at=now + timedelta(days=REFRESH_DAYS) if refresh else None,
        )
        return row


_server: McpAuthorizationServer | None = None


def server() -> McpAuthorizationServer:
    global _server
    if _server is None:
        _server = McpAuthorizationServer()
    return _server
