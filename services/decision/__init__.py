"""The decision service: serves bandit decisions to real traffic (see ``app/main.py``)."""
