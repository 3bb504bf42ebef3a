"""LiteLLM proxy ``config.yaml`` files in and out, one module per job, so that a person
can look before anything changes:

``parse.parse_config(text)``  YAML -> ``LiteLLMConfig``, a plain description (forgiving:
                              what cannot be imported is listed, with its reason).
``plan.plan_import(config)``  compared with the registry -> ``ImportPlan`` (what would be
                              created, updated or replaced); ``describe()`` renders it,
                              ``preview`` makes the console's table of it.
``apply.apply_plan(plan)``    applies it in one transaction.
``export.export_config()``    the registry back as a config that imports to the same rows.

``teams`` reads and writes Switchyard's own ``switchyard.teams`` (LiteLLM's config has
none). The units' sections (``mcp_servers:``, ``guardrails:``) are theirs: each unit's
``litellm.SECTION`` (``gateway.web.litellm_sections``), composed here in the order of
``INSTALLED_APPS``. ``gateway.ops.apply`` (config as code) plans with ``plan_import`` and
adds removals.

``prefixes`` holds LiteLLM's names for Switchyard's (model prefixes <-> provider kinds,
``model_info`` keys), ``variables`` the environment variable names an export writes for
stored secrets.
"""
