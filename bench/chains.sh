#!/usr/bin/env bash
# Dependency chains as whole processes: exec of `teamster up` on a generated chain of N
# trivial services (`s{i}` needs `s{i-1}`, each `sleep 600`, ready once spawned) until it
# prints its "services ready" line, then SIGINT and the time until it has exited (every
# service stopped). `cargo bench --bench chains` measures the same chains inside one host
# process; this adds the binary's own start-up, the console and the CLI's stop.
# Sizes run interleaved (20 200 2000, 20 200 2000, …) after one warm-up each, so the
# machine's drift spreads over all of them; medians and ranges.
#   bash bench/chains.sh [runs] [teamster binary] [sizes…]
#   e.g. bash bench/chains.sh 5 target/release/teamster 20 200 2000
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
bin="${2:-target/release/teamster}"
shift 2 2>/dev/null || shift $#
sizes="${*:-20 200 2000}"
[ -x "$bin" ] || cargo build -q --release -p teamster
python3 - "$runs" "$(realpath "$bin")" $sizes <<'PY'
import os, signal, statistics as st, subprocess, sys, tempfile, time

runs, teamster, sizes = int(sys.argv[1]), sys.argv[2], [int(n) for n in sys.argv[3:]]

def chain(n):
    t = [f'startup_timeout = "{60 + n // 5}s"\n']
    for i in range(n):
        t.append(f'[services.s{i}]\ncommand = ["sleep", "600"]\n')
        if i:
            t.append(f'needs = ["s{i - 1}"]\n')
    return "".join(t)

def up(n):
    """Seconds from exec to "services ready", and from SIGINT to the host's exit."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "bundle.toml"), "w") as f:
            f.write(chain(n))
        t0 = time.perf_counter()
        p = subprocess.Popen([teamster, "up"], cwd=d, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env={**os.environ, "NO_COLOR": "1"})
        ready = None
        for line in p.stdout:
            if b"services ready" in line:
                ready = time.perf_counter() - t0
                break
        if ready is None:
            p.wait()
            sys.exit(f"teamster up of a {n}-chain exited with {p.returncode} before ready")
        t1 = time.perf_counter()
        p.send_signal(signal.SIGINT)
        p.stdout.read()
        p.wait(timeout=300)
        return ready, time.perf_counter() - t1

for n in sizes:
    up(n)  # warm-up: page cache, the binary's pages
ready = {n: [] for n in sizes}
stop = {n: [] for n in sizes}
for _ in range(runs):
    for n in sizes:
        r, s = up(n)
        ready[n].append(r)
        stop[n].append(s)

def ms(xs):
    return f"median {st.median(xs)*1000:8.0f} ms (range {min(xs)*1000:.0f}–{max(xs)*1000:.0f})"

for n in sizes:
    per = [r * 1000 / n for r in ready[n]]
    print(f"chain of {n:>5}: exec → services ready {ms(ready[n])}, "
          f"{st.median(per):.2f} ms/service ({min(per):.2f}–{max(per):.2f}); "
          f"SIGINT → exit {ms(stop[n])}")
PY
