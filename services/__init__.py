"""Deployable services of BanditOps (each with its own Dockerfile)."""
