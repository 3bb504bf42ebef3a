"""Gemini on Vertex AI as an upstream: the ``gemini`` codec, posted to
``https://{location}-aiplatform.googleapis.com/v1/projects/{project}/locations/{location}
/publishers/google/models/{model}:generateContent`` (location ``global``:
``aiplatform.googleapis.com``) with a bearer token from a service account
(``google_auth``).

Where the settings come from (LiteLLM's names, in the deployment's ``params``; any value
may be ``os.environ/NAME``):

- ``vertex_project``: the project (default: the service account's ``project_id``);
- ``vertex_location``: the region (default ``us-central1``);
- ``vertex_credentials``: service-account JSON text or the path to its file; else the
  provider's ``secret`` (stored encrypted); else the application default credentials.

``vertex_project`` and ``vertex_location`` may also be the provider's ``settings``
(defaults under every deployment's params).

``base_url`` overrides the host (LiteLLM ``api_base``: a proxy or a private endpoint);
``api_version`` the version path (default ``v1``). A model id starting with
``projects/`` (a tuned model's endpoint) is used as the path as it is.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from gateway.base import errors
from gateway.base.entries import DeploymentEntry
from gateway.base.errors import MissingSecret
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.catalog.matching import KindVendor
from gateway.providers import ambient, google_auth, wire
from gateway.providers.base import ApiCall
from gateway.providers.gemini import GoogleCodecProvider, ws_scheme
from gateway.providers.kinds import PASSTHROUGH_SETTINGS, FormHelp, Keyless, Setting

DEFAULT_LOCATION = "us-central1"
DEFAULT_API_VERSION = "v1"
LIVE_API_VERSION = "v1beta1"  # the Live API's version google-genai asks Vertex for
_LOCATION = re.compile(r"^[a-z0-9-]+$")  # a region name goes into the host name
_OFFICIAL_HOST = re.compile(r"^(?:[a-z0-9-]+-)?aiplatform\.googleapis\.com$")
HOST_CREDENTIALS = "the host's Google credentials (application default or a key file path)"


def host_credentials(source: str | None) -> bool:
    """Whether ``source`` is the host's rather than the provider's own: the application
    default credentials (None) or a key file on this host (a path, not JSON text)."""
    return source is None or not source.strip().startswith("{")


def _param(params: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = params.get(name)
        if isinstance(value, str) and value:
            return resolve_secret(value)
        if isinstance(value, dict):  # credentials given inline as an object
            return json.dumps(value)
    return None


def _project(project: str | None, deployment: DeploymentEntry) -> str:
    """The deployment's Vertex AI project (its own or its credentials'); none is a
    ConfigurationError saying where to set one."""
    if not project:
        raise errors.ConfigurationError(
            f"deployment {deployment.label!r} has no Vertex AI project: set "
            "params.vertex_project (or use credentials with a project_id)"
        )
    return project


def host_for(location: str) -> str:
    if location == "global":
        return "https://aiplatform.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexAIProvider(GoogleCodecProvider):
    kind = "vertex_ai"
    catalog_vendor = KindVendor("vertex")
    keyless = Keyless(  # a service account given, or the host's application default
        ("vertex_credentials", "vertex_ai_credentials"), ("GOOGLE_APPLICATION_CREDENTIALS",)
    )
    trace_name = "gcp.vertex_ai"
    needs_base_url = False
    default_base_url = "https://aiplatform.googleapis.com"
    secret_params = frozenset({"api_key", "vertex_credentials", "vertex_ai_credentials"})
    settings_taken = (
        Setting(
            "vertex_project", "Google Cloud project", "Empty: the service account's project_id."
        ),
        Setting(
            "vertex_location",
            "Location",
            "The region, e.g. europe-west4 or global; empty: us-central1.",
        ),
        *PASSTHROUGH_SETTINGS,  # gateway/features/passthrough
    )
    form_help = FormHelp(
        base_url="Empty: https://LOCATION-aiplatform.googleapis.com; set it for a proxy "
        "or a private endpoint.",
        secret="The service-account key JSON (stored encrypted), a path to the key file, "
        "or os.environ/NAME. Empty: the application default credentials.",
        api_version="The version path; empty: v1.",
        secret_label="Service-account key",
    )
    count_wrapped = False  # Vertex's countTokens takes contents/systemInstruction/tools

    @staticmethod
    def official_host(url: str) -> bool:
        """``https://aiplatform.googleapis.com`` or ``https://LOCATION-aiplatform...``."""
        return ambient.on_host(url, _OFFICIAL_HOST)

    @classmethod
    def ambient_problem(cls, base_url: str, secret: str | None) -> str | None:
        """Saving (console, /api): the provider's secret, if it is the host's
        credentials, may not go to a custom base URL (see ``ambient``)."""
        if not base_url or base_url.startswith("os.environ/") or not host_credentials(secret):
            return None
        if secret is not None and secret.startswith("os.environ/"):
            return None  # what the variable holds is checked when called
        return ambient.refusal(HOST_CREDENTIALS, base_url, cls.official_host(base_url))

    def _host(self, location: str, source: str | None) -> str:
        """The deployment's host (``base_url``, else its location's), checked before any
        token is fetched: the host's own credentials go to Google's hosts only."""
        host = (self.provider.base_url or host_for(location)).rstrip("/")
        problem = None
        if host_credentials(source) and not self.provider.from_operator:
            problem = ambient.refusal(HOST_CREDENTIALS, host, self.official_host(host))
        if problem:
            raise errors.ConfigurationError(f"provider {self.provider.name!r}: {problem}")
        return host

    def _settings(self, deployment: DeploymentEntry) -> tuple[str | None, str, str | None]:
        """(project, location, credentials source) with references resolved."""
        params = {**self.provider.settings, **(deployment.params or {})}
        try:
            project = _param(params, "vertex_project", "vertex_ai_project")
            location = _param(params, "vertex_location", "vertex_ai_location")
            source = _param(params, "vertex_credentials", "vertex_ai_credentials")
            if source is None:
                source = resolve_secret(self.provider.secret)
        except MissingSecret as exc:
            raise errors.ConfigurationError(f"provider {self.provider.name!r}: {exc}") from None
        location = location or DEFAULT_LOCATION
        if not _LOCATION.match(location):
            raise errors.ConfigurationError(
                f"deployment {deployment.label!r}: vertex_location {location!r} is not a region name"
            )
        return project, location, source or None

    async def locate(self, deployment: DeploymentEntry) -> tuple[str, dict[str, str]]:
        project, location, source = self._settings(deployment)
        host = self._host(location, source)
        extra = wire.extra_headers(self.provider)
        token, sa_project = await google_auth.access_token(source)
        auth = {**extra, "Authorization": f"Bearer {token}"}
        version = self.provider.api_version or DEFAULT_API_VERSION
        if deployment.model.startswith("projects/"):
            return f"{host}/{version}/{deployment.model}", auth
        project = _project(project or sa_project, deployment)
        model = quote(deployment.model.removeprefix("publishers/google/models/"), safe="-._~@")
        path = (
            f"{host}/{version}/projects/{quote(project, safe='-._~')}/locations/"
            f"{quote(location, safe='-._~')}/publishers/google/models/{model}"
        )
        return path, auth

    # -- passthrough (gateway.features.passthrough): the deployment's host, its project
    # and location only, a bearer token from its credentials --
    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        _project, location, source = self._settings(deployment)
        return self._host(location, source)

    async def api_scope(self, deployment: DeploymentEntry) -> tuple[str, ...]:
        """The deployment's own project and location, under any API version
        (``/v1/projects/P/locations/L/...``, ``/v1beta1/...``): its service account may
        reach other projects, which passthrough does not."""
        project, location, source = self._settings(deployment)
        if not project:
            _token, project = await google_auth.access_token(source)
        project = _project(project, deployment)
        where = f"/projects/{quote(project, safe='-._~')}/locations/{quote(location, safe='-._~')}/"
        version = self.provider.api_version or DEFAULT_API_VERSION
        return tuple(dict.fromkeys(f"/{v}{where}" for v in (version, "v1", "v1beta1")))

    async def sign_api_call(self, deployment: DeploymentEntry, call: ApiCall) -> None:
        _project, _location, source = self._settings(deployment)
        extra = wire.extra_headers(self.provider)
        token, _sa_project = await google_auth.access_token(source)
        call.headers.update(extra)
        call.headers["Authorization"] = f"Bearer {token}"

    async def live_target(
        self, deployment: DeploymentEntry, version: str
    ) -> tuple[str, dict[str, str], str]:
        """Vertex AI's Live API socket (``LlmBidiService/BidiGenerateContent``) on the
        deployment's host (its location's, or ``base_url``): the ``wss://`` URL, a bearer
        token from its credentials, and the ``setup.model`` as Vertex names it
        (``projects/P/locations/L/publishers/google/models/M``). The version: the
        provider's, else ``v1beta1`` (what google-genai asks for); the caller's
        ``version`` is a Gemini API one and says nothing here."""
        project, location, source = self._settings(deployment)
        host = self._host(location, source)
        extra = wire.extra_headers(self.provider)
        token, sa_project = await google_auth.access_token(source)
        version = self.provider.api_version or LIVE_API_VERSION
        url = f"{ws_scheme(host)}/ws/google.cloud.aiplatform.{version}.LlmBidiService/BidiGenerateContent"
        if deployment.model.startswith("projects/"):
            model = deployment.model
        else:
            project = _project(project or sa_project, deployment)
            name = deployment.model.removeprefix("publishers/google/models/")
            model = f"projects/{project}/locations/{location}/publishers/google/models/{name}"
        return url, {**extra, "Authorization": f"Bearer {token}"}, model

    lists_models = False
    models_unlisted = (
        "Vertex AI providers cannot list models (Vertex has no such list for Gemini); "
        "send a request from the playground to test the credentials"
    )

    async def check_deployment(self, deployment: DeploymentEntry) -> str:
        """The project, location and an access token: a cached token, or one fetched
        from Google's token endpoint now (the one call, and the proof that the
        credentials work). No model is called."""
        project, location, source = self._settings(deployment)
        self._host(location, source)
        _token, sa_project = await google_auth.access_token(source)
        project = project or sa_project
        if not project and not deployment.model.startswith("projects/"):
            raise errors.ConfigurationError(
                "no Vertex AI project: set vertex_project (or use credentials with a project_id)"
            )
        return f"configuration: project {project}, location {location}, access token obtained"


__all__ = ["VertexAIProvider", "host_for"]
