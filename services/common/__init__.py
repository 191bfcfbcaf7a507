"""What the FastAPI services share: the admin bearer check, the request-body cap and the latency middleware."""
