"""BanditOps provider: operators."""
