"""optimise layer (see README)."""
