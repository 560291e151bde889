"""Cross-cutting platform records: audit log and idempotency keys."""
