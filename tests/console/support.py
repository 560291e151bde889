"""Helpers the console tests share."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import World


def as_role(client: TestClient, w: World, role: str) -> TestClient:
    """The client signed in (session cookie) as one of the world's roles."""
    client.cookies.set("siyu_session", w.tokens[role])
    return client
