"""External mode: connection info from a file, and nothing else."""

import pytest

import teamster as tm


def test_connection_info_comes_from_the_file(teamster):
    assert teamster["db"].connection == {"url": "postgresql://u:p@127.0.0.1:1/app", "port": "1"}
    assert list(teamster) == ["db", "cache"]


def test_lifecycle_is_not_available(teamster):
    with pytest.raises(tm.TeamsterError, match="external"):
        teamster["db"].logs  # noqa: B018
    with pytest.raises(tm.TeamsterError, match="external"):
        teamster.time_travel(days=1)
