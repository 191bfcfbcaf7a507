"""BanditOps provider: triggers."""
