"""Helpers the benchmarks share: percentiles (the server on loopback is siyu.serving)."""

from __future__ import annotations


def percentile(values: list[float], p: float) -> float:
    """The p-th percentile (nearest rank) of some values."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
