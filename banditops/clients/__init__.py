"""Clients of the environment service and of the Airflow REST API."""
