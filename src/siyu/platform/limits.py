"""Counting limiters for failures (sign-in): in-process by default, Redis when configured."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

import redis

from siyu.core.errors import DomainError


class FailureLimiter(Protocol):
    """Counts events per key in a fixed window."""

    def count(self, key: str) -> tuple[int, int]:
        """Current count and seconds until the window resets."""
        ...

    def hit(self, key: str, window_s: int) -> int:
        """Add one; returns the new count. The window starts at the first hit."""
        ...

    def reset(self, key: str) -> None:
        """Forget the key (after a success)."""
        ...


class MemoryLimiter:
    """Per-process limiter for the embedded default."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[int, float]] = {}

    def count(self, key: str) -> tuple[int, int]:
        """Current count and seconds left in the window."""
        with self._lock:
            value = self._data.get(key)
            now = time.monotonic()
            if value is None or value[1] <= now:
                return 0, 0
            return value[0], int(value[1] - now) + 1

    def hit(self, key: str, window_s: int) -> int:
        """Add one to the key's window."""
        with self._lock:
            now = time.monotonic()
            count, expires = self._data.get(key, (0, 0.0))
            if expires <= now:
                count, expires = 0, now + window_s
            self._data[key] = (count + 1, expires)
            return count + 1

    def reset(self, key: str) -> None:
        """Forget the key."""
        with self._lock:
            self._data.pop(key, None)


class RedisLimiter:
    """Limiter shared by every server process through Redis (INCR with an expiry set once)."""

    def __init__(self, client: redis.Redis, prefix: str = "siyu:limit:") -> None:
        self._r = client
        self._prefix = prefix

    def count(self, key: str) -> tuple[int, int]:
        """Current count and seconds left in the window."""
        pipe = self._r.pipeline()
        pipe.get(self._prefix + key)
        pipe.ttl(self._prefix + key)
        raw, ttl = pipe.execute()
        return (int(raw) if raw is not None else 0), max(int(ttl), 0)

    def hit(self, key: str, window_s: int) -> int:
        """Add one; the expiry is set only when the key is new, so the window is fixed."""
        pipe = self._r.pipeline()
        pipe.incr(self._prefix + key)
        pipe.expire(self._prefix + key, window_s, nx=True)
        count, _ = pipe.execute()
        return int(count)

    def reset(self, key: str) -> None:
        """Forget the key."""
        self._r.delete(self._prefix + key)


def spend(limiter: FailureLimiter, key: str, *, most: int, window_s: int) -> None:
    """Count one attempt under `key` (one atomic increment, before any work), and refuse with 429
    `too_many_attempts` once more than `most` fall in the window — counting first means a burst of
    concurrent attempts cannot all pass a check made before any of them is counted."""
    if limiter.hit(key, window_s) > most:
        raise DomainError("too_many_attempts", retry_after_s=max(limiter.count(key)[1], 1))


_limiter: FailureLimiter | None = None


def get_limiter(redis_url: str | None) -> FailureLimiter:
    """The process limiter: Redis when a URL is configured, else in-process."""
    global _limiter
    if _limiter is None:
        _limiter = RedisLimiter(redis.Redis.from_url(redis_url)) if redis_url else MemoryLimiter()
    return _limiter


def set_limiter(limiter: FailureLimiter | None) -> None:
    """Replace the process limiter (tests)."""
    global _limiter
    _limiter = limiter


class Bulkhead:
    """At most `size` holders at once per process; the rest wait up to `wait_s`, then get 503.

    Expensive work (password hashing, exports) goes through one, so a burst queues briefly or is
    refused with Retry-After instead of taking every worker thread and database connection.
    """

    def __init__(self, what_zh: str, what_en: str, size: int, *, wait_s: float = 0.0, retry_after_s: int = 5):
        self._semaphore = threading.BoundedSemaphore(size)
        self.what_zh, self.what_en = what_zh, what_en
        self.wait_s, self.retry_after_s = wait_s, retry_after_s

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one place for the block, or raise `server_busy` (503) when none frees in time."""
        acquired = (
            self._semaphore.acquire(timeout=self.wait_s)
            if self.wait_s > 0
            else self._semaphore.acquire(False)
        )
        if not acquired:
            raise DomainError(
                "server_busy", what_zh=self.what_zh, what_en=self.what_en, retry_after_s=self.retry_after_s
            )
        try:
            yield
        finally:
            self._semaphore.release()


# Argon2 takes ~50 ms of one core: as many at once as there are cores, a short queue, then 503.
PASSWORD_CHECKS = Bulkhead(
    "登录校验", "sign-in checks", max(2, os.cpu_count() or 2), wait_s=5.0, retry_after_s=2
)
# Exports read a whole brand and write a file: two at a time per process; the rest are told to retry.
EXPORTS = Bulkhead("导出", "exports", 2, retry_after_s=10)
