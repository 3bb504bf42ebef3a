"""The features: one package each, owning its slice of every layer (docs/architecture.md, "Features as units")."""
