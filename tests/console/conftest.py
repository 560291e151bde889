"""The console tests' client: the app on the world's engine, its own cookie jar, no redirects followed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.app import create_app
from tests.console.support import same_site_browser
from tests.factories import World


@pytest.fixture
def browser(world: World) -> Iterator[TestClient]:
    """A client of its own (its own cookie jar), not following redirects, that posts with the CSRF
    token as the console's own pages do (tests of refusals build their own requests)."""
    with TestClient(create_app(engine=world.engine), follow_redirects=False) as client:
        yield same_site_browser(client)
