"""The service pipeline's parts: the request pipeline, jobs and pumps, capabilities,
tokens, the cache, Responses state and compaction, the reasoning ledger
(docs/architecture.md, "Layout")."""
