"""Posteriors over arm rewards, each built from sufficient statistics that add up across batches."""
