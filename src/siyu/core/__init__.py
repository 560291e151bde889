"""Framework-free kernel: money, clock, ids, errors, pagination."""
