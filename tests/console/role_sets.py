"""The roles a console page is expected to let in, by name, for the role matrix
(tests/console/test_role_matrix.py). A page's expectation is written next to its tests, as
``ROLE_EXPECTATIONS: dict[str, Expectation]`` (URL name -> (roles that may GET it, roles
that may POST to it), or ``PUBLIC``) in any test module; the matrix collects them all.
It is the oracle: written from what the page is for, never copied from its declaration."""

from __future__ import annotations

O, A, E, M, V = "owner", "admin", "editor", "member", "viewer"  # noqa: E741
ALL = frozenset({O, A, E, M, V})
READERS = frozenset({O, A, E, V})  # the team-wide read-only pages (not a member's)
ROUTE_EDITORS = frozenset({O, A, E})
KEY_EDITORS = frozenset({O, A, E, M})
PLAYGROUND = frozenset({O, A, E, M})
ADMINS = frozenset({O, A})
OWNERS = frozenset({O})
PUBLIC = "public"  # anyone, signed in or not (sign-in, static files, an invitation link)

Expectation = tuple[frozenset[str], frozenset[str]] | str
