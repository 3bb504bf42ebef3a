"""The environment variable names an export writes in place of stored secrets
(``gateway.ops.litellm.variables``): a shell identifier from the provider's name and its
kind's secret (``_API_KEY``, Bedrock's ``_SECRET_ACCESS_KEY``, Vertex AI's
``_CREDENTIALS``), unique, never one a provider's own ``os.environ/`` reference uses;
none for a provider whose secret is a reference or that has none."""

from __future__ import annotations

from gateway.models import Provider
from gateway.ops.litellm.variables import base_variable, secret_variables


def provider(pk: int, name: str, kind: str = Provider.Kind.OPENAI, **more) -> Provider:
    more.setdefault("secret_ciphertext", "sealed")
    return Provider(pk=pk, name=name, kind=kind, **more)


def test_a_stored_secret_is_named_from_the_provider_and_its_kind() -> None:
    names = secret_variables(
        [
            provider(1, "my-azure.eu"),
            provider(2, "aws", Provider.Kind.BEDROCK),
            provider(3, "gcp", Provider.Kind.VERTEX_AI),
        ]
    )
    assert names == {
        1: "MY_AZURE_EU_API_KEY",
        2: "AWS_SECRET_ACCESS_KEY",
        3: "GCP_CREDENTIALS",
    }


def test_a_name_that_is_no_identifier_gets_a_prefix() -> None:
    names = secret_variables([provider(1, "1st"), provider(2, "---")])
    assert names == {1: "PROVIDER_1ST_API_KEY", 2: "PROVIDER_API_KEY"}


def test_names_are_unique_and_never_a_references_own() -> None:
    providers = [
        provider(3, "Open AI"),
        provider(1, "open-ai"),
        provider(2, "ref", secret_ref="os.environ/OPEN_AI_API_KEY", secret_ciphertext=""),
    ]
    # by primary key: the first takes the next free name after the reference's
    assert secret_variables(providers) == {1: "OPEN_AI_2_API_KEY", 3: "OPEN_AI_3_API_KEY"}


def test_no_name_for_a_reference_or_no_secret() -> None:
    providers = [
        provider(1, "ref", secret_ref="os.environ/MINE", secret_ciphertext="sealed"),
        provider(2, "keyless", secret_ciphertext=""),
    ]
    assert secret_variables(providers) == {}


def test_a_base_url_with_credentials_gets_its_own_variable() -> None:
    assert base_variable(provider(1, "my-proxy.internal")) == "MY_PROXY_INTERNAL_API_BASE"
    assert base_variable(provider(2, "9lives")) == "_9LIVES_API_BASE"
