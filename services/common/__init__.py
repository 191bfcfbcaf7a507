"""What the FastAPI services share: the admin bearer check and the request-body cap."""
