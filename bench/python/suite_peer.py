"""The same 40 tests on pytest-postgresql + pytest-redis process fixtures: one server pair
per xdist worker, as those plugins give."""

import psycopg2
import pytest
import redis
from pytest_postgresql import factories as pg_factories
from pytest_redis import factories as redis_factories

postgresql_proc = pg_factories.postgresql_proc(port=None)
redis_proc = redis_factories.redis_proc(port=None)


@pytest.fixture(scope="session")
def pg_url(postgresql_proc):
    p = postgresql_proc
    return f"postgresql://{p.user}@{p.host}:{p.port}/postgres"


@pytest.fixture(scope="session")
def redis_url(redis_proc):
    return f"redis://{redis_proc.host}:{redis_proc.port}/0"


@pytest.mark.parametrize("n", range(40))
def test_query(pg_url, redis_url, n):
    with psycopg2.connect(pg_url) as conn, conn.cursor() as cur:
        cur.execute("select %s + 1", (n,))
        assert cur.fetchone() == (n + 1,)
    r = redis.Redis.from_url(redis_url)
    assert r.incr(f"k{n}") >= 1
