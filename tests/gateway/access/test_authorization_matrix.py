"""The authorization matrix, generated from the code's own tables: every URL of the URL
conf, every /api operation and every path of the gateway's own ASGI table (the POST
endpoint table, the Gemini methods, model listings, files and batches, /mcp, /metrics),
each tried as an anonymous caller and as a virtual key of another team, with the answer
docs/security.md gives. A new URL or endpoint that this file's tables do not name fails
here until someone writes down who may use it.

(The roles side, each console role on every console URL and /api operation, is
tests/console/test_role_matrix.py, read from the same resolver and schema.)"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from gateway.access import keys, registry
from gateway.base import lifecycle
from gateway.edge import batch_endpoints, dialects, endpoints
from gateway.edge.api import api
from gateway.features.responses import paths as responses_paths
from gateway.models import Provider, Route, Team

# --- the Django URL conf, anonymous ----------------------------------------------------------

# What an anonymous caller gets from each group of URLs; a URL must fall in one group.
PUBLIC_URLS = {  # anyone: signing in, static files, liveness probes
    "console:login",
    "console:logout",
    "console:static",
    "console:sso-start",
    "console:sso-callback",
    "console:invite-accept",  # the one-time link is the credential (unknown: a 404 page)
    "health-liveliness",
    "health-readiness",
    "admin/login/",  # Django admin's sign-in (throttled like the console's)
    "admin:login",
    "admin:logout",
    # the MCP OAuth server's machine endpoints: metadata for anyone; registration, token
    # and revocation authenticate by what they are sent (a code and its PKCE verifier, a
    # refresh token), never a session (tests/gateway/features/mcp/oauth_server)
    "mcp-oauth-resource",
    "mcp-oauth-resource-server",
    "mcp-oauth-metadata",
    "mcp-oauth-register",
    "mcp-oauth-token",
    "mcp-oauth-revoke",
}
MASTER_ONLY_URLS = {"health-deployments"}  # calls every upstream: the master key only


def url_conf() -> list[tuple[str, str]]:
    """(name or route, route string) of every URL pattern, nested includes flattened."""
    found: list[tuple[str, str]] = []

    def walk(patterns: Any, prefix: str, namespace: str) -> None:
        for p in patterns:
            route = prefix + str(p.pattern)
            if isinstance(p, URLResolver):
                walk(p.url_patterns, route, p.namespace or namespace)
            elif isinstance(p, URLPattern):
                name = f"{namespace}:{p.name}" if namespace and p.name else (p.name or route)
                found.append((name, route))

    walk(get_resolver().url_patterns, "", "")
    return found


def concrete(route: str) -> str:
    """A URL for a route string: every converter given a plausible value."""
    path = re.sub(r"<(?:(\w+):)?(\w+)>", lambda m: "1" if m.group(1) == "int" else "x1", route)
    path = re.sub(r"\{(\w+)\}", "1", path)
    return "/" + path.lstrip("^").rstrip("$")


def group(name: str, route: str) -> str:
    if name in PUBLIC_URLS:
        return "public"
    if name in MASTER_ONLY_URLS:
        return "master"
    if route.startswith("admin/"):
        return "admin"
    if route.lstrip("^").startswith("api/"):  # "^api/": every other /api path, a JSON 404
        return "api"
    if name.startswith("console:"):
        return "console"
    return "unknown"


def test_every_url_has_a_rule() -> None:
    unknown = [(n, r) for n, r in url_conf() if group(n, r) == "unknown"]
    assert unknown == [], "URLs without a rule in this matrix (and docs/security.md)"


@pytest.mark.django_db
def test_anonymous_callers_get_nothing_but_the_public_urls() -> None:
    failures = []
    client = Client()
    for name, route in url_conf():
        kind = group(name, route)
        if kind == "public":
            continue
        url = concrete(route)
        for method in ("get", "post"):
            answer = getattr(client, method)(url)
            status = answer.status_code
            where = answer.headers.get("Location", "")
            if kind == "console":
                ok = status == 302 and where.startswith("/login/")
            elif kind == "admin":
                ok = status in (302, 404) and (status == 404 or "/admin/login/" in where)
            elif kind == "api":
                # an unknown /api path is a 404 to anyone; every operation wants a caller
                ok = status in (401, 404, 405) or (status == 302 and "/login/" in where)
            else:  # master
                ok = status in (401, 405)
            if not ok:
                failures.append(f"anonymous {method.upper()} {url} ({name}): {status} {where}")
    assert failures == [], "\n".join(failures)


def api_operations() -> list[tuple[str, str]]:
    schema = api.get_openapi_schema()
    return [(m, p) for p, ops in schema["paths"].items() for m in ops]


# /api operations a plain virtual key may call (rule score.write: an application's users'
# feedback on its own requests); on a request that is not its own: the 404 of an unknown id
KEY_OPERATIONS = {
    ("post", "/api/logs/{request_id}/scores"),
    ("get", "/api/logs/{request_id}/scores"),
}


@pytest.mark.django_db
def test_every_api_operation_refuses_anonymous_callers_and_plain_virtual_keys(
    snapshot_reset: None,
) -> None:
    """/api takes a console session, the master key or an owner's/admin's management key:
    a virtual key of any team, without the management scope, is no caller there (but for
    ``KEY_OPERATIONS``, where it finds nothing of another key's)."""
    plain = keys.create_key(name="team-key", team=Team.objects.create(name="other")).raw
    registry.rebuild()  # the key as /v1 (and KEY_OPERATIONS) read it
    failures = []
    for method, template in api_operations():
        url = re.sub(r"\{(\w+)\}", "1", template)
        for who, headers in (
            ("anonymous", {}),
            ("team key", {"HTTP_AUTHORIZATION": f"Bearer {plain}"}),
        ):
            call = getattr(Client(), method)
            answer = (
                call(url, **headers)
                if method == "get"
                else call(url, data="{}", content_type="application/json", **headers)
            )
            expected = 404 if who == "team key" and (method, template) in KEY_OPERATIONS else 401
            if answer.status_code != expected:
                failures.append(f"{who} {method.upper()} {url}: {answer.status_code}")
    assert failures == [], "\n".join(failures)


# --- the gateway's own ASGI table, anonymous and a key of another team ------------------------

ROUTE = "beta-only"  # limited to team beta; the callers below are alpha's and beta's keys


def json_body(**fields: Any) -> Callable[[str], tuple[bytes, bytes]]:
    def build(model: str) -> tuple[bytes, bytes]:
        return b"application/json", orjson.dumps({"model": model, **fields})

    return build


def multipart(
    filename: str, content: bytes, part: str = "file", **fields: str
) -> Callable[[str], tuple[bytes, bytes]]:
    def build(model: str) -> tuple[bytes, bytes]:
        boundary = "matrixboundary"
        parts = []
        for name, value in {"model": model, **fields}.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            )
        body = "".join(parts).encode()
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{part}"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        body += content + f"\r\n--{boundary}--\r\n".encode()
        return f"multipart/form-data; boundary={boundary}".encode(), body

    return build


