"""Templates: versioned, localized, rendered in a sandbox (port 8002)."""
