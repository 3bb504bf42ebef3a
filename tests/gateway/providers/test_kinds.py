"""The kinds registry (``gateway.providers.kinds``): one line per kind naming its label
and adapter class; listing kinds imports neither Django nor any adapter, and what a kind
needs (a base URL, settings) is what its adapter class declares."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway.models import Provider
from gateway.providers import kinds
from gateway.providers.base import Provider as Adapter

ROOT = Path(__file__).resolve().parents[3]


def run(code: str, tmp_path: Path) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "SWITCHYARD_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_listing_the_kinds_imports_neither_django_nor_an_adapter(tmp_path) -> None:
    out = run(
        "import sys; from gateway.providers import kinds; kinds.choices(); "
        "print(sorted(m for m in sys.modules if m.startswith(('django', 'gateway.providers.'))))",
        tmp_path,
    )
    assert out == "['gateway.providers.kinds']"


def test_the_form_and_validation_leave_botocore_and_google_auth_unimported(tmp_path) -> None:
    """The console reads every adapter class (help, settings): loading them must not
    load the cloud SDKs; a Bedrock or Vertex call does that when it needs them."""
    out = run(
        "import sys, django; django.setup()\n"
        "from console.forms import ProviderForm\n"
        "from gateway.models import Provider\n"
        "form = ProviderForm(); form.kind_help; form.setting_fields\n"
        "Provider(name='a', kind='bedrock', settings={'aws_region_name': 'eu-west-1'}).clean()\n"
        "Provider(name='v', kind='vertex_ai', settings={'vertex_project': 'p'}).clean()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('botocore', 'google.auth'))))",
        tmp_path,
    )
    assert out == "[]"


@pytest.mark.parametrize("name", list(kinds.KINDS))
def test_each_line_names_an_adapter_of_its_kind(name: str) -> None:
    cls = kinds.adapter_class(name)
    assert issubclass(cls, Adapter) and cls.kind == name
    assert getattr(Provider.Kind, name.upper()) == name
    assert Provider.Kind(name).label == kinds.KINDS[name].label


def test_the_model_choices_are_the_registry() -> None:
    assert list(Provider._meta.get_field("kind").choices) == kinds.choices()
    assert Provider.Kind.choices == kinds.choices()


def test_what_each_kind_needs_is_what_its_adapter_declares() -> None:
    assert [k for k in kinds.KINDS if kinds.needs_base_url(k)] == ["openai", "azure"]
    taken = {k: [s.name for s in kinds.settings_taken(k)] for k in kinds.KINDS}
    passthrough = ["passthrough", "passthrough_paths"]  # gateway/features/passthrough
    assert {k: v for k, v in taken.items() if v} == {
        "openai": ["native_batches", "batch_discount", *passthrough],
        "anthropic": ["native_batches", "batch_discount", *passthrough],
        "azure": ["native_batches", "batch_discount", *passthrough],
        "gemini": passthrough,
        "gemini_interactions": passthrough,
        "vertex_ai": ["vertex_project", "vertex_location", *passthrough],
        "cohere": passthrough,
        "openai_responses": passthrough,
        "bedrock": [
            "aws_region_name",
            "aws_access_key_id",
            "aws_profile_name",
            "batch_s3_uri",
            "batch_role_arn",
            "batch_min_records",
            "aws_bedrock_endpoint",
            "batch_s3_endpoint",
            "native_batches",
            "batch_discount",
            *passthrough,
        ],  # fmt: skip
    }
    # an unknown kind needs an address and takes no settings (and is refused anyway)
    assert kinds.adapter_class("nope") is None
    assert kinds.needs_base_url("nope") and kinds.settings_taken("nope") == ()


def test_a_line_naming_an_adapter_of_another_kind_is_refused(monkeypatch) -> None:
    line = kinds.Kind("oops", "Oops", "gateway.providers.echo:EchoProvider")
    monkeypatch.setitem(kinds.KINDS, line.name, line)
    with pytest.raises(TypeError, match="has kind 'echo', not 'oops'"):
        kinds.adapter_class("oops")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("/v1/models", ""),
        ("/v1/models, /v1/files/, /v1beta/cachedContents", ""),
        ("v1/models", "'v1/models' does not start with /"),
        ("/v1/models,", "an empty path prefix"),
        ("/v1/../admin", "'/v1/../admin' has a . or .. segment"),
        ("/v1//x", "has an empty segment"),
        ("/v1/models?x=1", "holds a character a plain path does not"),
        ("/v1/%2e%2e", "holds a character a plain path does not"),
        ("/@evil/x", "holds a character a plain path does not"),
        (", ".join(["/a"] * 51), "at most 50 path prefixes"),
    ],
)
def test_passthrough_paths_are_plain_path_prefixes(value: str, problem: str) -> None:
    """``passthrough_paths`` (gateway.features.passthrough), refused when saved."""
    (setting,) = [s for s in kinds.PASSTHROUGH_SETTINGS if s.name == "passthrough_paths"]
    found = setting.problem(value)
    assert (problem in found) if problem else found == ""
    if not problem:
        assert kinds.path_prefixes(value) == tuple(p.strip() for p in value.split(","))
    else:
        with pytest.raises(ValueError):
            kinds.path_prefixes(value)
