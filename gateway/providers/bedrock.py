"""AWS Bedrock through the Converse API: HTTP and auth only (the wire format is
``gateway.codecs.bedrock``; botocore plumbing is in ``aws``).

Where: ``{endpoint}/model/{modelId}/converse`` (``/converse-stream`` for streams), the
endpoint being the deployment's ``aws_bedrock_runtime_endpoint``, the provider's
``base_url``, or ``https://bedrock-runtime.{region}.amazonaws.com``. The model id (ARNs,
inference profiles, ``:0`` versions) is percent-encoded into one path segment and the
request is signed over exactly the bytes and path sent.

Every setting below is read from the deployment's params, then from the provider's
``settings`` (``aws_region_name``, ``aws_access_key_id``, ``aws_profile_name``).

Auth: SigV4 for service ``bedrock``. Credentials, in order: the deployment's
``aws_access_key_id`` with ``aws_secret_access_key`` (or the provider's secret) and an
optional ``aws_session_token``; a named ``aws_profile_name``; botocore's default chain
(environment, shared files, container or instance role). Region: ``aws_region_name``,
then ``AWS_REGION``/``AWS_DEFAULT_REGION``, then the profile's. Every value may be
``os.environ/NAME``. Profiles and the default chain are resolved once per process (in a
thread: they read files or call the metadata service) and refreshed by botocore when
temporary. Missing or unusable credentials are a ``ConfigurationError``, raised before
any connection: routing moves on at once and never retries.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
from collections.abc import AsyncIterator, Callable
from types import ModuleType
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from gateway.base import errors, lazy_import
from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import MissingSecret
from gateway.base.owned_bytes import fitted
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.base.types import ChatRequest
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.anthropic import versions
from gateway.codecs.base import Target, WireEvent
from gateway.codecs.bedrock import codec as converse
from gateway.codecs.bedrock.maps import DOCUMENT_FORMATS
from gateway.providers import ambient, wire
from gateway.providers.base import ApiCall, Exchange
from gateway.providers.codec_provider import (
    DEFRAMERS,
    CodecProvider,
    one_at_a_time,
    refused_params,
    target_of,
)
from gateway.providers.kinds import (
    BATCH_SETTINGS,
    PASSTHROUGH_SETTINGS,
    FormHelp,
    Keyless,
    Setting,
    positive_integer,
)

# Deployment params that steer this provider; never sent upstream as model parameters.
CONTROL_PARAMS = frozenset(
    {
        "aws_access_key_id",
        "aws_secret_access_key",
        "aws_session_token",
        "aws_region_name",
        "aws_profile_name",
        "aws_bedrock_runtime_endpoint",
        "aws_role_name",
        "aws_session_name",
        "aws_web_identity_token",
        "aws_sts_endpoint",
        "aws_external_id",
        versions.PARAM,  # the Anthropic API version a Claude model is held to
    }
)
UNSUPPORTED_PARAMS = ("aws_role_name", "aws_web_identity_token")
# botocore's endpoint data: bedrock-runtime.REGION.amazonaws.com (and -fips, .com.cn in
# China), the agent runtime (rerank), and interface VPC endpoints
# (vpce-ID.bedrock-runtime.REGION.vpce.amazonaws.com).
_OFFICIAL_HOST = re.compile(
    r"^(?:vpce-[a-z0-9-]+\.)?bedrock(?:-runtime|-agent-runtime)?(?:-fips)?"
    r"\.[a-z0-9-]+\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$"
)
CLAUDE_REASONING = frozenset({"claude"})


def is_claude(model: str) -> bool:
    """Whether a Bedrock model id names Claude (a bare id, a cross-region profile such
    as ``us.anthropic.claude-...``, or an ARN naming one)."""
    name = model.lower()
    return "anthropic." in name or "claude" in name


HOST_CREDENTIALS = "the host's AWS credentials (the default chain or a named profile)"

_aws: ModuleType | None = None


async def aws_module() -> ModuleType:
    """``gateway.providers.aws`` (botocore), imported in a thread on first use."""
    global _aws
    if _aws is None:
        try:
            _aws = await lazy_import.loaded("gateway.providers.aws")
        except ImportError as exc:  # a deployment problem, not a crash: move on
            raise errors.ConfigurationError(f"Bedrock needs botocore: {exc}") from None
    return _aws


async def aws_eventstream(
    chunks: AsyncIterator[bytes], on_chunk: Callable[[bytes], None] | None = None
) -> AsyncIterator[WireEvent]:
    """The ``aws-eventstream`` de-framer (botocore's parser, CRCs checked)."""
    aws = await aws_module()
    if on_chunk is not None:
        chunks = _recorded(chunks, on_chunk)
    async for event in aws.aws_events(chunks):
        yield event


async def _recorded(
    chunks: AsyncIterator[bytes], on_chunk: Callable[[bytes], None]
) -> AsyncIterator[bytes]:
    async for chunk in chunks:
        on_chunk(chunk)
        yield chunk


DEFRAMERS["aws-eventstream"] = one_at_a_time(aws_eventstream)


@dataclasses.dataclass(slots=True, frozen=True)
class AwsSettings:
    """One deployment's AWS settings, secrets resolved (never logged)."""

    region: str | None
    endpoint: str | None
    access_key: str | None = None
    secret_key: str | None = None
    token: str | None = None
    profile: str | None = None


class BedrockProvider(CodecProvider):
    kind = "bedrock"
    documents = Accepts(
        frozenset(DOCUMENT_FORMATS),
        urls=True,  # the gateway fetches it and checks its type (gateway.core.media_inline)
        why="Bedrock documents are PDF, CSV, DOC(X), XLS(X), HTML, Markdown or text",
    )
    catalog_vendor = KindVendor("bedrock")
    keyless = Keyless(  # a key id or profile, or AWS's default chain in the environment
        ("aws_access_key_id", "aws_profile_name"),
        (
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ),
    )
    trace_name = "aws.bedrock"
    rerank_shape = "bedrock"  # Rerank of the agent runtime (the provider names the model ARN)
    needs_base_url = False
    default_base_url = "https://bedrock-runtime.us-east-1.amazonaws.com"
    secret_params = frozenset(
        {
            "aws_access_key_id",
            "aws_secret_access_key",
            "aws_session_token",
            "aws_web_identity_token",
        }
    )
    credential_params = CONTROL_PARAMS | {
        "api_base",
        "base_url",
        "aws_bedrock_endpoint",
        "batch_s3_endpoint",
        "batch_s3_uri",
        "batch_role_arn",
    }
    # Claude on Bedrock speaks Anthropic's API versions; 2026-10-21 only from Claude 4.7
    # on (the catalog lists it for those models), so a model it does not list takes the
    # first alone. Converse carries no version: the rules are what changes.
    api_versions = versions.VERSIONS
    default_api_version = versions.DEFAULT
    baseline_api_versions = frozenset({versions.DEFAULT.name})
    version_param = versions.PARAM
    settings_taken = (
        Setting(
            "aws_region_name", "AWS region", "e.g. us-east-1; empty: AWS_REGION or the profile's."
        ),
        Setting(
            "aws_access_key_id",
            "AWS access key id",
            "Pairs with the secret access key above; or os.environ/NAME.",
        ),
        Setting(
            "aws_profile_name",
            "AWS profile",
            "A named profile from ~/.aws (used when no keys are given).",
        ),
        # Batch inference (gateway/features/batches/upstreams/bedrock): without both of the first
        # two, batches on this provider's routes run in the gateway.
        Setting(
            "batch_s3_uri",
            "Batch S3 location",
            "s3://bucket/prefix where batch inference input and output go (deleted "
            "when a batch ends).",
        ),
        Setting(
            "batch_role_arn",
            "Batch service role",
            "ARN of the IAM role Bedrock assumes to read and write the S3 location.",
        ),
        Setting(
            "batch_min_records",
            "Batch minimum lines",
            "Bedrock's minimum records per batch inference job (default 100); smaller "
            "batches run in the gateway.",
            check=positive_integer,
        ),
        Setting(
            "aws_bedrock_endpoint",
            "Control-plane endpoint",
            "Empty: https://bedrock.REGION.amazonaws.com (batch jobs); set it for a VPC endpoint.",
        ),
        Setting("batch_s3_endpoint", "S3 endpoint", "Empty: AWS S3 of the region."),
        *BATCH_SETTINGS,
        *PASSTHROUGH_SETTINGS,  # gateway/features/passthrough
    )
    form_help = FormHelp(
        base_url="Empty: https://bedrock-runtime.REGION.amazonaws.com; set it for a VPC "
        "endpoint (LiteLLM's aws_bedrock_runtime_endpoint).",
        secret="The AWS secret access key (stored encrypted) or os.environ/NAME. Empty, "
        "with no access key id: the profile, or the default AWS chain (environment, "
        "instance role).",
        secret_label="Secret access key",
    )
    speaks = CODECS["bedrock"]

    def verifies_reasoning(self, deployment: DeploymentEntry) -> frozenset[str]:
        """Claude on Bedrock verifies Claude's signed thinking (Anthropic's, Vertex's);
        Bedrock's other models (Nova, Llama, Mistral, DeepSeek...) refuse signed
        ``reasoningContent`` in the history."""
        return CLAUDE_REASONING if is_claude(deployment.model) else frozenset()

    @staticmethod
    def official_host(url: str) -> bool:
        """An https URL on one of Bedrock's official hosts (see ``_OFFICIAL_HOST``)."""
        return ambient.on_host(url, _OFFICIAL_HOST)

    @classmethod
    def ambient_problem(cls, base_url: str, secret: str | None) -> str | None:
        """Saving (console, /api): without a secret access key the provider signs with
        the host's credentials, which may not go to a custom base URL."""
        if not base_url or base_url.startswith("os.environ/") or secret:
            return None
        return ambient.refusal(HOST_CREDENTIALS, base_url, cls.official_host(base_url))

    def _url_checked(self, settings: AwsSettings, url: str) -> None:
        """Refuse, before any credentials are loaded, to sign with the host's
        credentials for a URL off Bedrock's official hosts (``ambient``)."""
        if settings.access_key or self.provider.from_operator:  # its own keys; the operator's
            return
        problem = ambient.refusal(HOST_CREDENTIALS, url, self.official_host(url))
        if problem:
            raise errors.ConfigurationError(f"provider {self.provider.name!r}: {problem}")

    def settings(self, deployment: DeploymentEntry) -> AwsSettings:
        """The deployment's AWS settings with ``os.environ/NAME`` resolved now; the
        region may still be the profile's (looked up by ``_prepare``)."""
        # The provider's settings (region, key id, profile) are defaults under the
        # deployment's own params.
        params = {**self.provider.settings, **(deployment.params or {})}
        name = f"deployment {deployment.label!r}"
        for unsupported in UNSUPPORTED_PARAMS:
            if params.get(unsupported):
                raise errors.ConfigurationError(
                    f"{name}: {unsupported} (assuming a role) is not supported; give keys "
                    "or aws_profile_name (a profile may assume the role itself)"
                )

        def read(key: str) -> str | None:
            value = params.get(key)
            if value in (None, ""):
                return None
            try:
                return resolve_secret(str(value)) or None
            except MissingSecret as exc:
                raise errors.ConfigurationError(f"{name}: {key}: {exc}") from None

        access_key = read("aws_access_key_id")
        secret_key = read("aws_secret_access_key")
        if secret_key is None and self.provider.secret:
            try:
                secret_key = resolve_secret(self.provider.secret) or None
            except MissingSecret as exc:
                raise errors.ConfigurationError(f"provider {self.provider.name!r}: {exc}") from None
        if bool(access_key) != bool(secret_key):
            missing = "aws_secret_access_key" if access_key else "aws_access_key_id"
            raise errors.ConfigurationError(f"{name}: {missing} is not set (keys come in pairs)")
        return AwsSettings(
            region=read("aws_region_name")
            or os.environ.get("AWS_REGION")
            or os.environ.get("AWS_DEFAULT_REGION"),
            endpoint=read("aws_bedrock_runtime_endpoint") or self.provider.base_url or None,
            access_key=access_key,
            secret_key=secret_key,
            token=read("aws_session_token") if access_key else None,
            profile=read("aws_profile_name"),
        )

    def target(self, deployment: DeploymentEntry) -> Target:
        """The codec's view, without the params that steer this provider (credentials,
        region): they are never part of a request body (a batch's records included);
        nor sampling params the model or its Anthropic API version refuses."""
        version = self.api_version(deployment)
        target = target_of(deployment, version=version)
        refused = target.refuses | (version.refuses if version is not None else frozenset())
        params = {
            k: v for k, v in target.params.items() if k not in CONTROL_PARAMS and k not in refused
        }
        return dataclasses.replace(target, params=params)

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        """What the model refuses (``target_of`` leaves it out, as Anthropic notes it),
        then what its Anthropic API version refuses besides."""
        notes = refused_params(deployment)
        version = self.api_version(deployment)
        if not deployment.params or version is None or version.lenient:
            return notes
        noted = {field for field, _action, _why in notes}
        return notes + [
            (field, "dropped", version.why())
            for name in sorted(version.refuses & set(deployment.params))
            if (field := f"{name} (deployment params)") not in noted
        ]

    async def region(self, settings: AwsSettings, deployment: DeploymentEntry) -> str:
        """The region ``deployment`` calls: its settings', else its profile's (looked up
        off the loop); a ``ConfigurationError`` when neither names one."""
        region = settings.region
        if not region and settings.profile:
            aws = await aws_module()
            region = await asyncio.to_thread(aws.profile_region, settings.profile)
        if not region:
            raise errors.ConfigurationError(
                f"deployment {deployment.label!r}: no AWS region: set aws_region_name "
                "(or AWS_REGION)"
            )
        return region

    # -- passthrough (gateway.features.passthrough): the runtime API of the deployment's
    # region, each request signed with SigV4 as Converse is --
    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        settings = self.settings(deployment)
        region = await self.region(settings, deployment)
        return (settings.endpoint or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")

    async def sign_api_call(self, deployment: DeploymentEntry, call: ApiCall) -> None:
        """SigV4 over exactly this request (its path as it goes on the wire), with the
        deployment's credentials; the host's only to Bedrock's official hosts."""
        settings = self.settings(deployment)
        region = await self.region(settings, deployment)
        self._url_checked(settings, call.url)
        aws = await aws_module()
        _secret, extra = wire.credentials(self.provider)
        headers = call.headers
        headers.update(extra)
        credentials = await aws.frozen_credentials(
            settings.access_key, settings.secret_key, settings.token, settings.profile
        )
        headers.update(
            aws.sign_request(credentials, region, call.method, call.url, call.body, headers)
        )

    @staticmethod
    def url(endpoint: str | None, region: str, model: str, stream: bool) -> str:
        base = (endpoint or f"https://bedrock-runtime.{region}.amazonaws.com").rstrip("/")
        encoded = quote(model, safe="")  # ARNs: ':' and '/' stay inside one segment
        return f"{base}/model/{encoded}/{'converse-stream' if stream else 'converse'}"

    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        settings = self.settings(deployment)
        return self.url(settings.endpoint, settings.region or "", deployment.model, stream)

    async def _prepare(  # signing needs the deployment (keys, region): it happens here
        self, request: ChatRequest, deployment: DeploymentEntry, stream: bool
    ) -> tuple[str, bytes, dict[str, str]]:
        settings = self.settings(deployment)
        aws = await aws_module()
        region = await self.region(settings, deployment)
        body = self.codec.build_request(request, self.target(deployment))
        url = self.url(settings.endpoint, region, deployment.model, stream)
        self._url_checked(settings, url)
        content = fitted(orjson.dumps(body))  # held to the journal: not in orjson's buffer
        _secret, extra = wire.credentials(self.provider)
        headers = {
            **extra,
            "Content-Type": "application/json",
            "Accept": "application/vnd.amazon.eventstream" if stream else "application/json",
        }
        credentials = await aws.frozen_credentials(
            settings.access_key, settings.secret_key, settings.token, settings.profile
        )
        headers.update(aws.sign_request(credentials, region, "POST", url, content, headers))
        return url, content, headers

    also_serves = frozenset({"rerank"})  # besides chat: /v1/rerank -> Rerank (agent runtime)

    async def rerank(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> Any:
        """Bedrock's ``Rerank`` (the agent runtime: ``POST /rerank``), signed like
        Converse; a model id becomes its foundation-model ARN in the deployment's region.
        ``aws_bedrock_runtime_endpoint`` (or the base URL), when set, is the host."""
        settings = self.settings(deployment)
        aws = await aws_module()
        region = await self.region(settings, deployment)
        model = deployment.model
        arn = (
            model
            if model.startswith("arn:")
            else (f"arn:aws:bedrock:{region}::foundation-model/{model}")
        )
        config = body["rerankingConfiguration"]["bedrockRerankingConfiguration"]
        config["modelConfiguration"] = {"modelArn": arn}
        base = settings.endpoint or f"https://bedrock-agent-runtime.{region}.amazonaws.com"
        url = base.rstrip("/") + "/rerank"
        self._url_checked(settings, url)
        content = orjson.dumps(body)
        _secret, extra = wire.credentials(self.provider)
        headers = {**extra, "Content-Type": "application/json", "Accept": "application/json"}
        credentials = await aws.frozen_credentials(
            settings.access_key, settings.secret_key, settings.token, settings.profile
        )
        headers.update(aws.sign_request(credentials, region, "POST", url, content, headers))
        return await self._post_json(url, content, headers, exchange)

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        """Converse has no top_k; it goes in ``additionalModelRequestFields`` only for
        deployments marked ``supports_top_k`` (Claude, for one, takes it there)."""
        takes_top_k = bool(getattr(deployment, "supports_top_k", False))
        return ["top_k"] if request.top_k is not None and not takes_top_k else []

    lists_models = False
    # Bedrock's model list is on another service (the control plane, with its own IAM
    # permission) than the runtime the gateway calls.
    models_unlisted = (
        "Bedrock providers cannot list models here (the runtime API has no model "
        "list); send a request from the playground to test the credentials"
    )

    async def check_deployment(self, deployment: DeploymentEntry) -> str:
        """The region and credentials a request would sign with: settings read, the
        region found (settings, environment or profile), credentials loaded (keys, the
        profile or the default chain). Nothing is sent to AWS."""
        settings = self.settings(deployment)
        aws = await aws_module()
        region = settings.region
        if not region and settings.profile:
            region = await asyncio.to_thread(aws.profile_region, settings.profile)
        if not region:
            raise errors.ConfigurationError(
                "no AWS region: set aws_region_name on the deployment or provider "
                "(or AWS_REGION in the gateway's environment)"
            )
        await aws.frozen_credentials(
            settings.access_key, settings.secret_key, settings.token, settings.profile
        )
        source = (
            "access keys"
            if settings.access_key
            else f"profile {settings.profile}"
            if settings.profile
            else "the default AWS chain"
        )
        return f"configuration: region {region}, credentials from {source}"

    def _error(self, response: httpx.Response, raw: bytes) -> errors.UpstreamError:
        """Bedrock names the error in ``x-amzn-errortype``; the codec maps it."""
        error_type = response.headers.get("x-amzn-errortype")
        error = converse.parse_error(response.status_code, raw, error_type)
        if error.retry_after is None:
            error.retry_after = wire.retry_after(response)
        wire.hide_secret(error, self.provider)
        return error


__all__ = ["BedrockProvider", "aws_eventstream", "aws_module"]
