#!/usr/bin/env bash
# Builds the wheel, installs it into a fresh venv with the test dependencies, and runs ruff,
# mypy and the Python tests against the installed package (not the source tree).
#
# Usage: python/run-tests.sh [PYTEST ARGS...]     (CI calls it after `cargo test`)
# Needs PostgreSQL, Redis and the workspace's debug build (see .ci/run).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3}"
venv="${TEAMSTER_TEST_VENV:-$here/.venv}"

wheel="$("$here/build-wheel.sh" | tail -n 1)"
echo "==> wheel: $wheel ($(du -h "$wheel" | cut -f1))"

echo "==> venv $venv"
rm -rf "$venv"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" "$wheel" psutil pytest pytest-xdist ruff mypy \
    'Django>=4.2,<6' 'psycopg2-binary>=2.9' 'redis>=5' 'ipykernel>=6.20' 'jupyter-console>=6.6'

echo "==> ruff"
cd "$here"
"$venv/bin/ruff" check .
"$venv/bin/ruff" format --check .

echo "==> mypy"
"$venv/bin/mypy"

echo "==> pytest (against $("$venv/bin/python" -c 'import teamster; print(teamster.__file__)'))"
# Run from the tests directory so that `src/` is never on sys.path; TEAMSTER_BIN must not
# point the installed package at another binary.
cd "$here/tests"
unset TEAMSTER_BIN TEAMSTER_CLOCK_LIB TEAMSTER_CONNECTIONS
set +e
"$venv/bin/python" -m pytest -c "$here/pyproject.toml" --rootdir "$here" -p no:cacheprovider \
    -v "$@" .
status=$?
set -e
# pytest exits 5 when it ran no test: that is a failure here, never a silent pass.
if [ "$status" -eq 5 ]; then
    echo "error: pytest collected no tests" >&2
    exit 1
fi
exit "$status"
