#!/usr/bin/env bash
# Postgres 15 + Redis 7, from exec to all ready, as whole processes: `teamster up` of a
# two-service bundle (until it prints "services ready") against pytest-postgresql +
# pytest-redis (mirakuru executors, as their fixtures start the servers; bench/peer_pg_redis.py
# --once, until it prints "ready"). Both are then stopped (SIGINT to teamster) and timed to
# their exit too.
#
# First a cold start of each: teamster with an empty compile cache, an empty kind cache (no
# initdb template) and a new project (no spare data directory). Then runs alternate
# A B A B, teamster's back to back in one project as a suite's are, because this machine's
# speed drifts. Medians and ranges.
#   bash bench/pg_redis.sh [runs] [teamster binary]
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-9}"
bin="${2:-target/release/teamster}"
[ -x "$bin" ] || cargo build -q --release -p teamster
venv=target/bench-venv
[ -x "$venv/bin/python3" ] || python3 -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --disable-pip-version-check pytest-postgresql pytest-redis
"$venv/bin/python3" - "$runs" "$(realpath "$bin")" "$(realpath bench/peer_pg_redis.py)" <<'PY'
import os, pwd, signal, statistics as st, subprocess, sys, tempfile, time

runs, teamster, peer = int(sys.argv[1]), sys.argv[2], sys.argv[3]
root = tempfile.mkdtemp(prefix="pg-redis-bench-")
os.chmod(root, 0o755)
project = os.path.join(root, "project")
os.mkdir(project)
# Private caches, so the first start is cold whatever ran before: teamster's compile cache
# (TEAMSTER_HOME) and the postgres kind's template cache (the service's XDG_CACHE_HOME).
home = os.path.join(root, "home")
pg_cache = os.path.join(root, "pg-cache")
os.mkdir(pg_cache)
user = ""
if os.geteuid() == 0:
    pg = pwd.getpwnam("postgres")
    os.chown(pg_cache, pg.pw_uid, pg.pw_gid)
    user = 'user = "postgres"\n'
with open(os.path.join(project, "bundle.toml"), "w") as f:
    f.write(f'[services.db]\nkind = "postgres"\n{user}env = {{ XDG_CACHE_HOME = "{pg_cache}" }}\n'
            '[services.cache]\nkind = "redis"\n')
env = {**os.environ, "NO_COLOR": "1", "TEAMSTER_HOME": home}

def timed(argv, cwd, needle):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    inside = None
    for line in p.stdout:
        if needle in line:
            ready = time.perf_counter() - t0
            if line.startswith(b"ready "):
                inside = float(line.split()[1])
            break
    else:
        sys.exit(f"{argv[0]} ended before it was ready")
    if argv[0] == teamster:
        p.send_signal(signal.SIGINT)
    p.stdout.read()
    p.wait(timeout=60)
    return ready, time.perf_counter() - t0, inside

def a():
    return timed([teamster, "up"], project, b"services ready")

def b():
    return timed([sys.executable, peer, "--once"], root, b"ready ")

cold_a, cold_b = a(), b()
ta, tb = [], []
for _ in range(runs):
    ta.append(a())
    tb.append(b())
ms = lambda x: f"{x * 1000:.0f} ms"
def summary(xs):
    return f"median {ms(st.median(xs))} (range {ms(min(xs))}–{ms(max(xs))})"
print(f"cold first start → all ready: teamster {ms(cold_a[0])}, peer {ms(cold_b[0])} "
      f"(inside its process {ms(cold_b[2])})")
print(f"{runs} alternating runs, exec → all ready:")
print(f"  teamster up:                       {summary([r[0] for r in ta])}")
print(f"  pytest-postgresql + pytest-redis:  {summary([r[0] for r in tb])}")
print(f"    of which inside its process:     {summary([r[2] for r in tb])}")
print(f"  ratio of medians: {st.median([r[0] for r in ta]) / st.median([r[0] for r in tb]):.3f}× "
      f"(against the peer's in-process time: "
      f"{st.median([r[0] for r in ta]) / st.median([r[2] for r in tb]):.3f}×)")
print("exec → ready → stopped (process gone):")
print(f"  teamster up:                       {summary([r[1] for r in ta])}")
print(f"  pytest-postgresql + pytest-redis:  {summary([r[1] for r in tb])}")
subprocess.run(["rm", "-rf", root])
PY
