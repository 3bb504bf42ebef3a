"""People (issue #62): who signs in to the console and what they may do there.

- ``save``: accounts made and ended (``create_user``, ``set_active``, ``remove``,
  ``readmit_sso``) and teams saved (``save_team``), behind the console, ``/api`` and
  invitations; ``invites``: one-time links (issue, accept, revoke; emailed after the
  answer through ``gateway.base.mail.send_later``); ``signals``: an invite dies with its
  inviter's right to make it.
- ``sso_settings``: the single sign-on settings an owner saves (the secret sealed);
  ``sso_users``: the OpenID Connect client and the accounts it provisions;
  ``oidc_discovery``: the issuer's document fetched for the settings page. What is
  configured is read by ``gateway.access.sso`` (the login page and the throttle need it).
- ``views/`` (auth, sso, users, teams, invite_accept, sign_in), declared in ``pages``,
  templates in ``templates/people/``; ``api/``: its routers (``ROUTERS``); ``rules``:
  rules ``user.*`` and the field rules of its resources."""
