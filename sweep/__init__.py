"""sweep layer (see README)."""
