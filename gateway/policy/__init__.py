"""The policy layer: who may do what (roles.py), and, after the layout split, the registry
snapshot, routing, limits and budgets, keys and teams."""
