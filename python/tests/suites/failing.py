"""One test fails after the service wrote a marker: its report must quote the logs."""

import pytest


def test_fails(teamster):
    teamster["echo"].logs.until("marker-for-the-report", timeout=10, lines_back=100)
    pytest.fail("this test fails on purpose")
