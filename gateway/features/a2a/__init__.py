"""The A2A gateway: remote agents (A2A 1.0, and 0.3 for the clients still on it) served
behind the gateway at ``/a2a/<name>``, on the same keys, limits, budgets, guardrails and
journal as every other endpoint (docs/agents.md)."""
