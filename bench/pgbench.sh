#!/usr/bin/env bash
# pgbench select-only throughput of a PostgreSQL started by teamster, with the clock
# preload library (faketime = true, the default) and without it (faketime = false).
#   bash bench/pgbench.sh [seconds] [rounds]   (needs a built teamster: cargo build --release)
# Rounds alternate the two settings, so drift in the machine's speed hits both alike; the
# summary is the median of the per-round ratios.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
secs="${1:-10}"
rounds="${2:-5}"
teamster="${TEAMSTER:-${CARGO_TARGET_DIR:-$root/target}/release/teamster}"
user_line=""
if [ "$(id -u)" -eq 0 ]; then user_line='user = "postgres"'; fi

run() {
    local faketime="$1" dir port
    dir="$(mktemp -d)"; chmod 755 "$dir"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    cat >"$dir/bundle.toml" <<TOML
[services.db]
kind = "postgres"
faketime = $faketime
$user_line
[services.db.config]
port = $port
TOML
    (cd "$dir" && exec "$teamster" up -q >"$dir/up.log" 2>&1) &
    local up=$!
    for _ in $(seq 1 600); do
        if (cd "$dir" && "$teamster" now >/dev/null 2>&1); then break; fi
        sleep 0.05
    done
    pgbench -q -i -s 5 -h 127.0.0.1 -p "$port" -U postgres postgres >/dev/null 2>&1
    local tps
    tps="$(pgbench -S -c 2 -j 2 -T "$secs" -h 127.0.0.1 -p "$port" -U postgres postgres 2>/dev/null | awk '/^tps/ {print $3; exit}')"
    kill -INT "$up"; wait "$up" || true
    rm -rf "$dir"
    echo "$tps"
}

ratios=()
for r in $(seq 1 "$rounds"); do
    none="$(run false)"
    pre="$(run true)"
    ratio="$(python3 -c "print(f'{float(\"$pre\")/float(\"$none\"):.3f}')")"
    ratios+=("$ratio")
    echo "round $r: no preload $none tps, teamster preload $pre tps, ratio ${ratio}x"
done
python3 -c "import statistics, sys; r = sorted(map(float, sys.argv[1:])); print(f'pgbench -S, 2 clients, ${secs}s x ${rounds} rounds: median ratio {statistics.median(r):.3f}x (min {r[0]:.3f}, max {r[-1]:.3f})')" "${ratios[@]}"
