"""The sign-in limiter on a real Redis: counts shared between server processes, fixed windows."""

from __future__ import annotations

import uuid

import redis
from fastapi.testclient import TestClient

from siyu.platform.limits import RedisLimiter, set_limiter
from tests.factories import World


def test_counts_are_shared_and_the_window_is_fixed(redis_url: str) -> None:
    prefix = f"siyu:test:{uuid.uuid4().hex}:"
    one = RedisLimiter(redis.Redis.from_url(redis_url), prefix=prefix)
    two = RedisLimiter(redis.Redis.from_url(redis_url), prefix=prefix)  # as a second server process would
    assert one.count("k") == (0, 0)
    assert one.hit("k", 900) == 1
    assert two.hit("k", 900) == 2
    count, ttl = two.count("k")
    assert count == 2 and 0 < ttl <= 900
    # A later hit does not extend the window (EXPIRE NX).
    one.hit("k", 5000)
    assert 0 < one.count("k")[1] <= 900
    two.reset("k")
    assert one.count("k") == (0, 0)


def test_sign_in_lockout_through_redis(client: TestClient, world: World, redis_url: str) -> None:
    limiter = RedisLimiter(redis.Redis.from_url(redis_url), prefix=f"siyu:test:{uuid.uuid4().hex}:")
    set_limiter(limiter)
    for _ in range(10):
        r = client.post(
            "/api/v1/auth/sign-in", json={"tenant": world.slug, "username": "owner", "password": "wrong-pass"}
        )
        assert r.status_code == 401
    assert limiter.count(f"sign-in:{world.slug}:owner")[0] == 10
    blocked = client.post(
        "/api/v1/auth/sign-in", json={"tenant": world.slug, "username": "owner", "password": "x"}
    )
    assert blocked.status_code == 429


def test_concurrent_guesses_through_redis_check_only_the_limit(
    client: TestClient, world: World, redis_url: str
) -> None:
    """Hardening 3: the attempt is counted atomically (INCR) before hashing, also across processes."""
    from tests.support import run_threads

    set_limiter(RedisLimiter(redis.Redis.from_url(redis_url), prefix=f"siyu:test:{uuid.uuid4().hex}:"))
    body = {"tenant": world.slug, "username": "owner", "password": "wrong-password-2"}
    statuses = run_threads(30, lambda _: client.post("/api/v1/auth/sign-in", json=body).status_code)
    assert sorted(statuses) == [401] * 10 + [429] * 20
