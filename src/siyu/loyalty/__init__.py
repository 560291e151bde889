"""Membership and loyalty on an exact ledger: points, stored value, paid membership (docs/loyalty.md)."""
