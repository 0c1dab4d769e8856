#!/usr/bin/env bash
# The whole examples/remindme stack (PostgreSQL, Redis, an SMTP sink, Django, a Celery
# worker with beat, chromedriver), from start to ready: a whole `teamster up` process of
# examples/remindme/bundle.toml (until it prints "all 6 services ready") against the same
# six servers started by a shell script as a user would write it, polling each server's
# output for its ready line every 100 ms, in dependency order. Two hand-made variants: one
# runs `initdb` every time, the other copies a data directory `initdb` made once before the
# runs. Runs alternate A B C A B C; medians and ranges.
#   bash bench/remindme.sh [runs] [teamster binary]
# Needs root (PostgreSQL runs as the `postgres` user, as the bundle says).
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-7}"
bin="${2:-target/debug/teamster}"
[ -x "$bin" ] || cargo build -q
[ "$(id -u)" -eq 0 ] || { echo "run as root: PostgreSQL runs as the postgres user" >&2; exit 1; }
# Django, Celery, psycopg2 come from the CI venv when it exists.
if [ -d target/ci-venv/bin ]; then PATH="$PWD/target/ci-venv/bin:$PATH"; fi
# Both sides import the same app and libraries; let Python keep its bytecode cache, as it
# does on a user's machine.
unset PYTHONDONTWRITEBYTECODE
pgbin="$(find /usr/lib/postgresql/*/bin -maxdepth 0 | sort -V | tail -n 1)"
export PATH NO_COLOR=1 PYTHONUNBUFFERED=1
python3 - "$runs" "$(realpath "$bin")" "$PWD/examples/remindme" "$pgbin" <<'PY'
import os, re, shutil, signal, socket, statistics as st, subprocess, sys, tempfile, time

runs, teamster, example, pgbin = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

# A SIGTERM or SIGHUP to this script still runs the clean-up below (`finally`).
for sig in (signal.SIGTERM, signal.SIGHUP):
    signal.signal(sig, lambda n, _: sys.exit(128 + n))

def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()

def stop_group(p, sig=signal.SIGTERM, grace=20):
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
    left = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(pgid)], capture_output=True,
                          text=True).stdout
    print(f"process group {pgid} still there after {grace} s, SIGKILL:\n{left}", file=sys.stderr)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass

work = tempfile.mkdtemp(prefix="bench-remindme-")
os.chmod(work, 0o711)  # the postgres user must reach its data directories below
# One private copy of the example (bundle.toml and app/), without the checked-in example's
# run directories and bytecode: teamster's runs go to <copy>/.teamster, the hand-made
# script runs the same app/ directory.
demo = os.path.join(work, "remindme")
shutil.copytree(example, demo, ignore=shutil.ignore_patterns(".teamster", "__pycache__"))
app = os.path.join(demo, "app")

