"""Fixtures and markers shared by every test module."""

from __future__ import annotations

import pytest

from dexmood import cohort
from dexmood.settings import SETTINGS


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: a long test (minutes); still part of `make test`")


@pytest.fixture(scope="session")
def simulated() -> cohort.Cohort:
    """The book's simulated cohort (default design, the book's seed), drawn once per test session."""
    return cohort.simulate(seed=SETTINGS.seed)
