"""Pure bandit mathematics: no I/O, no Redis, no processes; imports nothing else of banditops."""
