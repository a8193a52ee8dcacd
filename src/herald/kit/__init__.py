"""What every service shares: envelope, errors, pagination, health, auth, logging, metrics."""
