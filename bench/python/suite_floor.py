"""The floor: the same 40 tests' shape with no service at all, to show what `-n 4` costs
by itself on this machine (interpreters, pytest and xdist start-up)."""

import pytest


@pytest.mark.parametrize("n", range(40))
def test_query(n):
    assert n + 1 > n
