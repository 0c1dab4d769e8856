"""40 tests, each querying Postgres and Redis, on teamster's shared bundle (`-n 4`: one
bundle for every worker)."""

import psycopg2
import pytest
import redis


@pytest.fixture(scope="session")
def pg_url(teamster):
    return teamster["db"].connection["url"]


@pytest.fixture(scope="session")
def redis_url(teamster):
    return teamster["cache"].connection["url"]


@pytest.mark.parametrize("n", range(40))
def test_query(pg_url, redis_url, n):
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("select %s + 1", (n,))
        assert cur.fetchone() == (n + 1,)
    r = redis.Redis.from_url(redis_url)
    assert r.incr(f"k{n}") >= 1
