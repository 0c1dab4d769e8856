#!/usr/bin/env python3
"""The peer side of the Postgres + Redis benchmark: pytest-postgresql and pytest-redis
executors (mirakuru), starting the same two servers the way their pytest fixtures do
(initdb + pg_ctl start, then redis-server), until both are ready, then stopping both.

Prints one JSON object: {"runs": N, "ready_s": [...], "total_s": [...]}.
PostgreSQL refuses to run as root: when run as root, pg_ctl goes through a one-line
`runuser -u postgres` wrapper (which costs a few milliseconds per call; teamster pays the
same kind of cost switching users in its supervisor).
"""
import glob
import json
import os
import pathlib
import shutil
import socket
import sys
import tempfile
import time

from pytest_postgresql.executors import PostgreSQLExecutor
from pytest_redis.executor import RedisExecutor


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_ctl(tmp):
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        sys.exit("pg_ctl not found under /usr/lib/postgresql/*/bin")
    if os.geteuid() != 0:
        return found[-1]
    wrapper = os.path.join(tmp, "pg_ctl")
    with open(wrapper, "w") as f:
        f.write(f'#!/bin/sh\nexec runuser -u postgres -- {found[-1]} "$@"\n')
    os.chmod(wrapper, 0o755)
    os.chmod(tmp, 0o777)
    return wrapper


def start_both(tmp):
    """Starts PostgreSQL, then Redis, as the two plugins' fixtures do; returns both."""
    pg = PostgreSQLExecutor(
        executable=pg_ctl(tmp),
        host="127.0.0.1",
        port=free_port(),
        datadir=os.path.join(tmp, "pg"),
        unixsocketdir=tmp,
        logfile=os.path.join(tmp, "pg.log"),
        startparams="-w",
        dbname="tests",
        postgres_options="-F",
    )
    pg.start()
    redis = RedisExecutor(
        executable=shutil.which("redis-server"),
        databases=8,
        redis_timeout=30,
        loglevel="notice",
        host="127.0.0.1",
        port=free_port(),
        datadir=pathlib.Path(tmp),
    )
    redis.start()
    return pg, redis


def one_run():
    tmp = tempfile.mkdtemp(prefix="peer-bench-")
    try:
        t0 = time.perf_counter()
        pg, redis = start_both(tmp)
        ready = time.perf_counter() - t0
        redis.stop()
        pg.stop()
        return ready, time.perf_counter() - t0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    if sys.argv[1:] == ["--once"]:
        # One run as a whole process, for bench/pg_redis.sh: "ready <seconds>" (the time
        # inside this process) once both servers are ready, then both are stopped.
        tmp = tempfile.mkdtemp(prefix="peer-bench-")
        try:
            t0 = time.perf_counter()
            pg, redis = start_both(tmp)
            print(f"ready {time.perf_counter() - t0:.6f}", flush=True)
            redis.stop()
            pg.stop()
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    one_run()  # warm-up, as for teamster
    ready, total = [], []
    for _ in range(runs):
        r, t = one_run()
        ready.append(r)
        total.append(t)
    print(json.dumps({"runs": runs, "ready_s": ready, "total_s": total}))


if __name__ == "__main__":
    main()
