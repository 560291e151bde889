"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def run_threads(n: int, target: Callable[[int], Any]) -> list[Any]:
    """Run `target(i)` for i in 0..n-1 on n threads released together; their answers in order."""
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = target(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results
