"""Test-wide settings: dataset caches go to a per-session temporary folder."""

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory):
    old = os.environ.get("FACTORBENCH_CACHE")
    os.environ["FACTORBENCH_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("FACTORBENCH_CACHE", None)
    else:
        os.environ["FACTORBENCH_CACHE"] = old
