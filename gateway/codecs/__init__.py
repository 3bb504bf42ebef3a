"""Wire formats, one package each, owning both directions (see ``base``)."""