MESSAGES = [{"role": "user", "content": "hello"}]
# A minimal valid body for each endpoint of the POST table (a new endpoint needs one).
BODIES: dict[tuple[str, str], Callable[[str], tuple[bytes, bytes]]] = {
    ("chat", "openai"): json_body(messages=MESSAGES),
    ("chat", "responses"): json_body(input="hello"),
    ("compact", "responses"): json_body(input="hello"),
    ("input_tokens", "responses"): json_body(input="hello"),
    ("chat", "anthropic"): json_body(messages=MESSAGES, max_tokens=16),
    ("count_tokens", "anthropic"): json_body(messages=MESSAGES),
    ("embeddings", "openai"): json_body(input="hello"),
    ("completions", "openai"): json_body(prompt="hello"),
    ("rerank", "openai"): json_body(query="q", documents=["a", "b"]),
    ("realtime_client_secret", "openai"): lambda model: (
        b"application/json",
        orjson.dumps({"session": {"type": "realtime", "model": model}}),
    ),
    ("image_generation", "openai"): json_body(prompt="a cat"),
    ("image_edit", "openai"): multipart("cat.png", b"\x89PNG\r\n\x1a\n", "image", prompt="hat"),
    ("transcription", "openai"): multipart("a.wav", b"RIFF0000WAVE"),
    ("translation", "openai"): multipart("a.wav", b"RIFF0000WAVE"),
    ("speech", "openai"): json_body(input="hello", voice="alloy"),
    ("chat", "gemini_interactions"): json_body(input="hello"),
}


