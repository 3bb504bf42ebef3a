"""How much a caller may use: a key's admission (routes, rpm, tpm, budgets of the key,
its team, its user, its tags and end users) with the counters behind it (in memory, the
counter service or Redis), leased limits, budget holds, estimates and the regions'
ledger, and deployments' rpm/tpm caps."""
