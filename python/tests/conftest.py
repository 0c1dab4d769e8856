"""Fixtures of the package's tests; the helpers are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

import teamster
from helpers import HERE, Project

collect_ignore = ["suites"]


def pytest_configure(config: pytest.Config) -> None:
    # The point of these tests is the installed wheel: refuse to pass against the source.
    installed = Path(teamster.__file__).resolve()
    if (HERE.parent / "src") in installed.parents and not os.environ.get("TEAMSTER_TEST_SOURCE"):
        raise pytest.UsageError(
            f"teamster is imported from the source tree ({installed}); run the tests with "
            "python/run-tests.sh, which installs the wheel into a venv"
        )


@pytest.fixture
def project() -> Iterator[Project]:
    p = Project()
    try:
        yield p
    finally:
        p.cleanup()