@pytest.fixture
def two_teams(
    transactional_db: None, snapshot_reset: None, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """Team alpha's and team beta's keys, and the echo route ``beta-only`` limited to
    beta, installed in the snapshot."""

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    echo = Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    route = Route.objects.create(name=ROUTE)
    route.deployments.create(provider=echo, model="echo")
    route.teams.set([beta])
    raw = {
        "alpha": keys.create_key(name="alpha-key", team=alpha).raw,
        "beta": keys.create_key(name="beta-key", team=beta).raw,
    }
    registry.rebuild()
    return raw


async def call(
    path: str, token: str | None, body: bytes = b"", content_type: bytes = b"", method: str = "POST"
) -> tuple[int, Any]:
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    sent: list[dict[str, Any]] = []
    chunks = [body]

    async def receive() -> dict[str, Any]:
        if chunks:
            return {"type": "http.request", "body": chunks.pop(), "more_body": False}
        await asyncio.Event().wait()  # the client stays until the answer is sent
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"host", b"127.0.0.1")]  # what every HTTP/1.1 client sends (/mcp checks it)
    if content_type:
        headers.append((b"content-type", content_type))
    if token is not None:
        name = b"x-goog-api-key" if ":" in path.rsplit("/", 1)[-1] else b"authorization"
        value = token if name == b"x-goog-api-key" else f"Bearer {token}"
        headers.append((name, value.encode()))
    headers.append((b"content-length", str(len(body)).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "query_string": b"",
    }
    await app(scope, receive, send)
    status = sent[0]["status"]
    payload = b"".join(m.get("body", b"") for m in sent[1:])
    try:
        return status, orjson.loads(payload)
    except orjson.JSONDecodeError:
        return status, payload


def error_type(dialect: str, body: Any) -> str:
    if dialect == "gemini":
        return str(body["error"]["status"])
    if dialect == dialects.INTERACTIONS:  # Google's string codes
        return str(body["error"]["code"]).upper()
    return str(body["error"]["type"])


def post_table() -> list[tuple[str, str, str]]:
    """(path, endpoint, dialect) of every POST endpoint, Gemini's methods included."""
    rows = [(p, e, d) for p, (e, d) in dialects.POST_ROUTES.items()]
    for method, (endpoint, _stream) in dialects.GEMINI_METHODS.items():
        for prefix in endpoints.GEMINI_MODELS:
            rows.append((f"{prefix}/{{model}}:{method}", endpoint, dialects.GEMINI))
    return rows


def test_every_post_endpoint_has_a_body_in_the_matrix() -> None:
    missing = {(e, d) for _, e, d in post_table() if d != dialects.GEMINI} - set(BODIES)
    assert missing == set(), "endpoints without a row in this matrix"


async def test_every_post_endpoint_refuses_anonymous_callers_and_other_teams(
    two_teams: dict[str, str],
) -> None:
    failures = []
    for template, endpoint, dialect in post_table():
        path = template.replace("{model}", ROUTE)
        if dialect == dialects.GEMINI:
            kind, body = (
                b"application/json",
                orjson.dumps({"contents": [{"parts": [{"text": "hi"}]}]}),
            )
        else:
            kind, body = BODIES[(endpoint, dialect)](ROUTE)
        status, _ = await call(path, None, body, kind)
        if status != 401:
            failures.append(f"anonymous POST {path}: {status}")
        status, answer = await call(path, two_teams["alpha"], body, kind)
        if status != 403:
            failures.append(f"other team's key POST {path}: {status} {answer!r:.200}")
        elif error_type(dialect, answer) not in ("permission_error", "PERMISSION_DENIED"):
            failures.append(f"other team's key POST {path}: 403 as {answer!r:.200}")
        status, answer = await call(path, two_teams["beta"], body, kind)
        if status in (401, 403) or status >= 500:
            failures.append(f"own team's key POST {path}: {status} {answer!r:.200}")
    assert failures == [], "\n".join(failures)


async def test_model_listings_show_another_teams_route_to_nobody_else(
    two_teams: dict[str, str],
) -> None:
    for prefix in endpoints.MODEL_PATHS:
        status, _ = await call(prefix, None, method="GET")
        assert status == 401, prefix
        status, listed = await call(prefix, two_teams["alpha"], method="GET")
        assert status == 200 and ROUTE not in {m["id"] for m in listed["data"]}, prefix
        status, listed = await call(prefix, two_teams["beta"], method="GET")
        assert status == 200 and ROUTE in {m["id"] for m in listed["data"]}, prefix
        status, _ = await call(f"{prefix}/{ROUTE}", two_teams["alpha"], method="GET")
        assert status == 404, prefix


async def test_files_batches_stored_responses_and_mcp_want_a_key(two_teams: dict[str, str]) -> None:
    paths = [f"{p}/v1/files" for p in batch_endpoints.PREFIXES]
    paths += [f"{p}/v1/batches" for p in batch_endpoints.PREFIXES]
    paths += ["/v1/messages/batches", "/anthropic/v1/messages/batches"]
    paths += [f"{p}/resp_1" for p in responses_paths.RESPONSES_PATHS]
    paths += [f"{p}/int_1" for p in dialects.INTERACTIONS_PATHS]
    for path in paths:
        status, _ = await call(path, None, method="GET")
        assert status == 401, path
    for path in dialects.INTERACTIONS_PATHS:  # a stored interaction: its key's alone
        for method, where in (("DELETE", "/int_1"), ("POST", "/int_1/cancel")):
            status, _ = await call(path + where, None, method=method)
            assert status == 401, (method, path + where)
            status, answer = await call(path + where, two_teams["alpha"], method=method)
            assert status == 404 and answer["error"]["code"] == "not_found", (method, path)
    status, _ = await call(
        "/mcp",
        None,
        orjson.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}),
        b"application/json",
    )
    assert status == 401


