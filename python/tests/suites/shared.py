"""Run with `-n 4`: every test, on whichever worker, must see one and the same bundle."""

import os
from pathlib import Path

import psycopg2
import pytest
import redis


@pytest.mark.parametrize("n", range(16))
def test_sees_the_shared_bundle(teamster, n):
    out = Path(os.environ["TEAMSTER_TEST_OUT"])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with psycopg2.connect(teamster["db"].connection["url"]) as conn, conn.cursor() as cur:
        cur.execute("select 1")
        assert cur.fetchone() == (1,)
    r = redis.Redis.from_url(teamster["cache"].connection["url"])
    r.incr("tests")
    line = f"{worker} {teamster.pid} {teamster['db'].pid} {os.getpid()}\n"
    with open(out / "seen.txt", "a") as f:
        f.write(line)
