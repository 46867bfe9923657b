"""Shared test configuration: hypothesis profiles, markers, the private redis-server."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["redis_fixture"]

settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], print_blob=True
)
settings.register_profile(
    "ci",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
    print_blob=True,
)
settings.load_profile("ci" if os.environ.get("CI") else "default")
