"""Simulated worlds that run the same policy objects as the deployed loop."""
