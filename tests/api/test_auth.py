"""Sign-in, tokens, API keys and the sign-in rate limit."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from siyu.access.passwords import hash_password
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from tests.factories import World, issue_token


def set_password(world: World, username: str, password: str) -> None:
    with unit_of_work(world.engine) as session:
        session.execute(
            update(Staff)
            .where(Staff.tenant_id == world.tenant_id, Staff.username == username)
            .values(password_hash=hash_password(password))
        )


def test_sign_in_issues_a_working_token_and_sign_out_revokes_it(client: TestClient, world: World) -> None:
    set_password(world, "manager", "correct horse")
    response = client.post(
        "/api/v1/auth/sign-in",
        json={"tenant": world.slug, "username": "manager", "password": "correct horse"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["staff"]["role"] == "store_manager"
    assert body["tenant"]["timezone"] == "Asia/Shanghai"
    headers = {"Authorization": f"Bearer {body['token']}"}
    me = client.get("/api/v1/me", headers=headers).json()
    assert (me["role"], me["scope"], me["store_ids"]) == ("store_manager", "stores", [world.store_ids[0]])
    assert client.post("/api/v1/auth/sign-out", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_wrong_password_and_unknown_user_answer_the_same(client: TestClient, world: World) -> None:
    set_password(world, "hq", "right-password")
    a = client.post(
        "/api/v1/auth/sign-in", json={"tenant": world.slug, "username": "hq", "password": "wrong-pass"}
    )
    b = client.post(
        "/api/v1/auth/sign-in", json={"tenant": world.slug, "username": "nobody", "password": "wrong-pass"}
    )
    assert a.status_code == b.status_code == 401
    assert a.json() == b.json()
    assert a.json()["error"]["code"] == "invalid_credentials"


def test_repeated_failures_are_rate_limited(client: TestClient, world: World) -> None:
    set_password(world, "analyst", "right-password")
    for _ in range(10):
        assert (
            client.post(
                "/api/v1/auth/sign-in",
                json={"tenant": world.slug, "username": "analyst", "password": "nope-nope"},
            ).status_code
            == 401
        )
    blocked = client.post(
        "/api/v1/auth/sign-in",
        json={"tenant": world.slug, "username": "analyst", "password": "right-password"},
    )
    assert blocked.status_code == 429
    assert blocked.json()["error"]["code"] == "too_many_attempts"
    assert int(blocked.headers["Retry-After"]) > 0


def test_expired_and_missing_tokens_are_401(client: TestClient, world: World) -> None:
    expired = issue_token(world.engine, world.tenant_id, world.staff["owner"], ttl=timedelta(seconds=-1))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/api/v1/me").status_code == 401
    assert client.get("/api/v1/me", headers={"Authorization": "Basic abc"}).status_code == 401


def test_departed_staff_tokens_stop_working(client: TestClient, world: World) -> None:
    headers = world.headers("guide")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    r = client.delete(f"/api/v1/staff/{world.staff['guide']}", headers=world.headers("owner"))
    assert r.status_code == 200 and r.json()["status"] == "departed"
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_api_keys_create_use_and_revoke(client: TestClient, world: World) -> None:
    created = client.post("/api/v1/api-keys", json={"name": "POS"}, headers=world.headers("owner"))
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("sk_")
    listed = client.get("/api/v1/api-keys", headers=world.headers("owner")).json()
    assert "key" not in listed[0]
    use = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert use.json()["role"] == "integration"
    client.post(f"/api/v1/api-keys/{created.json()['id']}/revoke", headers=world.headers("owner"))
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_weak_passwords_are_refused_with_the_reason(client: TestClient, world: World) -> None:
    """Hardening 7: at least ten characters, not only spaces or one character, not a common password."""
    base = {"employee_no": "PW1", "username": "pw-user", "name": "密码", "role": "guide"}
    for password, code in (
        ("short-pw", "validation_error"),
        ("1234567890", "weak_password"),
        ("Password123", "weak_password"),
        (" " * 10, "weak_password"),
        ("aaaaaaaaaaaa", "weak_password"),
    ):
        r = client.post("/api/v1/staff", json={**base, "password": password}, headers=world.headers("owner"))
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (password, r.text)
    listed = client.get("/api/v1/staff", params={"role": "guide"}, headers=world.headers("owner")).json()
    assert "pw-user" not in [s["username"] for s in listed["items"]]
    ok = client.post(
        "/api/v1/staff", json={**base, "password": "tea-and-plum-42"}, headers=world.headers("owner")
    )
    assert ok.status_code == 201
    message = client.post(
        "/api/v1/staff",
        json={**base, "username": "pw-two", "employee_no": "PW2", "password": "qwerty1234"},
        headers={**world.headers("owner"), "Accept-Language": "en"},
    ).json()["error"]["message"]
    assert message == "The password is too weak: this is one of the most common passwords; choose another"


def test_a_new_password_revokes_every_earlier_token(client: TestClient, world: World) -> None:
    """Hardening 7: changing a password ends the person's API tokens and console sessions."""
    old = world.headers("guide")
    assert client.get("/api/v1/me", headers=old).status_code == 200
    changed = client.patch(
        f"/api/v1/staff/{world.staff['guide']}",
        json={"password": "a-new-long-secret"},
        headers=world.headers("owner"),
    )
    assert changed.status_code == 200
    assert client.get("/api/v1/me", headers=old).status_code == 401
    fresh = client.post(
        "/api/v1/auth/sign-in",
        json={"tenant": world.slug, "username": "guide", "password": "a-new-long-secret"},
    )
    assert fresh.status_code == 200
    # Other people's tokens are untouched.
    assert client.get("/api/v1/me", headers=world.headers("guide2")).status_code == 200


def test_the_last_owner_can_be_neither_demoted_nor_departed(client: TestClient, world: World) -> None:
    """Hardening 7: a brand always keeps one active owner."""
    owner = world.headers("owner")
    url = f"/api/v1/staff/{world.staff['owner']}"
    for attempt in (
        client.patch(url, json={"role": "hq_operator"}, headers=owner),
        client.patch(url, json={"status": "departed"}, headers=owner),
        client.delete(url, headers=owner),
    ):
        assert attempt.status_code == 409 and attempt.json()["error"]["code"] == "last_owner"
    me = client.get("/api/v1/me", headers=owner).json()
    assert me["role"] == "owner"
    # With a second owner, the first may step down.
    promoted = client.patch(f"/api/v1/staff/{world.staff['hq']}", json={"role": "owner"}, headers=owner)
    assert promoted.status_code == 200
    assert client.patch(url, json={"role": "hq_operator"}, headers=owner).status_code == 200
    again = client.patch(
        f"/api/v1/staff/{world.staff['hq']}",
        json={"status": "departed"},
        headers=world.headers("hq_operator"),
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "last_owner"
