"""The people unit's console pages (``gateway.web.pages.Page``): signing in and out
(passwords, single sign-on), teams, users, invitations and the sign-in settings.
Composed into the console by ``console/urls.py``."""

from __future__ import annotations

from gateway.features.people.views import auth, invite_accept, sign_in, sso, teams, users
from gateway.web.pages import Nav, Page, register

# --- anyone: signing in and out, single sign-on
register(
    Page("login/", auth.login_view, "login", read=None),
    Page("login/sso/", sso.sso_start, "sso-start", read=None),
    Page("login/sso/callback/", sso.sso_callback, "sso-callback", read=None),
    Page("logout/", auth.logout_view, "logout", read=None),
)

# --- teams, users, invitations, sign-in settings
TEAMS = Nav("Access", "Teams", ("team",), order=40)
USERS = Nav("Access", "Users", ("user",), order=50)
SETTINGS = "settings.edit"

register(
    Page("teams/", teams.team_list, "teams", read="teams.view", write="teams.edit", nav=TEAMS),
    Page("teams/new/", teams.team_create, "team-create", read="teams.edit"),
    Page("teams/<int:pk>/", teams.team_edit, "team-edit", read="teams.view", write="teams.edit"),
    Page("users/", users.user_list, "users", read="users.view", write="users.edit", nav=USERS),
    Page("users/<int:pk>/role/", teams.user_edit, "user-edit", read="users.edit"),
    # a user's limits (rule user.limit)
    Page("users/<int:pk>/limits/", teams.user_limits, "user-limits", read="teams.edit"),
    # people: invites (rule user.invite: admins below owner), a user's page, deactivate
    # and remove (rule user.manage: owners)
    Page(
        "users/<int:pk>/", users.user_detail, "user-detail", read="users.view", write="users.edit"
    ),
    Page("users/<int:pk>/active/", users.user_active, "user-active", read="users.edit"),
    Page("users/<int:pk>/remove/", users.user_remove, "user-remove", read="users.edit"),
    Page("users/invite/", users.user_invite, "user-invite", read="users.invite"),
    Page(
        "users/invites/<int:pk>/revoke/", users.invite_revoke, "invite-revoke", read="users.invite"
    ),
    # the one-time link itself is the credential
    Page("invite/<str:token>/", invite_accept.invite_accept, "invite-accept", read=None),
    # the sign-in settings (OpenID Connect, set here or by the environment): owners
    Page("settings/sign-in/", sign_in.sign_in_settings, "sign-in", read=SETTINGS),
    Page(
        "settings/sign-in/discovery/", sign_in.sign_in_discovery, "sign-in-discovery", read=SETTINGS
    ),
)
