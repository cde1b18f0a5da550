"""api: the HTTP front door (FastAPI)."""
