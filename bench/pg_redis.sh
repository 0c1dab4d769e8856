#!/usr/bin/env bash
# Postgres 15 + Redis 7, from start to all ready and then stopped: teamster against
# pytest-postgresql + pytest-redis (mirakuru executors), measured in the same run.
#   bash bench/pg_redis.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-7}"
python3 -m pip install --quiet --disable-pip-version-check pytest-postgresql pytest-redis
cargo bench -q -p teamster --bench pg_redis -- "$runs" | tee /tmp/teamster-pg-redis.json
python3 bench/peer_pg_redis.py "$runs" | tee /tmp/peer-pg-redis.json
python3 - <<'PY'
import json, statistics as st
t = json.load(open("/tmp/teamster-pg-redis.json"))
p = json.load(open("/tmp/peer-pg-redis.json"))
for key, label in (("ready_s", "start → all ready"), ("total_s", "start → ready → stopped")):
    a, b = st.median(t[key]), st.median(p[key])
    print(f"{label}: teamster {a*1000:.0f} ms, pytest-postgresql+pytest-redis {b*1000:.0f} ms, ratio {a/b:.3f}×")
PY
