#!/usr/bin/env bash
# chromedriver from start to ready: a whole `teamster up` process (until it prints
# "services ready") against chromedriver started by hand with a shell loop polling its
# output for the ready line every 100 ms. Runs alternate A B A B; medians and ranges.
#   bash bench/chromedriver.sh [runs] [teamster binary]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-9}"
bin="${2:-target/debug/teamster}"
[ -x "$bin" ] || cargo build -q
python3 - "$runs" "$(realpath "$bin")" <<'PY'
import os, signal, socket, statistics as st, subprocess, sys, tempfile, time

runs, teamster = int(sys.argv[1]), sys.argv[2]

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def teamster_up():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "bundle.toml"), "w") as f:
            f.write('[services.browser]\nkind = "chromedriver"\n')
        t0 = time.perf_counter()
        p = subprocess.Popen([teamster, "up"], cwd=d, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        for line in p.stdout:
            if b"services ready" in line:
                break
        took = time.perf_counter() - t0
        p.send_signal(signal.SIGINT)
        p.wait(timeout=30)
        return took

# The hand-made peer: what a test script without teamster does.
HAND = r'''
log="$1/log"; chromedriver --port="$2" >"$log" 2>&1 & pid=$!
until grep -q "ChromeDriver was started successfully" "$log"; do sleep 0.1; done
echo ready; wait $pid
'''

def by_hand():
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        p = subprocess.Popen(["sh", "-c", HAND, "sh", d, str(free_port())],
                             stdout=subprocess.PIPE, start_new_session=True)
        p.stdout.readline()
        took = time.perf_counter() - t0
        os.killpg(p.pid, signal.SIGTERM)
        p.wait(timeout=30)
        return took

teamster_up(); by_hand()  # warm-up: page cache, compiled plugin cache
a, b = [], []
for _ in range(runs):
    a.append(teamster_up())
    b.append(by_hand())
ms = lambda xs: f"median {st.median(xs)*1000:.0f} ms (range {min(xs)*1000:.0f}–{max(xs)*1000:.0f})"
print(f"teamster up, start → services ready: {ms(a)}")
print(f"by hand, start → ready line seen (100 ms polling): {ms(b)}")
print(f"ratio of medians: {st.median(a)/st.median(b):.2f}×")
PY
