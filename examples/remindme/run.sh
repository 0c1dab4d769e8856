#!/usr/bin/env bash
# The main demo, from a fresh Debian machine: hitchserve's reminders app on its whole
# stack (PostgreSQL, Redis, Django, a Celery worker with beat, an SMTP sink, headless
# Chromium behind chromedriver). Installs what it needs, builds teamster, starts the
# bundle, has Selenium save a reminder due in 30 days through the real browser, checks that
# no mail went out, travels 31 days ahead, waits for the periodic task's mail, stops, and
# checks that no process of the bundle is left.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
demo="$root/examples/remindme"
cd "$root"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "==> installing PostgreSQL, Redis, Chromium, chromedriver and Python"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql redis-server \
    chromium chromium-driver python3 python3-pip python3-venv ca-certificates >/dev/null
$SUDO service postgresql stop >/dev/null 2>&1 || true
$SUDO service redis-server stop >/dev/null 2>&1 || true
rustup target add wasm32-wasip2

echo "==> Python packages (Django, Celery, Selenium, ... into target/demo-venv)"
venv="$root/target/demo-venv"
if [ ! -x "$venv/bin/python3" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export PATH="$venv/bin:$PATH"

echo "==> building teamster"
# The debug build is the one the tests use: after the test command, this is no extra build.
cargo build --locked
target="${CARGO_TARGET_DIR:-$root/target}"
export PATH="$target/debug:$PATH"

echo "==> starting the bundle"
cd "$demo"
log="$(mktemp)"
pids="$(mktemp)"
teamster up bundle.toml >"$log" 2>&1 &
up=$!
trap 'kill -INT $up 2>/dev/null || true; wait $up 2>/dev/null || true; rm -f "$log" "$pids"' EXIT
for _ in $(seq 1 1800); do
    if grep -q "services ready" "$log"; then break; fi
    if ! kill -0 $up 2>/dev/null; then cat "$log"; echo "teamster up failed"; exit 1; fi
    sleep 0.1
done
grep -q "services ready" "$log" || { cat "$log"; echo "the bundle did not start"; exit 1; }
grep "teamster\]" "$log"
python3 drive.py pids "$pids"

echo "==> Selenium saves a reminder due in 30 days, in the real browser"
python3 drive.py form

echo "==> no mail yet"
python3 drive.py no-mail

echo "==> a sub-command in the worker's environment"
teamster exec worker celery inspect ping

echo "==> time travel: 31 days ahead; beat runs its hourly task, which mails the reminder"
teamster travel +31d
python3 drive.py await-mail

echo "==> stopping"
kill -INT $up
wait $up
trap 'rm -f "$log" "$pids"' EXIT
python3 drive.py gone "$pids"
echo "demo finished: the reminder was mailed after the travel, and every process is gone"
