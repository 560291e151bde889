"""Customers: one profile per person across channels, identities, timeline, consent, merge."""
