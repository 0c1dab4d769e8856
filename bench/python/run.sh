#!/usr/bin/env bash
# The Python benchmarks (issue 10): a 40-test `-n 4` suite on teamster against
# pytest-postgresql + pytest-redis, attach latency, `until` callback latency, import time.
#   bash bench/python/run.sh [rounds] [suite,attach,until,import]
# Builds the wheel from the debug build if python/dist has none (python/build-wheel.sh).
# As root, the two suites run as the `postgres` user, so the venv is made with a
# world-readable interpreter (/usr/bin/python3) in a world-readable place.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${TEAMSTER_BENCH_VENV:-/tmp/teamster-bench-venv}"
python="${PYTHON:-/usr/bin/python3}"
if [ ! -x "$python" ]; then python="python3"; fi

wheel="$(ls "$root"/python/dist/teamster-*.whl 2>/dev/null | head -n 1 || true)"
if [ -z "$wheel" ]; then wheel="$("$root/python/build-wheel.sh" | tail -n 1)"; fi
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall \
    --no-deps "$wheel"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check pytest pytest-xdist \
    'psycopg2-binary>=2.9' 'redis>=5' pytest-postgresql pytest-redis
chmod -R a+rX "$venv"
cd "$here"
exec "$venv/bin/python" run.py "$@"
