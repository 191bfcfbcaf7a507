"""BanditOps provider: sensors."""
