"""Will a Bedrock or Vertex AI deployment's first call find its region, project and
credentials on this machine? Asked by the LiteLLM import preview, so a file that
imports cleanly does not fail on first use. Nothing here touches the network: the
credential chains are walked without the sources that would call out (the EC2 and
container metadata endpoints, ``credential_process`` commands, Google's metadata
server); when only such a source could supply credentials, the warning says so.

Each check returns messages (empty: nothing to warn about); a check never raises.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

from gateway.base.secrets.secret_refs import refusal

ENV_PREFIX = "os.environ/"

AWS_REGION_ENV = ("AWS_REGION", "AWS_DEFAULT_REGION")
# Sources botocore would have to call out (or run a command) to try.
AWS_REMOTE_SOURCES = ("iam-role", "container-role", "custom-process", "login")
AWS_CONTAINER_ENV = ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
GOOGLE_PROJECT_ENV = ("GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT")
FAILS = "calls fail until it is"


def _value(raw: Any) -> str:
    """A setting as the adapter reads it: ``os.environ/NAME`` is NAME's value here (an
    unset variable, or one the operator does not allow, is reported by the import's own
    environment check and read as empty: its value never reaches a warning)."""

    if raw in (None, ""):
        return ""
    text = str(raw)
    if text.startswith(ENV_PREFIX):
        name = text[len(ENV_PREFIX) :]
        return "" if refusal(name) else os.environ.get(name, "")
    return text


def bedrock(params: Mapping[str, Any], secret: str) -> list[str]:
    """Region and credentials of a Bedrock deployment (``params``: the provider's
    settings under the deployment's own; ``secret``: aws_secret_access_key)."""
    from botocore.exceptions import BotoCoreError
    from botocore.session import Session

    profile = _value(params.get("aws_profile_name")) or None
    try:
        session = Session(profile=profile)
        scoped = session.get_scoped_config()  # raises when the profile is not there
    except BotoCoreError as exc:
        return [f"AWS profile {profile!r}: {exc}; {FAILS}"]
    out = []
    region = (
        _value(params.get("aws_region_name"))
        or next((os.environ[n] for n in AWS_REGION_ENV if os.environ.get(n)), "")
        or scoped.get("region")
    )
    if not region:
        out.append(
            "Bedrock has no AWS region here: set aws_region_name, AWS_REGION or a region "
            f"in the AWS profile; {FAILS}"
        )
    access_key, secret_key = _value(params.get("aws_access_key_id")), _value(secret)
    if access_key and secret_key:
        return out
    if access_key or secret_key:
        missing = "aws_secret_access_key" if access_key else "aws_access_key_id"
        return [*out, f"{missing} is not set (AWS keys come in pairs); {FAILS}"]
    if _aws_chain_has_credentials(session, scoped):
        return out
    where = f"profile {profile!r}" if profile else "the environment and ~/.aws"
    return [
        *out,
        f"no AWS credentials found in {where} (an EC2 instance role is not checked); "
        "set aws_access_key_id and aws_secret_access_key or aws_profile_name; "
        "calls fail until they are found",
    ]


def _aws_chain_has_credentials(session: Any, scoped: Mapping[str, Any]) -> bool:
    from botocore.credentials import create_credential_resolver
    from botocore.exceptions import BotoCoreError

    if any(os.environ.get(n) for n in AWS_CONTAINER_ENV) or scoped.get("credential_process"):
        return True  # a container role or a command supplies them: not tried here
    resolver = create_credential_resolver(session)
    for name in AWS_REMOTE_SOURCES:
        with contextlib.suppress(Exception):  # not in this botocore's chain
            resolver.remove(name)
    try:
        # assume-role and SSO give deferred credentials: found without calling AWS
        return resolver.load_credentials() is not None
    except BotoCoreError:
        return False


def vertex(params: Mapping[str, Any], secret: str) -> list[str]:
    """Project and credentials of a Vertex AI deployment; ``secret`` is the provider's
    (service-account JSON or a reference to it). The location has a default."""
    source = _value(secret) or _value(params.get("vertex_credentials"))
    try:
        found, project_of_credentials = _google_credentials(source)
    except Exception as exc:  # noqa: BLE001 - any unreadable key is one warning
        return [f"Vertex AI credentials cannot be read: {_first_line(exc)}; {FAILS}"]
    out = []
    if not found:
        out.append(
            "no Google credentials found (vertex_credentials, GOOGLE_APPLICATION_CREDENTIALS "
            "or `gcloud auth application-default login`; a GCE metadata server is not "
            "checked); calls fail until they are found"
        )
    project = (
        _value(params.get("vertex_project"))
        or project_of_credentials
        or next((os.environ[n] for n in GOOGLE_PROJECT_ENV if os.environ.get(n)), "")
    )
    if not project and found:
        out.append(f"Vertex AI has no project: set vertex_project; {FAILS}")
    elif not project:
        out.append("Vertex AI has no project: set vertex_project")
    return out


def _google_credentials(source: str) -> tuple[bool, str]:
    """(found, the project they name) for a key's JSON text, a key file's path, or the
    application default credentials' file."""
    if source.lstrip().startswith("{"):
        return True, _check_key(json.loads(source))
    path = source or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or _gcloud_adc_path()
    if not source and not (path and os.path.isfile(path)):
        return False, ""
    with open(path, encoding="utf-8") as handle:
        return True, _check_key(json.load(handle))


def _check_key(info: Any) -> str:
    """Parse a Google key the way the adapter will (raises when it is not usable);
    returns the project it names."""
    from google.oauth2 import credentials, service_account

    if not isinstance(info, dict):
        raise ValueError("the key is not a JSON object")
    kind = info.get("type")
    # (the ignores: google-auth leaves these untyped)
    if kind == "service_account":
        service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
    elif kind == "authorized_user":
        credentials.Credentials.from_authorized_user_info(info)  # type: ignore[no-untyped-call]
    elif kind is None:
        raise ValueError("the key has no 'type' (service_account, authorized_user, ...)")
    # other types (external_account, impersonation) are only usable by calling Google
    return str(info.get("project_id") or info.get("quota_project_id") or "")


def _gcloud_adc_path() -> str:
    # google.auth.default() would also ask the GCE metadata server (the network); the
    # well-known file `gcloud auth application-default login` writes is all we read.
    from google.auth import _cloud_sdk

    path: str = _cloud_sdk.get_application_default_credentials_path()  # type: ignore[no-untyped-call]
    return path


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:200]
