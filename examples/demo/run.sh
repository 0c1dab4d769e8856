#!/usr/bin/env bash
# The main demo, from a fresh Debian machine: installs what the demo needs, builds teamster,
# starts the demo bundle (PostgreSQL + Redis + smtp-sink + a Django app), drives the app,
# shows a sub-command and a time travel, then stops everything.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
demo="$root/examples/demo"
cd "$root"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "==> installing PostgreSQL, Redis and Python packages"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends postgresql redis-server python3 python3-pip \
    python3-venv ca-certificates >/dev/null
$SUDO service postgresql stop >/dev/null 2>&1 || true
$SUDO service redis-server stop >/dev/null 2>&1 || true
rustup target add wasm32-wasip2
# A venv of its own: Debian's own Python refuses `pip install` outside one (PEP 668).
venv="$root/target/demo-venv"
if [ ! -x "$venv/bin/python3" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export PATH="$venv/bin:$PATH"

echo "==> building teamster"
# The debug build is the one the tests use: after the test command, this is no extra build.
cargo build --locked
teamster="${CARGO_TARGET_DIR:-$root/target}/debug/teamster"

echo "==> starting the demo bundle"
cd "$demo"
log="$(mktemp)"
"$teamster" up bundle.toml >"$log" 2>&1 &
up=$!
trap 'kill -INT $up 2>/dev/null || true; wait $up 2>/dev/null || true' EXIT
for _ in $(seq 1 1200); do
    if grep -q "services ready" "$log"; then break; fi
    if ! kill -0 $up 2>/dev/null; then cat "$log"; echo "teamster up failed"; exit 1; fi
    sleep 0.1
done
cat "$log"
url="$(python3 -c 'import json,sys; print(json.load(open(".teamster/current/connections.json"))["web"]["url"])')"

echo "==> driving the app at $url"
python3 drive.py "$url"

echo "==> a sub-command in the database's environment"
"$teamster" exec db psql -c 'select count(*) as notes from notes_note'

echo "==> time travel: 30 days ahead"
"$teamster" travel +30d
python3 -c "import json,urllib.request; print('the app now thinks it is', json.load(urllib.request.urlopen('${url}now'))['now'])"

echo "==> the mails the app sent (from the smtp-sink's JSON log)"
grep -h '"subject"' .teamster/current/logs/mail.out || true

echo "==> stopping"
kill -INT $up
wait $up
trap - EXIT
echo "demo finished: every service stopped"
