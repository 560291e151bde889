"""Benchmarks behind `siyu bench …`; each returns a JSON-able dict (never part of the tests)."""
