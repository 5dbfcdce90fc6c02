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


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a module of tiny networks: threading only adds overhead there
    (and stalls on a busy CPU). Deterministic training and bench cells pin their own count
    (factorbench.seeding.fixed_threads); this covers the forward passes a test makes outside
    them. Use: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
