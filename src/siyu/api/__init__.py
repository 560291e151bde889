"""HTTP plumbing shared by every router: transactions, idempotency, auth dependencies, errors."""
