"""Roles and team scope: the one place that says who may see or change what.

Every console page (``gateway.web.decorators.staff_required``), every ``/api`` operation
(``gateway.web.api.auth``) and every WebSocket (live tail, playground) asks this module; views
only call the scope helpers below to narrow their querysets. Nothing here is on the
gateway's request path.

Roles, from most to least (``gateway.models.Role``):

- ``owner``: everything, users and settings included.
- ``admin``: providers, routes, keys, teams and MCP servers of every team; not users.
- ``editor``: routes and keys of the teams they belong to; read the rest of their teams.
- ``member``: their own keys, the playground and the logs of their own requests.
- ``viewer``: read-only dashboards, keys and logs of their teams; changes nothing.

A user's role is their ``Profile.role``; a staff user without a profile is an owner (what
staff meant before roles; the migration gives existing staff an owner profile), anyone
else without one has no console access. ``Membership`` rows put a user in teams with a
role there (editor/member/viewer); an owner or admin acts on every team. The abilities a
page or an API route needs are in ``PAGES`` (filled by each page's declaration,
``gateway.web.pages``) and ``API``: a console URL or an API resource missing from them is
for owners only, so a new page is never open by mistake (the role matrix test lists every
URL from the resolver).

Single sign-on creates users and calls ``set_role`` and ``assign_membership`` with the
role and team its claim mapping found.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Q, QuerySet

from gateway.models import ApiKey, Membership, Profile

OWNER, ADMIN, EDITOR, MEMBER, VIEWER = "owner", "admin", "editor", "member", "viewer"
ROLES = (OWNER, ADMIN, EDITOR, MEMBER, VIEWER)
RANK = {role: place for place, role in enumerate(ROLES)}  # 0: the highest
MANAGEMENT_SCOPE = "management"

# --- abilities of each role ---------------------------------------------------------------

READ_TEAM = {
    "dashboard.view",
    "usage.view",
    "catalog.view",
    "logs.view",
    "routes.view",
    "keys.view",
    "health.view",
    "providers.view",
    "teams.view",
    "guardrails.view",  # names, kinds, modes; params with their secrets masked
    # one's own OAuth connections to MCP servers and A2A agents (rules mcp.oauth.connect,
    # a2a.oauth.connect)
    "mcp.connect",
    "prompts.view",  # the prompt registry: templates hold no secrets
}
# An admin may do all an editor may, over every team (the rules say whose)
EDIT_TEAM = READ_TEAM | {
    "routes.edit",
    "keys.edit",
    "playground.use",
    "prompts.edit",
    # work annotation queues (editors: requests they see)
    "annotations.review",
    "dashboard.pin",  # editors: their teams' boards; admins: the global board and every team's
}
ABILITIES: dict[str, frozenset[str]] = {
    VIEWER: frozenset(READ_TEAM),
    MEMBER: frozenset(
        {
            "dashboard.view",
            "catalog.view",
            "logs.view",
            "routes.view",
            "keys.view",
            "keys.edit",
            "playground.use",
            "teams.view",
            "guardrails.view",
            "mcp.connect",
            "prompts.view",
            "prompts.edit",  # their own prompts (rule prompt.change)
            "dashboard.pin",  # their teams' boards (rule dashboard.pin)
        }
    ),
    EDITOR: frozenset(EDIT_TEAM),
    ADMIN: frozenset(
        EDIT_TEAM
        | {
            "providers.edit",
            "teams.edit",
            "guardrails.edit",
            "config.import",
            "users.view",
            "users.invite",  # below owner (rule user.invite)
            # over every team's traffic (request bodies included): admins and owners
            "spend.view",
            "audit.view",
            "batches.view",  # every key's batch jobs and their results
            "evals.use",
            "traffic.compare",
        }
    ),
}
# Owners may do anything, including what only they may: "users.edit", "settings.edit".

# Console pages by URL name: (ability to read it, ability for any other method), or None
# for a page anyone may open (sign-in, static files). Declared with each page
# (``gateway.web.pages.Page``, whose ``register`` calls ``declare_page``: this module sits
# below the web kit); a URL not declared is for owners only.
PAGES: dict[str, tuple[str, str] | None] = {}


def declare_page(view_name: str, abilities: tuple[str, str] | None) -> None:
    """What opening the console URL ``view_name`` needs: (read, write) abilities, or None
    for anyone. Declared once: a second, different declaration raises ``ValueError``."""
    if view_name in PAGES and PAGES[view_name] != abilities:
        raise ValueError(f"{view_name} is declared with {PAGES[view_name]}, not {abilities}")
    PAGES[view_name] = abilities


# /api resources (the first path segment after /api/): (read ability, write ability).
API: dict[str, tuple[str, str]] = {
    "providers": ("providers.view", "providers.edit"),
    "routes": ("routes.view", "routes.edit"),
    "keys": ("keys.view", "keys.edit"),
    "logs": ("logs.view", "logs.view"),
    "teams": ("teams.view", "teams.edit"),
    # tag budgets: across every team's keys, so owners and admins read and change them
    "tags": ("spend.view", "teams.edit"),
    # charts pinned to dashboard boards: every reader lists the boards they see; rule
    # dashboard.pin narrows pinning to one's own teams' boards below admin
    "dashboards": ("dashboard.view", "dashboard.pin"),
    "users": ("users.view", "users.edit"),
    # a user's own limits: owners and admins (rule user.limit: admins not an owner's)
    "user-limits": ("users.view", "teams.edit"),
    # invitations: owners and admins (rule user.invite: admins invite no owner)
    "invites": ("users.invite", "users.invite"),
    # removed single sign-on identities: admins read; owners let one in again (user.manage)
    "sso-removals": ("users.view", "users.edit"),
    # single sign-on settings: owners read and change them (as the console's page)
    "sign-in": ("settings.edit", "settings.edit"),
    "docs": ("dashboard.view", "dashboard.view"),
    "mcp-servers": ("providers.edit", "providers.edit"),
    # A2A agents: as MCP servers, the owners' and admins' (their URLs and tokens)
    "a2a-agents": ("providers.edit", "providers.edit"),
    # guardrails: any role reads them (secrets masked); owners and admins change them
    "guardrails": ("guardrails.view", "guardrails.edit"),
    "spend": ("spend.view", "spend.view"),
    "alerts": ("spend.view", "settings.edit"),  # budget alerts: admins read, owners change
    # the providers' bills beside the journal: admins read, owners run a reconciliation
    "bill-drift": ("spend.view", "settings.edit"),
    # prompt caching per route, key and session (gateway.features.cache_doctor): read only
    "cache-doctor": ("spend.view", "spend.view"),
    "audit": ("audit.view", "audit.view"),
    "prompts": ("prompts.view", "prompts.edit"),  # and rule prompt.change
    # score configs: what a score of a name may hold; any role reads, leads change them
    "score-configs": ("logs.view", "evals.use"),
    "datasets": ("evals.use", "evals.use"),
    # review queues: reviewers read them and their progress, leads define and fill them
    "annotation-queues": ("annotations.review", "evals.use"),
    "experiments": ("evals.use", "evals.use"),
    # a prompt's versions compared on a dataset: one experiment each (console.evals)
    "prompt-comparisons": ("evals.use", "evals.use"),
    "evaluators": ("evals.use", "evals.use"),
    "openapi.json": ("dashboard.view", "dashboard.view"),
}
# Sockets (console/routing.py): what connecting to each needs.
SOCKETS = {"tail": "logs.view", "playground": "playground.use", "evals": "evals.use"}

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# --- who is asking ------------------------------------------------------------------------


@dataclass(frozen=True)
class Actor:
    """Who a request acts as: a role, a user, and the teams they are in with their role
    there. ``role`` None: signed in but without console access."""

    role: str | None
    user_id: int | None = None
    username: str = ""
    teams: dict[int, str] = field(default_factory=dict)  # team id -> role in that team
    via: str = "session"  # "session", "master" or "key"
    # A "key" actor: the management key it came with, and who minted (holds) that key
    key_id: int | None = None
    key_minted_by: int | None = None

    @property
    def holder_id(self) -> int | None:
        """The person holding the credential this actor came with: a session's user, a
        management key's minter (not its owner); None for the master key. A key this
        actor mints is theirs to hold (``ApiKey.minted_by``)."""
        if self.via == "master":
            return None
        if self.via == "key":
            return self.key_minted_by
        return self.user_id

    @property
    def everywhere(self) -> bool:
        """Owners and admins act on every team, user and key."""
        return self.role in (OWNER, ADMIN)

    def can(self, ability: str) -> bool:
        if self.role == OWNER:
            return True
        return self.role is not None and ability in ABILITIES.get(self.role, ())

    def team_ids(self, *roles: str) -> set[int]:
        """The teams this actor holds one of ``roles`` in (any role if none given)."""
        return {t for t, r in self.teams.items() if not roles or r in roles}

    def editor_teams(self) -> set[int]:
        """Teams whose routes and keys this actor may change (below admin)."""
        if self.role not in (EDITOR, OWNER, ADMIN):
            return set()
        return self.team_ids(EDITOR, ADMIN, OWNER)


NOBODY = Actor(role=None)
MASTER = Actor(role=OWNER, username="master", via="master")


def role_of(user: Any) -> str | None:
    """A user's console role (None: no access)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None

    try:
        return user.switchyard.role  # type: ignore[no-any-return]
    except Profile.DoesNotExist:
        return OWNER if user.is_staff else None


