"""Host-level powers, which belong to the operator (the config file and the environment):
reading environment variables through ``os.environ/NAME``, launching stdio MCP servers
(commands on this host), and steering a provider's credentials.

The operator is ``OPERATOR`` (``manage.py import_config`` acts as it); a console or
``/api`` caller is a ``roles.Actor`` and never the operator, whatever its role. What the
operator allows is read from settings (``SWITCHYARD_ENV_ALLOW``,
``SWITCHYARD_STDIO_MCP_SERVERS``), never granted by a role."""

from __future__ import annotations

from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.secrets import families, secret_refs
from gateway.providers.kinds import adapter_class


class Operator:
    """The operator as an actor: the config file imported by ``manage.py import_config``."""

    role = roles.OWNER
    username = "operator"

    def __repr__(self) -> str:
        return "OPERATOR"


class Registered:
    """Whoever saved a registry row through the console or ``/api`` (the MCP pool asks on
    its behalf when launching a server it did not get from the operator)."""

    def __repr__(self) -> str:
        return "REGISTERED"


OPERATOR = Operator()
REGISTERED = Registered()
STDIO_SETTING = "SWITCHYARD_STDIO_MCP_SERVERS"


def _stdio_allowed() -> bool:
    from django.conf import settings

    return bool(getattr(settings, STDIO_SETTING, False))


@rule("env.resolve")
def env_resolve(actor: Any, name: str) -> Decision:
    """Read environment variable ``name`` through ``os.environ/NAME`` (any field that
    takes references): names the operator allows in ``SWITCHYARD_ENV_ALLOW``, never the
    gateway's own settings; the same answer for every actor."""
    reason = secret_refs.refusal(name)
    return deny(reason) if reason else ALLOW


@rule("env.send")
def env_send(actor: Any, resource: tuple[str, str]) -> Decision:
    """Send what environment variable ``name`` holds to ``url`` (resource: the pair),
    from a row a console or ``/api`` user saved: a vendor's variable to that vendor's
    hosts, any other only where the operator paired it in ``SWITCHYARD_ENV_ENDPOINTS``
    (``gateway.base.secrets.families``); the same answer for every actor. The
    operator's own rows are not asked (``gateway.web.references``)."""
    name, url = resource
    reason = families.refusal(name, url)
    return deny(reason) if reason else ALLOW


@rule("provider.change")
def provider_change(actor: Any, provider: Any = None) -> Decision:
    """Create, edit or delete a provider (its secret, base URL, headers): owners, admins
    and the operator."""
    if actor is OPERATOR or (isinstance(actor, roles.Actor) and actor.can("providers.edit")):
        return ALLOW
    return deny("only owners and admins may change providers")


def credential_params(kind: str, params: dict[str, Any] | None) -> list[str]:
    """The keys of ``params`` that steer a ``kind`` provider's credentials."""

    adapter = adapter_class(kind)
    if adapter is None:  # an unknown kind: the model's own validation names it
        return []
    taken = adapter.credential_params
    return sorted(k for k in (params or {}) if k in taken)


@rule("deployment.params")
def deployment_params(actor: Any, resource: tuple[Any, dict[str, Any]]) -> Decision:
    """Set a deployment's params (resource: its provider, the params): params that steer
    the provider's credentials (endpoints, regions, keys, profiles: the adapter's
    ``credential_params``) need ``provider.change``; other params whoever may change the
    route."""
    provider, params = resource
    steering = credential_params(getattr(provider, "kind", ""), params)
    if not steering or provider_change(actor, provider):
        return ALLOW
    return deny(
        f"{', '.join(steering)} steer the credentials of provider "
        f"{getattr(provider, 'name', '')!r}: only a role that may change the provider "
        "(owners, admins) may set them"
    )


@rule("mcp_server.stdio")
def mcp_server_stdio(actor: Any, server: Any = None) -> Decision:
    """Register, change or launch a stdio MCP server (a command run on the gateway's
    host): the operator's config import; the console and /api (admins) only when the
    operator sets SWITCHYARD_STDIO_MCP_SERVERS."""
    if actor is OPERATOR:
        return ALLOW
    if _stdio_allowed() and (
        actor is REGISTERED or (isinstance(actor, roles.Actor) and actor.can("providers.edit"))
    ):
        return ALLOW
    return deny(
        "stdio MCP servers run commands on the gateway's host: they come from the "
        "operator's config file (manage.py import_config), or the operator sets "
        f"{STDIO_SETTING}=1 to allow them from the console and /api"
    )


def launch_actor(server: Any) -> Operator | Registered:
    """The actor a launch of ``server`` (a row or a registry entry) acts for."""
    return OPERATOR if getattr(server, "from_operator", False) else REGISTERED
