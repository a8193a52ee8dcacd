"""The public entry point (port 8000): auth, limits, idempotency, status, routing."""
