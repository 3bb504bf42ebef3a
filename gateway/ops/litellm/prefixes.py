"""LiteLLM's names for what Switchyard calls otherwise: model prefixes (``openai/``,
``bedrock/``...) <-> provider kinds and their default base URLs, where each kind's
secret and settings sit in ``litellm_params``, the ``model_info`` keys of prices and
capability flags, and the routing strategies. Shared by the parser, the planner and the
export; no database access."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.access.keys import MASTER_KEY_NAME as MASTER_KEY_NAME  # reserved there
from gateway.catalog import capability_flags
from gateway.models import Provider, Route

MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Service:
    prefix: str
    kind: str
    default_base: str  # "" when api_base is required (or the kind needs none)


SERVICES: dict[str, Service] = {
    s.prefix: s
    for s in (
        Service("openai", Provider.Kind.OPENAI, "https://api.openai.com/v1"),
        Service("deepseek", Provider.Kind.OPENAI, "https://api.deepseek.com/v1"),
        Service("groq", Provider.Kind.OPENAI, "https://api.groq.com/openai/v1"),
        Service("mistral", Provider.Kind.OPENAI, "https://api.mistral.ai/v1"),
        Service("codestral", Provider.Kind.OPENAI, "https://codestral.mistral.ai/v1"),
        Service("together_ai", Provider.Kind.OPENAI, "https://api.together.xyz/v1"),
        Service("fireworks_ai", Provider.Kind.OPENAI, "https://api.fireworks.ai/inference/v1"),
        Service("openrouter", Provider.Kind.OPENAI, "https://openrouter.ai/api/v1"),
        Service("xai", Provider.Kind.OPENAI, "https://api.x.ai/v1"),
        Service("perplexity", Provider.Kind.OPENAI, "https://api.perplexity.ai"),
        Service("cerebras", Provider.Kind.OPENAI, "https://api.cerebras.ai/v1"),
        Service("deepinfra", Provider.Kind.OPENAI, "https://api.deepinfra.com/v1/openai"),
        Service("nvidia_nim", Provider.Kind.OPENAI, "https://integrate.api.nvidia.com/v1"),
        Service("sambanova", Provider.Kind.OPENAI, "https://api.sambanova.ai/v1"),
        Service("hyperbolic", Provider.Kind.OPENAI, "https://api.hyperbolic.xyz/v1"),
        Service("moonshot", Provider.Kind.OPENAI, "https://api.moonshot.ai/v1"),
        Service("ollama", Provider.Kind.OPENAI, "http://localhost:11434/v1"),
        Service("ollama_chat", Provider.Kind.OPENAI, "http://localhost:11434/v1"),
        Service("lm_studio", Provider.Kind.OPENAI, "http://localhost:1234/v1"),
        Service("llamafile", Provider.Kind.OPENAI, "http://localhost:8080/v1"),
        Service("hosted_vllm", Provider.Kind.OPENAI, ""),
        Service("litellm_proxy", Provider.Kind.OPENAI, ""),
        Service("openai_like", Provider.Kind.OPENAI, ""),
        Service("custom_openai", Provider.Kind.OPENAI, ""),
        Service("anthropic", Provider.Kind.ANTHROPIC, "https://api.anthropic.com"),
        Service("azure", Provider.Kind.AZURE, ""),
        # Native upstreams: an empty base URL is the adapter's default.
        Service("gemini", Provider.Kind.GEMINI, ""),
        Service("vertex_ai", Provider.Kind.VERTEX_AI, ""),
        Service("vertex_ai_beta", Provider.Kind.VERTEX_AI, ""),
        Service("bedrock", Provider.Kind.BEDROCK, ""),
        Service("cohere", Provider.Kind.COHERE, ""),
        Service("cohere_chat", Provider.Kind.COHERE, ""),
        # openai/responses/<model>: matched before the generic openai/.
        Service("openai/responses", Provider.Kind.OPENAI_RESPONSES, "https://api.openai.com/v1"),
        # gemini/interactions/<model>: matched before the generic gemini/.
        Service("gemini/interactions", Provider.Kind.GEMINI_INTERACTIONS, ""),
    )
}
# Export: the prefix of each kind that has one of its own.
PREFIX_BY_KIND = {
    Provider.Kind.ANTHROPIC: "anthropic",
    Provider.Kind.AZURE: "azure",
    Provider.Kind.GEMINI: "gemini",
    Provider.Kind.VERTEX_AI: "vertex_ai",
    Provider.Kind.BEDROCK: "bedrock",
    Provider.Kind.COHERE: "cohere",
    Provider.Kind.OPENAI_RESPONSES: "openai/responses",
    Provider.Kind.GEMINI_INTERACTIONS: "gemini/interactions",
}
# Where a kind's LiteLLM config carries the provider secret (else api_key).
SECRET_PARAM = {
    Provider.Kind.BEDROCK: "aws_secret_access_key",
    Provider.Kind.VERTEX_AI: "vertex_credentials",
}
# What the exported environment variable of a stored secret is called after the stem.
SECRET_VARIABLE_SUFFIX = {
    Provider.Kind.BEDROCK: "SECRET_ACCESS_KEY",
    Provider.Kind.VERTEX_AI: "CREDENTIALS",
}
# litellm_params that steer a kind's adapter (kept in Deployment.params under LiteLLM's
# names, exported back as litellm_params). Secrets are not here: see SECRET_PARAM.
KIND_PARAMS: dict[str, tuple[str, ...]] = {
    Provider.Kind.BEDROCK: (
        "aws_access_key_id",
        "aws_region_name",
        "aws_profile_name",
        "aws_bedrock_runtime_endpoint",
        "aws_session_token",  # only as an os.environ/ reference
    ),
    Provider.Kind.VERTEX_AI: ("vertex_project", "vertex_location", "vertex_credentials"),
}
# LiteLLM's other spellings of those.
PARAM_ALIASES = {
    "vertex_ai_project": "vertex_project",
    "vertex_ai_location": "vertex_location",
    "vertex_ai_credentials": "vertex_credentials",
}
# Bedrock settings for assuming a role: the adapter does not; a profile can.
BEDROCK_ROLE_PARAMS = (
    "aws_role_name",
    "aws_session_name",
    "aws_web_identity_token",
    "aws_sts_endpoint",
    "aws_external_id",
)
# Export: which prefix stands for a provider whose base URL is a service's default.
PREFIX_BY_DEFAULT = {
    (s.kind, s.default_base): s.prefix
    for s in reversed(SERVICES.values())  # first listed wins (ollama over ollama_chat)
    if s.default_base
}

# litellm_params that are sent upstream as request defaults (Deployment.params).
UPSTREAM_PARAMS = frozenset(
    {
        "temperature",
        "top_p",
        "top_k",
        "max_tokens",
        "max_completion_tokens",
        "frequency_penalty",
        "presence_penalty",
        "seed",
        "stop",
        "reasoning_effort",
        "logit_bias",
        "parallel_tool_calls",
        "response_format",
    }
)
# model_info key for what Switchyard exports that LiteLLM has no field for.
OWN_KEY = "switchyard"
# model_info keys -> Deployment fields (prices: USD per token there, per 1M here).
PRICE_FIELDS = {
    "input_cost_per_token": "input_price",
    "output_cost_per_token": "output_price",
    "cache_read_input_token_cost": "cache_read_price",
    "cache_creation_input_token_cost": "cache_write_price",
}
# model_info key -> Deployment field priced per unit, not per token (rerank: per query,
# i.e. per search unit, as LiteLLM prices Cohere and Bedrock rerank models).
UNIT_PRICE_FIELDS = {"input_cost_per_query": "search_unit_price"}


def flag_keys() -> dict[str, str]:
    """``model_info`` key -> Deployment flag field (gateway.catalog.capability_flags)."""
    return {flag.litellm_key: flag.name for flag in capability_flags.FLAGS}


# Services whose APIs take top_k (a deployment's model_info.supports_top_k overrides).
TOP_K_PREFIXES = frozenset(
    {"ollama", "ollama_chat", "hosted_vllm", "together_ai", "fireworks_ai", "openrouter"}
)
# (the ignores: a TextChoices member is a str at run time; untyped Django shows its tuple)
STRATEGIES: dict[str, str] = {
    "simple-shuffle": Route.Strategy.WEIGHTED,  # type: ignore[dict-item]
    "least-busy": Route.Strategy.LEAST_BUSY,  # type: ignore[dict-item]
    "latency-based-routing": Route.Strategy.LOWEST_LATENCY,  # type: ignore[dict-item]
}


def effective_base(provider: Provider) -> str:
    """The base URL requests go to (an Anthropic provider may leave it blank)."""
    base = provider.base_url.rstrip("/")
    if not base and provider.kind in PREFIX_BY_KIND:
        return SERVICES[PREFIX_BY_KIND[provider.kind]].default_base
    return base
