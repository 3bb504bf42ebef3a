"""Secrets, kept out of sight: a declared type (``declared``), encrypted at rest
(``crypto``), named by ``os.environ/`` references the operator allows (``secret_refs``)
and sent only where they may go (``families``), masked in URLs (``url_secrets``) and
scrubbed from what an upstream echoes (``provider_credentials``).

One package because they are one job read together by the store (saving and showing a
provider), the providers (resolving at call time, scrubbing errors), the journal
(redaction) and the audit log; on the floor because the lowest of those readers, the
providers, sit just above it. Django's settings are read where needed (a library, not a
layer)."""
