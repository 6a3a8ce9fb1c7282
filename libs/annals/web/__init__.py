"""annals.web: what the HTTP services share (problem+json, auth, idempotency, ETags, health)."""
