"""The secrecy of every stored text and JSON field, declared once (issue #61, "secrets are
a type, not a name"; the types are ``gateway.base.secrets.declared.Secrecy``). The audit
log reads it (``gateway.telemetry.audit``: what a row shows of each field), and
``tests/gateway/models/test_secrecy.py`` walks every model of the gateway, the console and
the user model: a text or JSON field this table does not name fails it, so a new field is
declared secret or plain the day it is added, never guessed from its name.

Caller content (request bodies, stored responses, conversations, batches) is PLAIN here:
it is the caller's own, and the journal's redaction (``gateway.telemetry.redaction``)
takes out the credentials a caller sends for an upstream of theirs. Numbers, booleans,
dates and relations hold no credential and are not listed."""

from __future__ import annotations

from collections.abc import Mapping

from gateway.base.secrets.declared import Secrecy

PLAIN, SECRET, URL = Secrecy.PLAIN, Secrecy.SECRET, Secrecy.URL
HEADERS, DIGEST, PARAMS = Secrecy.HEADERS, Secrecy.DIGEST, Secrecy.PARAMS


def _fields(plain: str = "", **typed: Secrecy) -> dict[str, Secrecy]:
    """``plain``: the PLAIN fields, space-separated; the others by name."""
    return {**dict.fromkeys(plain.split(), PLAIN), **typed}


