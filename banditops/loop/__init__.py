"""The learning loop without a scheduler: ids, arm choice, rounds, transitions, drift watch, tracking."""