# One request to each endpoint that generates nothing (``endpoints.RESOURCES``, from
# ``gateway.base``), tried as its declared admission says: without a key it is refused
# (a signed link: the 404 of a missing link); a key is served (the control).
MCP_INITIALIZE = orjson.dumps(
    {"jsonrpc": "2.0", "id": 1, "method": "initialize",
     "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "matrix", "version": "1"}}}
)  # fmt: skip
RESOURCE_SAMPLES: dict[str, tuple[str, str, bytes]] = {
    "models": ("GET", "/v1/models", b""),
    "stored_responses": ("GET", "/v1/responses/resp_unknown", b""),
    "stored_interactions": ("GET", "/v1beta/interactions/int_unknown", b""),
    "conversations": ("POST", "/v1/conversations", b"{}"),
    "files": ("GET", "/v1/files", b""),
    "batches": ("GET", "/v1/batches", b""),
    "file_link": ("GET", "/v1/images/files/file_unknown", b""),
    "mcp": ("POST", "/mcp", MCP_INITIALIZE),
    "a2a": ("GET", "/a2a/any/.well-known/agent-card.json", b""),
}


async def test_every_endpoint_that_generates_nothing_is_admitted_as_declared(
    two_teams: dict[str, str],
) -> None:
    from asgiref.sync import sync_to_async

    from gateway.base import endpoints as declared

    assert set(RESOURCE_SAMPLES) == set(declared.RESOURCES), "a declaration without a sample"
    team = await sync_to_async(Team.objects.get)(name="beta")
    rated = {  # a key of rpm 1 for each (the rpm is the key's, whatever it calls)
        name: (
            await sync_to_async(keys.create_key)(name=f"rated-{name}", team=team, rpm_limit=1)
        ).raw
        for name, resource in declared.RESOURCES.items()
        if resource.admission == declared.KEY_RATE
    }
    await sync_to_async(registry.rebuild)()
    failures = []
    for name, resource in declared.RESOURCES.items():
        method, path, body = RESOURCE_SAMPLES[name]
        kind = b"application/json" if body else b""
        status, answer = await call(path, None, body, kind, method)
        wanted = 404 if resource.admission == declared.SIGNED_LINK else 401
        if status != wanted:
            failures.append(f"anonymous {method} {path}: {status} {answer!r:.200}")
        if resource.admission == declared.SIGNED_LINK:
            continue  # a key does not open a link (its own test, below)
        status, answer = await call(path, two_teams["beta"], body, kind, method)
        if status in (401, 403) or status >= 500:
            failures.append(f"a key's {method} {path}: {status} {answer!r:.200}")
        if resource.admission == declared.KEY_RATE:  # the key's rpm counts each call
            first, _ = await call(path, rated[name], body, kind, method)
            second, answer = await call(path, rated[name], body, kind, method)
            if (first, second) != (200, 429):
                failures.append(f"rpm 1, {method} {path} twice: {first}, {second}")
    assert failures == [], "\n".join(failures)


async def test_files_and_batches_are_their_keys_own(two_teams: dict[str, str]) -> None:
    """``/v1/files``, ``/v1/batches`` and ``/v1/messages/batches``: another key gets the
    404 an unknown id gets on every operation on one (nothing read, cancelled or
    deleted); the owner's key is served."""
    from datetime import timedelta

    from django.utils import timezone

    from gateway.models.batches import Batch

    upload = (
        b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
        b"Content-Type: application/jsonl\r\n\r\n{}\r\n--b--\r\n"
    )
    status, made = await call(
        "/v1/files", two_teams["beta"], upload, b"multipart/form-data; boundary=b"
    )
    assert status == 200, made
    file_id = made["id"]
    beta = registry.current().key(two_teams["beta"])
    assert beta is not None
    for batch_id, kind in (("batch_matrix", "openai"), ("msgbatch_matrix", "anthropic")):
        await asyncio.to_thread(
            Batch.objects.create, id=batch_id, api=kind, key_id=beta.id, status="in_progress",
            endpoint="/v1/chat/completions" if kind == "openai" else "/v1/messages",
            input_file_id=file_id, expires_at=timezone.now() + timedelta(days=1),
        )  # fmt: skip
    operations = []
    for prefix in batch_endpoints.PREFIXES:
        operations += [("GET", f"{prefix}/v1/files/{file_id}"),
                       ("GET", f"{prefix}/v1/files/{file_id}/content"),
                       ("DELETE", f"{prefix}/v1/files/{file_id}"),
                       ("GET", f"{prefix}/v1/batches/batch_matrix"),
                       ("POST", f"{prefix}/v1/batches/batch_matrix/cancel"),
                       ("GET", f"{prefix}/v1/messages/batches/msgbatch_matrix"),
                       ("GET", f"{prefix}/v1/messages/batches/msgbatch_matrix/results"),
                       ("POST", f"{prefix}/v1/messages/batches/msgbatch_matrix/cancel"),
                       ("DELETE", f"{prefix}/v1/messages/batches/msgbatch_matrix")]  # fmt: skip
    failures = []
    for method, path in operations:
        status, answer = await call(path, two_teams["alpha"], b"", b"", method)
        if status != 404:
            failures.append(f"other key {method} {path}: {status} {answer!r:.200}")
    assert failures == [], "\n".join(failures)
    for _, path in (("GET", f"/v1/files/{file_id}"), ("GET", "/v1/batches/batch_matrix")):
        status, answer = await call(path, two_teams["beta"], method="GET")
        assert status == 200, (path, answer)  # still there, and the owner's
    status, answer = await call(
        "/v1/messages/batches/msgbatch_matrix", two_teams["beta"], method="GET"
    )
    assert status == 200 and answer["processing_status"] == "in_progress", answer
    status, content = await call(f"/v1/files/{file_id}/content", two_teams["beta"], method="GET")
    assert (status, content) == (200, {})  # the file's bytes: ``{}``


def conversation_paths(conversation: str, item: str) -> list[tuple[str, str]]:
    """(method, path) of every operation of the Conversations API, under each prefix."""
    rows = []
    for base in responses_paths.CONVERSATIONS_PATHS:
        one = f"{base}/{conversation}"
        rows += [("POST", base), ("GET", one), ("POST", one), ("DELETE", one)]
        rows += [("GET", f"{one}/items"), ("POST", f"{one}/items")]
        rows += [("GET", f"{one}/items/{item}"), ("DELETE", f"{one}/items/{item}")]
    return rows


async def test_conversations_and_background_responses_are_their_keys_own(
    two_teams: dict[str, str],
) -> None:
    """``conversation.use`` and ``response.use``: anonymous callers get a 401 on every
    operation; another key gets the 404 an unknown id gets (nothing read, changed or
    cancelled); the owner's key is served."""
    from gateway.models import BackgroundResponse, Conversation, ConversationItem

    beta = registry.current().key(two_teams["beta"])
    assert beta is not None
    conv = await asyncio.to_thread(
        Conversation.objects.create, id="conv_matrix", key_id=beta.id, metadata={"a": "b"}
    )
    item = {"id": "msg_matrix", "type": "message", "role": "user", "content": []}
    await asyncio.to_thread(
        ConversationItem.objects.create, conversation=conv, item_id="msg_matrix", item=item
    )
    await asyncio.to_thread(
        BackgroundResponse.objects.create,
        id="resp_matrix",
        key_id=beta.id,
        body={},
        response={"id": "resp_matrix", "status": "queued"},
        status="queued",
    )
    body = orjson.dumps({"metadata": {"x": "y"}, "items": [{"role": "user", "content": "hi"}]})
    rows = conversation_paths("conv_matrix", "msg_matrix")
    responses = [
        (method, f"{p}/resp_matrix{tail}")
        for p in responses_paths.RESPONSES_PATHS
        for method, tail in (("GET", ""), ("POST", "/cancel"), ("DELETE", ""))
    ]
    failures = []
    for method, path in rows + responses:
        status, _ = await call(path, None, body, b"application/json", method=method)
        if status != 401:
            failures.append(f"anonymous {method} {path}: {status}")
        if path.endswith(tuple(responses_paths.CONVERSATIONS_PATHS)):
            continue  # creating one is anybody's: it is then theirs
        status, answer = await call(path, two_teams["alpha"], body, b"application/json", method)
        if status != 404:
            failures.append(f"other key {method} {path}: {status} {answer!r:.200}")
    assert failures == [], "\n".join(failures)
    row = await asyncio.to_thread(BackgroundResponse.objects.get, id="resp_matrix")
    assert row.status == "queued"  # the other key's cancel changed nothing
    kept = await asyncio.to_thread(Conversation.objects.get, id="conv_matrix")
    assert kept.metadata == {"a": "b"}
    status, answer = await call(
        "/v1/conversations/conv_matrix/items", two_teams["beta"], method="GET"
    )
    assert status == 200 and [i["id"] for i in answer["data"]] == ["msg_matrix"]
    status, answer = await call("/v1/responses/resp_matrix/cancel", two_teams["beta"])
    assert status == 200 and answer["status"] == "cancelled"


# Who may use each row of the gateway's own ASGI route table (``endpoints.routes()``: the
# edge's rows and the features'): a
# rule of ``gateway.access.authorization`` or, in words, what the key check is. A new
# row fails here until someone writes down who may use it.
GATEWAY_ROUTES = {
    "POST endpoint": "route.call",
    "POST Gemini method": "route.call",
    "GET Gemini models": "route.call",
    "GET models": "route.call",
    "stored response": "response.use",
    "stored interaction": "interaction.use",
    "conversations": "conversation.use",
    "files and batches": "a key, its own files and batches only",
    "GET signed file link": "file.link.read",
    "MCP": "mcp.server.use",
    "A2A agents": "a2a.agent.call",
    "passthrough": "route.call",  # on a route with a deployment on the provider reached
    "GET metrics": "operator setting (SWITCHYARD_METRICS_*)",
    "GET health probe": "anyone, no key: alive / ready, as the Django probes (PUBLIC_URLS)",
}


def test_every_gateway_route_has_a_rule() -> None:
    from gateway.access import authorization

    names = [route.name for route in endpoints.routes()]
    assert set(names) - set(GATEWAY_ROUTES) == set(), "gateway routes without a rule here"
    assert set(GATEWAY_ROUTES) - set(names) == set(), "rows naming no gateway route"
    named = {rule for rule in GATEWAY_ROUTES.values() if "." in rule and " " not in rule}
    assert named - set(authorization.RULES) == set(), "rules nobody registered"


async def test_a_signed_file_link_is_its_own_credential_and_its_keys_alone(
    two_teams: dict[str, str],
) -> None:
    """``GET /v1/images/files/{id}``: no API key, the signed link is the credential; a
    missing, forged, expired or re-pointed link, and one whose key was revoked, is a 404."""
    from asgiref.sync import sync_to_async

    from gateway.access.keys import revoke_key
    from gateway.features.batches.files import links
    from gateway.models import ApiKey

    beta = next(k for k in registry.current().keys.values() if k.name == "beta-key")
    alpha = next(k for k in registry.current().keys.values() if k.name == "alpha-key")
    url = await sync_to_async(links.keep)(beta, "image/png", b"\x89PNG-beta", "http://gw")
    other = await sync_to_async(links.keep)(alpha, "image/png", b"\x89PNG-alpha", "http://gw")
    path, _, query = url.removeprefix("http://gw").partition("?")

    async def get(path: str, query: str, token: str | None = None) -> tuple[int, Any]:
        app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
        scope = {"type": "http", "method": "GET", "path": path, "headers": headers,
                 "query_string": query.encode()}  # fmt: skip
        await app(scope, receive, send)
        return sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])

    assert await get(path, query) == (200, b"\x89PNG-beta")
    params = dict(p.split("=", 1) for p in query.split("&"))
    other_id = other.split("?")[0].rsplit("/", 1)[-1]
    refused = [
        (path, ""),  # no link at all: a key does not open it either
        (path, query.replace(params["signature"], "0" * 64)),
        (path, query.replace(f"expires={params['expires']}", "expires=1")),
        (path, query.replace(f"key={params['key']}", f"key={alpha.id}")),
        (f"/v1/images/files/{other_id}", query),  # beta's link, alpha's file
    ]
    for where, asked in refused:
        status, _ = await get(where, asked, two_teams["beta"])
        assert status == 404, (where, asked)
    await sync_to_async(lambda: revoke_key(ApiKey.objects.get(name="beta-key")))()
    await sync_to_async(registry.rebuild)()
    assert (await get(path, query))[0] == 404  # the key went: so did its links


def test_every_rule_has_its_row_in_docs_security() -> None:
    """docs/security.md is the model's table: each registered action is named there."""
    from pathlib import Path

    from gateway.access import authorization

    text = (Path(__file__).resolve().parents[3] / "docs" / "security.md").read_text()
    rows = set(re.findall(r"\| `([\w.]+)` \|\s*$", text, flags=re.M))
    assert set(authorization.RULES) - rows == set(), "rules without a row in docs/security.md"
    assert rows - set(authorization.RULES) == set(), "rows naming no registered rule"