DECLARED: Mapping[str, Mapping[str, Secrecy]] = {
    # the registry
    "gateway.Provider": _fields(
        "name kind api_version secret_ref",  # secret_ref: an os.environ/ name, shown
        base_url=URL,
        secret_ciphertext=SECRET,
        extra_headers=HEADERS,
        settings=PARAMS,  # the adapter's credential_params are its secret-bearing ones
    ),
    "gateway.Deployment": _fields("model", params=PARAMS),
    "gateway.Route": _fields(
        "name description strategy fallbacks context_window_fallbacks default_params "
        "cache_scope shadow_routes mcp_servers guardrails batch_mode "
        "semantic_cache_scope semantic_cache_route semantic_cache_dialects "
        "web_search_backend web_search_key",  # web_search_key: an os.environ/ name, shown
        web_search_url=URL,
    ),
    "gateway.ApiKey": _fields(
        "name prefix budget_period scopes mcp_allowed a2a_allowed guardrails tags alert_thresholds",
        key_hash=DIGEST,
    ),
    "gateway.Team": _fields(
        "budget_period alert_thresholds name description mcp_allowed a2a_allowed guardrails"
    ),
    "gateway.Profile": _fields("budget_period alert_thresholds role"),
    "gateway.Membership": _fields("role"),
    "gateway.McpServer": _fields(
        "name description transport command args sampling_route oauth oauth_client_id "
        "oauth_scopes bearer_ref",
        url=URL,
        headers=HEADERS,
        env=HEADERS,
        bearer_ciphertext=SECRET,
        oauth_client_secret_ciphertext=SECRET,
    ),
    "gateway.A2aAgent": _fields(
        # a card is public; oauth_client_secret_ref: an os.environ/ name, never the secret
        "name description card auth bearer_ref oauth_client_id oauth_client_secret_ref "
        "oauth_scopes",
        url=URL,
        oauth_issuer=URL,
        bearer_ciphertext=SECRET,
    ),
    "gateway.A2aTask": _fields("task_id context_id"),
    "gateway.A2aContext": _fields("context_id session"),
    "gateway.Guardrail": _fields(
        "name kind modes unreachable_fallback description",
        params=PARAMS,  # the kind declares each (Kind.params); sealed as declared
    ),
    "gateway.RegistryState": {},
    # alerts, people, sign-in
    "gateway.AlertSettings": _fields(
        "default_thresholds email_recipients", webhook_ciphertext=SECRET
    ),
    "gateway.BudgetAlert": _fields("scope subject_name period status last_error"),
    "gateway.Invite": _fields("username email role", token_hash=DIGEST),
    "gateway.SsoSettings": _fields(
        "issuer client_id scopes label role_claim role_map default_role team_claim team_map",
        client_secret_ciphertext=SECRET,
    ),
    "gateway.SsoLink": _fields("issuer subject"),
    "gateway.SsoRemoval": _fields("issuer subject username"),  # who may not come back
    "auth.User": _fields("username first_name last_name email", password=DIGEST),
    # MCP OAuth: upstream clients and tokens, and the gateway's own authorization server
    "gateway.McpUpstreamClient": _fields(
        "client_id token_endpoint_auth_method",
        issuer=URL,
        redirect_uri=URL,
        client_secret_ciphertext=SECRET,
    ),
    "gateway.McpOAuthToken": _fields(
        "token_type scopes",
        issuer=URL,
        access_token_ciphertext=SECRET,
        refresh_token_ciphertext=SECRET,
    ),
    "gateway.McpOAuthState": _fields(
        "", state_hash=DIGEST, verifier_ciphertext=SECRET, redirect_uri=URL, issuer=URL
    ),
    "gateway.McpOAuthClient": _fields(
        "client_id client_name redirect_uris grant_types response_types scope software_id "
        "software_version",
        client_uri=URL,
    ),
    "gateway.McpAuthorizationCode": _fields(
        "scope resource code_challenge code_challenge_method",  # the challenge is public
        code_hash=DIGEST,
        redirect_uri=URL,
    ),
    "gateway.McpAccessToken": _fields(
        "family scope resource", access_hash=DIGEST, refresh_hash=DIGEST
    ),
    "gateway.McpApprovalUse": _fields("nonce"),  # spent: no longer worth anything
    "gateway.McpSessionEnd": _fields("session"),
    "gateway.McpTask": _fields("task_id upstream_task_id tool"),
    "gateway.SingletonLease": _fields("name runner"),
    # the budget ledger of several regions and the providers' bills (gateway.models.ledger)
    "gateway.BudgetLedger": _fields("counter period wanted_by"),
    "gateway.BudgetSlice": _fields("region"),
    "gateway.BillDrift": _fields("source provider route models_seen"),
    # the journal and what callers stored (their own content)
    "gateway.RequestLog": _fields(
        "request_id key_name key_prefix dialect endpoint route provider upstream_model "
        "finish_reason error_kind error_message attempts user_agent prompt_cache_breakpoints "
        "shadow_of mcp_calls guardrails translation end_user session tags prompt_name "
        "requested_route agent_run"
    ),
    "gateway.RequestBody": _fields(
        "inbound_request upstream_request upstream_response outbound_response derived parts"
    ),
    "gateway.SemanticCacheEntry": _fields("route scope text_hash vector answer"),  # caller content
    "gateway.BodyBlob": _fields("hash parent data"),  # parts of those bodies, redacted alike
    "gateway.UsageRollup": _fields("route key_name dialect latency_hist ttft_hist"),
    "gateway.SpendRollup": _fields("key_name end_user session route model"),
    "gateway.TagSpendRollup": _fields("tag key_name"),
    "gateway.RequestTag": _fields("tag"),
    "gateway.TagBudget": _fields("name description budget_period"),
    "gateway.PinnedChart": _fields("metric group_by window score_name"),
    "gateway.AuditEvent": _fields(  # written masked (gateway.telemetry.audit)
        "actor_kind actor actor_id source user_agent action object_type object_id "
        "object_name changes detail"
    ),
    "gateway.StoredResponse": _fields(
        "id route status previous_response_id instructions input_items output usage response"
    ),
    "gateway.BackgroundResponse": _fields("id status body user_agent session response runner"),
    "gateway.BackgroundEvent": _fields("data"),
    "gateway.Conversation": _fields("id metadata"),
    "gateway.ConversationItem": _fields("item_id item response_id"),
    "gateway.StoredInteraction": _fields(
        "id route status previous_interaction_id input_steps interaction events"
    ),
    "gateway.StoredFile": _fields("id purpose filename status"),
    "gateway.Batch": _fields(
        "id api endpoint key_name input_file_id completion_window metadata status errors "
        "output_file_id error_file_id runner native upstream_batch_id upstream_file_id"
    ),
    "gateway.BatchLine": _fields("custom_id body outcome request_id response"),
    # prompts and evaluations
    "gateway.Prompt": _fields("name description"),
    "gateway.PromptVersion": _fields("messages variables model params tools note created_by"),
    "gateway.PromptLabel": _fields("name updated_by"),
    # a score's shape (name, type, range or categories): what reviewers and judges fill
    "gateway.ScoreConfig": _fields("name data_type categories description created_by"),
    # reasoning: a judge's own words about the answer; judge_request_id: its call's row
    "gateway.Score": _fields("name label comment source author route reasoning judge_request_id"),
    "console.Comparison": _fields(
        "title system messages followups params tools columns results replay_of"
    ),
    "console.BlindVote": _fields("winner_route routes"),
    "console.StoredHourSummary": _fields("summary"),
    "console.SavedPrompt": _fields("name system messages params tools"),
}


def of(label: str, field: str) -> Secrecy:
    """The declared secrecy of ``field`` of the model ``label`` (``app.Model``); a field
    the table does not name is SECRET (the test makes that never happen)."""
    return DECLARED.get(label, {}).get(field, SECRET)
