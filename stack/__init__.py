"""Local stack launcher, demo, test servers and traffic generator: tooling that works from a checkout only.

Not part of the ``banditops`` wheel; nothing in ``banditops/``, ``plugins/``, ``services/`` or ``dags/`` imports it.
"""
