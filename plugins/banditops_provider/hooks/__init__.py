"""BanditOps provider: hooks."""
