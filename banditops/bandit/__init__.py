"""Pure bandit maths: posteriors, policies and features; no I/O, no other BanditOps layer."""
