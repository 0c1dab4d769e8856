#!/usr/bin/env bash
# A Celery worker on a Redis broker, from start to ready: a whole `teamster up` process of a
# {redis, celery} bundle (until it prints "services ready") against the same two servers
# started by hand, with a shell loop polling their output for both ready lines every
# 100 ms. The app is tests/data/celery/tasks.py. Runs alternate A B A B; medians, ranges.
#   bash bench/celery.sh [runs] [teamster binary]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-9}"
bin="${2:-target/debug/teamster}"
[ -x "$bin" ] || cargo build -q
# Celery, redis-py and friends come from the CI venv when it exists.
if [ -d target/ci-venv/bin ]; then PATH="$PWD/target/ci-venv/bin:$PATH"; fi
# Both sides import the same app and libraries; let Python keep its bytecode cache, as it
# does on a user's machine.
unset PYTHONDONTWRITEBYTECODE
export PATH NO_COLOR=1 PYTHONUNBUFFERED=1
python3 - "$runs" "$(realpath "$bin")" "$PWD/tests/data/celery" <<'PY'
import os, re, signal, socket, statistics as st, subprocess, sys, tempfile, time

runs, teamster, app_dir = int(sys.argv[1]), sys.argv[2], sys.argv[3]

# A SIGTERM or SIGHUP to this script still runs the clean-up below (`finally`).
for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda n, _: sys.exit(128 + n))

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def stop_group(p, sig=signal.SIGTERM, grace=15):
    """Signals the process group that `p` leads, then waits for it to be empty (reaping `p`
    itself, which would stay in it as a zombie); SIGKILL after `grace` seconds."""
    pgid = p.pid
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        p.poll()
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass

BUNDLE = f'''
startup_timeout = "120s"

[services.cache]
kind = "redis"

[services.worker]
kind = "celery"
[services.worker.config]
app = "tasks"
app_dir = "{app_dir}"
broker = "${{cache.url}}"
'''

def teamster_up():
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "bundle.toml"), "w") as f:
            f.write(BUNDLE)
        worker_ms = None
        t0 = time.perf_counter()
        p = subprocess.Popen([teamster, "up"], cwd=d, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, start_new_session=True)
        try:
            for line in p.stdout:
                m = re.search(rb"worker is ready \((\d+) ms\)", line)
                if m:
                    worker_ms = int(m.group(1))
                if b"services ready" in line:
                    break
            else:
                raise SystemExit("teamster up ended before its services were ready")
            took = time.perf_counter() - t0
            p.send_signal(signal.SIGINT)
            p.communicate(timeout=60)
        finally:
            stop_group(p)  # anything left behind (nothing, normally)
        return took, worker_ms

# The hand-made peer: what a test script without teamster does. Both servers start at
# once (the worker retries the broker until it answers); one loop polls both logs.
HAND = r'''
d="$1"; port="$2"; app="$3"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$d" \
    >"$d/redis.log" 2>&1 &
(cd "$app" && exec celery -A tasks -b "redis://127.0.0.1:$port/0" worker --loglevel=INFO) \
    >"$d/worker.log" 2>&1 &
until grep -q "Ready to accept connections" "$d/redis.log" &&
      grep -q " ready\.$" "$d/worker.log"; do
    sleep 0.1
done
echo ready; wait
'''

def by_hand():
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        p = subprocess.Popen(["sh", "-c", HAND, "sh", d, str(free_port()), app_dir],
                             stdout=subprocess.PIPE, start_new_session=True)
        try:
            if p.stdout.readline() != b"ready\n":
                raise SystemExit("the hand-made script ended before both were ready")
            took = time.perf_counter() - t0
        finally:
            stop_group(p)
            p.wait(timeout=30)
        return took

teamster_up(); by_hand()  # warm-up: page cache, compiled plugins, bytecode
a, w, b = [], [], []
for i in range(runs):
    took, worker_ms = teamster_up()
    a.append(took)
    if worker_ms is not None:
        w.append(worker_ms / 1000)
    b.append(by_hand())
    print(f"run {i + 1}: teamster {a[-1]*1000:.0f} ms, by hand {b[-1]*1000:.0f} ms",
          file=sys.stderr)
ms = lambda xs: f"median {st.median(xs)*1000:.0f} ms (range {min(xs)*1000:.0f}–{max(xs)*1000:.0f})"
print(f"runs: {runs} each, alternating")
print(f"teamster up, start → services ready: {ms(a)}")
if w:
    print(f"  teamster's own \"worker is ready\" figure: {ms(w)}")
print(f"by hand, start → both ready lines seen (100 ms polling): {ms(b)}")
print(f"ratio of medians: {st.median(a)/st.median(b):.2f}×")
PY