def as_postgres(*args):
    subprocess.run(["runuser", "-u", "postgres", "--", *args], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

# The prepared template of variant C: made once, before any run, outside the timing.
template = os.path.join(work, "template")
os.mkdir(template)
shutil.chown(template, "postgres", "postgres")
as_postgres(f"{pgbin}/initdb", "-D", f"{template}/data", "--username=postgres",
            "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8")

def teamster_up():
    ready = {}
    t0 = time.perf_counter()
    p = subprocess.Popen([teamster, "up"], cwd=demo, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for line in p.stdout:
            m = re.search(rb"\[ *teamster\] (\w+) is ready \((\d+) ms\)", line)
            if m:
                ready[m.group(1).decode()] = time.perf_counter() - t0
            if b"services ready" in line:
                break
        else:
            raise SystemExit("teamster up ended before its services were ready")
        took = time.perf_counter() - t0
        p.send_signal(signal.SIGINT)
        p.communicate(timeout=60)
        if p.returncode != 0:
            raise SystemExit(f"teamster up exited with {p.returncode} after Ctrl-C")
    finally:
        stop_group(p)  # anything left behind (nothing, normally)
    return took, ready

# The hand-made peer: what a test script without teamster does. Every server logs to a
# file in a private directory; one `until grep … ; do sleep 0.1; done` loop per stage.
HAND = r'''
set -e
d="$1" app="$2" pgbin="$3" teamster="$4" template="$5"
pgport="$6" redisport="$7" mailport="$8" webport="$9" cdport="${10}"
ready() { grep -q "$2" "$d/$1.log" 2>/dev/null; }
install -d -o postgres -g postgres -m 700 "$d/pg"

# No dependencies: Redis, the SMTP sink and chromedriver start at once.
redis-server --port "$redisport" --bind 127.0.0.1 --save '' --appendonly no --dir "$d" \
    >"$d/cache.log" 2>&1 &
"$teamster" smtp-sink --port "$mailport" >"$d/mail.log" 2>&1 &
chromedriver --port="$cdport" >"$d/browser.log" 2>&1 &

if [ -n "$template" ]; then
    runuser -u postgres -- cp -R "$template/data" "$d/pg/data"
else
    runuser -u postgres -- "$pgbin/initdb" -D "$d/pg/data" --username=postgres \
        --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$d/initdb.log" 2>&1
fi
echo stage cluster
runuser -u postgres -- "$pgbin/postgres" -D "$d/pg/data" -p "$pgport" -k "$d/pg" \
    -c listen_addresses=127.0.0.1 -F >"$d/db.log" 2>&1 &
until ready db "database system is ready to accept connections" &&
      ready cache "Ready to accept connections"; do sleep 0.1; done
echo stage db+cache
"$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -d postgres -X -q -v ON_ERROR_STOP=1 \
    -c "CREATE ROLE remindme LOGIN PASSWORD 'remindme'" \
    -c "CREATE DATABASE remindme OWNER remindme"

cd "$app"
export DATABASE_URL="postgresql://remindme:remindme@127.0.0.1:$pgport/remindme"
export EMAIL_HOST=127.0.0.1 EMAIL_PORT="$mailport"
export CELERY_BROKER_URL="redis://127.0.0.1:$redisport/0"
python3 manage.py migrate --noinput >"$d/migrate.log" 2>&1
echo stage migrated
python3 manage.py runserver "127.0.0.1:$webport" --noreload >"$d/web.log" 2>&1 &
celery -A remindme worker --beat --schedule="$d/celerybeat-schedule" --concurrency=1 \
    --loglevel=INFO >"$d/worker.log" 2>&1 &
until ready web "Quit the server with CONTROL-C." && ready worker " ready\.$" &&
      ready mail "smtp-sink listening on " &&
      ready browser "ChromeDriver was started successfully"; do sleep 0.1; done
echo ready
wait
'''

def by_hand(use_template):
    d = tempfile.mkdtemp(dir=work)
    os.chmod(d, 0o711)
    stages = {}
    t0 = time.perf_counter()
    p = subprocess.Popen(["sh", "-c", HAND, "sh", d, app, pgbin, teamster,
                          template if use_template else "", *map(str, free_ports(5))],
                         stdout=subprocess.PIPE, start_new_session=True)
    try:
        for line in p.stdout:
            if line.startswith(b"stage "):
                stages[line[6:].strip().decode()] = time.perf_counter() - t0
            elif line == b"ready\n":
                break
        else:
            for f in sorted(f for f in os.listdir(d) if f.endswith(".log")):
                with open(os.path.join(d, f), errors="replace") as log:
                    print(f"--- {f}", *log.readlines()[-10:], sep="", file=sys.stderr)
            raise SystemExit("the hand-made script ended before all were ready")
        took = time.perf_counter() - t0
    finally:
        stop_group(p)
        p.wait(timeout=30)
    shutil.rmtree(d)
    return took, stages

try:
    teamster_up(); by_hand(False); by_hand(True)  # warm-up: caches, compiled plugins, bytecode
    a, b, c = [], [], []
    for i in range(runs):
        a.append(teamster_up())
        b.append(by_hand(False))
        c.append(by_hand(True))
        print(f"run {i + 1}: teamster {a[-1][0]*1000:.0f} ms, by hand with initdb "
              f"{b[-1][0]*1000:.0f} ms, by hand with a template {c[-1][0]*1000:.0f} ms",
              file=sys.stderr)
finally:
    shutil.rmtree(work, ignore_errors=True)

ms = lambda xs: f"median {st.median(xs)*1000:.0f} ms (range {min(xs)*1000:.0f}–{max(xs)*1000:.0f})"
def breakdown(results):
    for key in results[0][1]:
        xs = [r[1][key] for r in results if key in r[1]]
        print(f"    {key}: {ms(xs)}")

print(f"runs: {runs} each, alternating A B C")
print(f"A teamster up, start → all 6 services ready: {ms([r[0] for r in a])}")
print("  its services' ready lines, from the start of `teamster up`:")
breakdown(a)
print(f"B by hand, initdb every time, start → all ready lines seen: {ms([r[0] for r in b])}")
breakdown(b)
print(f"C by hand, a prepared template copied: {ms([r[0] for r in c])}")
breakdown(c)
mid = lambda rs: st.median([r[0] for r in rs])
print(f"ratio of medians: A/B {mid(a)/mid(b):.2f}×, A/C {mid(a)/mid(c):.2f}×")
PY