def actor_for_user(user: Any) -> Actor:
    """The actor of a console session (cached on the user object for the request)."""
    cached = getattr(user, "_switchyard_actor", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    role = role_of(user)
    if role is None:
        actor = NOBODY
    else:
        teams = dict(Membership.objects.filter(user=user).values_list("team_id", "role"))
        actor = Actor(role=role, user_id=user.pk, username=user.get_username(), teams=teams)
    if user is not None:
        with contextlib.suppress(AttributeError):
            user._switchyard_actor = actor
    return actor


def actor_for_key(raw: str) -> Actor | None:
    """The actor of a virtual key sent to /api: an active key with the "management"
    scope acts as its user, if that user is an owner or admin. None otherwise."""
    key = (
        ApiKey.objects.select_related("user", "user__switchyard")
        .filter(key_hash=ApiKey.hash_key(raw))
        .first()
    )
    if key is None or not key.is_active or MANAGEMENT_SCOPE not in (key.scopes or "").split():
        return None
    if key.user is None:
        return None
    actor = actor_for_user(key.user)
    if actor.role not in (OWNER, ADMIN):
        return None
    return Actor(
        role=actor.role,
        user_id=actor.user_id,
        username=actor.username,
        teams=actor.teams,
        via="key",
        key_id=key.pk,
        key_minted_by=key.minted_by_id,
    )


# --- page and route rules -----------------------------------------------------------------


def page_ability(view_name: str, method: str) -> str | None:
    """The ability a console URL needs for ``method``; None: public. Undeclared: owners."""
    if view_name not in PAGES:
        return "owner.only"
    abilities = PAGES[view_name]
    if abilities is None:
        return None
    read, write = abilities
    return read if method.upper() in SAFE_METHODS else write


def may_open(actor: Actor, view_name: str, method: str) -> bool:
    ability = page_ability(view_name, method)
    return ability is None or actor.can(ability)


def api_ability(path: str, method: str) -> str:
    """The ability an /api path needs (``/api/keys/3`` -> keys.view or keys.edit)."""
    rest = path.split("/api/", 1)[-1].strip("/")
    resource = rest.split("/", 1)[0]
    read, write = API.get(resource, ("owner.only", "owner.only"))
    return read if method.upper() in SAFE_METHODS else write


def may_call(actor: Actor, path: str, method: str) -> bool:
    return actor.can(api_ability(path, method))


def may_connect(actor: Actor, socket: str) -> bool:
    return actor.can(SOCKETS.get(socket, "owner.only"))


# --- scope: which rows an actor sees and may change ----------------------------------------


def visible_keys(actor: Actor, keys: QuerySet) -> QuerySet:
    """Keys this actor sees: all (owner, admin); their own and their teams' (editor,
    viewer); their own (member)."""
    if actor.everywhere:
        return keys
    own = Q(user_id=actor.user_id) if actor.user_id is not None else Q(pk__in=[])
    if actor.role in (EDITOR, VIEWER):
        return keys.filter(own | Q(team_id__in=actor.team_ids()))
    return keys.filter(own)


def visible_key_ids(actor: Actor) -> set[int] | None:
    """Ids of the keys whose usage this actor sees in dashboards (None: every key's,
    the master key's included)."""
    if actor.everywhere:
        return None

    return set(visible_keys(actor, ApiKey.objects.all()).values_list("id", flat=True))


def outranks(role: str | None, other: str | None) -> bool:
    """Whether ``role`` stands strictly above ``other`` (a user without a console role
    stands below every role; nobody stands above an owner)."""
    if role not in RANK:
        return False
    return other not in RANK or RANK[role] < RANK[other]


def may_change_key(actor: Actor, key: Any) -> bool:
    if not actor.can("keys.edit"):
        return False
    if actor.everywhere:
        return True
    if actor.role == EDITOR and key.team_id is not None and key.team_id in actor.editor_teams():
        return True
    return actor.user_id is not None and key.user_id == actor.user_id


def key_team_choices(actor: Actor, teams: QuerySet) -> QuerySet:
    """Teams a new or edited key of this actor may belong to."""
    if actor.everywhere:
        return teams
    if actor.role == EDITOR:
        return teams.filter(pk__in=actor.editor_teams())
    return teams.filter(pk__in=actor.team_ids())


def may_change_route(actor: Actor, route: Any) -> bool:
    """Editors change routes limited to one of their teams; admins and owners any."""
    if not actor.can("routes.edit"):
        return False
    if actor.everywhere:
        return True
    teams = {t.pk for t in route.teams.all()}
    return bool(teams & actor.editor_teams())


def visible_routes(actor: Actor, routes: QuerySet) -> QuerySet:
    """Routes this actor sees: all (owner, admin); routes open to every team and those
    limited to one of their teams (the rest): another team's route is not theirs to
    read, in the console's list or through /api."""
    if actor.everywhere:
        return routes
    return routes.filter(Q(teams__isnull=True) | Q(teams__in=actor.team_ids())).distinct()


def teams_for_new_route(actor: Actor) -> list[int] | None:
    """The teams a route created by ``actor`` is limited to (None: left open)."""
    return None if actor.everywhere else sorted(actor.editor_teams())


def may_use_route(actor: Actor, route: Any) -> bool:
    """Whether the actor's playground may call ``route`` (a snapshot RouteEntry): a route
    limited to teams is for owners, admins and those teams' users."""
    teams = getattr(route, "teams", None)
    return teams is None or actor.everywhere or bool(set(teams) & actor.team_ids())


def may_use_mcp_servers(actor: Actor) -> bool:
    """Whether the actor's playground may attach registered MCP servers to its columns:
    the roles that manage them (owners, admins: their credentials and the tool calls
    run from the console are theirs)."""
    return actor.can("providers.edit")


def visible_logs(actor: Actor, logs: QuerySet) -> QuerySet:
    """Request log rows this actor sees: all (owner, admin); their teams' keys' and their
    own (editor, viewer); only their own requests (member): their keys' and their
    playground runs (journaled as ``console:<username>``)."""
    if actor.everywhere:
        return logs

    mine = Q(key_id__in=ApiKey.objects.filter(user_id=actor.user_id).values("id"))
    if actor.username:
        mine |= Q(key_id__isnull=True, key_name=f"console:{actor.username}")
    if actor.role in (EDITOR, VIEWER):
        team_keys = ApiKey.objects.filter(team_id__in=actor.team_ids()).values("id")
        return logs.filter(mine | Q(key_id__in=team_keys))
    return logs.filter(mine)


def visible_comparisons(actor: Actor, comparisons: QuerySet) -> QuerySet:
    """Playground sessions: everyone's for owners and admins, else one's own."""
    if actor.everywhere:
        return comparisons
    return comparisons.filter(created_by_id=actor.user_id)


def visible_teams(actor: Actor, teams: QuerySet) -> QuerySet:
    if actor.everywhere:
        return teams
    return teams.filter(pk__in=actor.team_ids())


# --- changing roles and memberships (the console, the API and single sign-on) ----------------


def set_role(user: Any, role: str) -> None:
    """Give ``user`` a console role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    Profile.objects.update_or_create(user=user, defaults={"role": role})
    if hasattr(user, "_switchyard_actor"):
        del user._switchyard_actor


def assign_membership(user: Any, team: Any, role: str = MEMBER) -> Any:
    """Put ``user`` in ``team`` with ``role`` there (created or updated). A user without
    a console role gets ``role`` as theirs too, so a first SSO login has access."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    membership, _ = Membership.objects.update_or_create(
        user=user, team=team, defaults={"role": role}
    )
    if not Profile.objects.filter(user=user).exists() and not user.is_staff:
        Profile.objects.create(user=user, role=role)
    if hasattr(user, "_switchyard_actor"):
        del user._switchyard_actor
    return membership


def role_of_any(user: Any) -> str | None:
    """A user's role whether or not they are active (for lists of users)."""
    try:
        return user.switchyard.role  # type: ignore[no-any-return]
    except Profile.DoesNotExist:
        return OWNER if user.is_staff else None


def owners() -> list[Any]:
    """Active users who are owners (by profile, or staff without one)."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.filter(is_active=True).select_related("switchyard")
    return [u for u in users if role_of_any(u) == OWNER]


def is_last_owner(user: Any) -> bool:
    return role_of_any(user) == OWNER and [u.pk for u in owners()] == [user.pk]
