"""The Python benchmarks of issue 10, measured side by side in one run.

1. suite: the same 40-test pytest suite (each test queries Postgres and Redis) with `-n 4`,
   on teamster's shared bundle (`--teamster-bundle`) against pytest-postgresql +
   pytest-redis process fixtures (one server pair per worker). Runs alternate A B C A B C
   (C: the same suite with no service, the floor that `-n 4` costs by itself); wall time
   from `python -m pytest` spawned to exited. Goal: teamster <= 0.35x the peer.
2. attach: `Bundle.load(...).startup(reuse=True)` to a running, kept bundle, then
   `bundle["db"].connection["url"]` in hand. Goal: median <= 20 ms.
3. until: a line written by a service (stamped with CLOCK_MONOTONIC at the write) to a
   Python `logs.until(callback)` returning. Goal: median <= 2 ms.
4. import: `import teamster` in a fresh interpreter. Goal: <= 50 ms.

Prints a table and one JSON object (medians, ranges, samples) on the last line.
PostgreSQL refuses root: when run as root, the two pytest suites run as the `postgres`
user (both of them, so that neither side pays a user switch the other does not), from a
venv made with a world-readable interpreter (see run.sh).
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

HERE = Path(__file__).resolve().parent
PG_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
BENCH_USER = "postgres" if os.geteuid() == 0 else None


def summary(samples: List[float]) -> Dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def private_dir(prefix: str) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    if BENCH_USER:
        shutil.chown(path, BENCH_USER, BENCH_USER)
    return path


def as_bench_user(argv: List[str]) -> List[str]:
    if not BENCH_USER:
        return argv
    import pwd

    home = pwd.getpwnam(BENCH_USER).pw_dir
    return [
        "runuser",
        "-u",
        BENCH_USER,
        "--",
        "env",
        "-u",
        "XDG_RUNTIME_DIR",
        f"HOME={home}",
        *argv,
    ]


# ---------------------------------------------------------------- 1. the suite


def prepare_suites() -> Dict[str, Path]:
    teamster_dir = private_dir("teamster-bench-suite-")
    shutil.copy(HERE / "suite_teamster.py", teamster_dir / "test_suite.py")
    (teamster_dir / "bundle.toml").write_text(
        'startup_timeout = "60s"\n[services.db]\nkind = "postgres"\n'
        '[services.cache]\nkind = "redis"\n'
    )
    (teamster_dir / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider\nteamster_bundle = bundle.toml\n"
    )
    peer_dir = private_dir("teamster-bench-peer-")
    shutil.copy(HERE / "suite_peer.py", peer_dir / "test_suite.py")
    (peer_dir / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider -p no:teamster\n"
        f"postgresql_exec = {PG_BIN[-1]}\nredis_exec = {shutil.which('redis-server')}\n"
    )
    floor_dir = private_dir("teamster-bench-floor-")
    shutil.copy(HERE / "suite_floor.py", floor_dir / "test_suite.py")
    (floor_dir / "pytest.ini").write_text(
        "[pytest]\naddopts = -p no:cacheprovider -p no:teamster\n"
    )
    for d in (teamster_dir, peer_dir, floor_dir):
        for f in d.iterdir():
            f.chmod(0o644)
            if BENCH_USER:
                shutil.chown(f, BENCH_USER, BENCH_USER)
    return {"teamster": teamster_dir, "peer": peer_dir, "floor": floor_dir}


def one_suite_run(cwd: Path) -> float:
    argv = as_bench_user([sys.executable, "-m", "pytest", "-q", "-n", "4", "test_suite.py"])
    t0 = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0 or "40 passed" not in proc.stdout:
        raise SystemExit(f"suite in {cwd} failed:\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def bench_suite(rounds: int) -> Dict[str, object]:
    dirs = prepare_suites()
    sides = ("teamster", "peer", "floor")
    times: Dict[str, List[float]] = {side: [] for side in sides}
    for side in sides:  # warm-up: caches (plugin compile, initdb template), page cache
        one_suite_run(dirs[side])
    for _ in range(rounds):
        for side in sides:  # A B C A B C
            times[side].append(one_suite_run(dirs[side]))
    t, p, f = (summary(times[s]) for s in sides)
    return {
        "teamster_s": t,
        "peer_s": p,
        "floor_s": f,
        "ratio": t["median"] / p["median"],
        "ratio_over_floor": (t["median"] - f["median"]) / (p["median"] - f["median"]),
        "samples": times,
    }


# ------------------------------------------------------------ 2. attach, 3. until


def bench_attach(samples: int) -> Dict[str, object]:
    import teamster

    project = Path(tempfile.mkdtemp(prefix="teamster-bench-attach-"))
    project.chmod(0o755)
    user = 'user = "postgres"\n' if os.geteuid() == 0 else ""
    path = project / "bundle.toml"
    path.write_text(f'[services.db]\nkind = "postgres"\n{user}[services.cache]\nkind = "redis"\n')
    first = teamster.Bundle.load(path).startup(reuse=True)
    first.detach()
    fast: List[float] = []
    slow: List[float] = []
    try:
        for _ in range(samples):
            for kind, out in (("fast", fast), ("slow", slow)):
                t0 = time.perf_counter()
                b = teamster.Bundle.load(path).startup(reuse=True, fast_attach=kind == "fast")
                url = b["db"].connection["url"]
                out.append(time.perf_counter() - t0)
                assert url.startswith("postgresql://") and b.attached
                b.detach()
    finally:
        teamster.Bundle.load(path).startup(reuse=True).stop()
        shutil.rmtree(project, ignore_errors=True)
    return {
        "attach_ms": summary([x * 1000 for x in fast]),
        "attach_via_binary_ms": summary([x * 1000 for x in slow]),
    }


def bench_until(samples: int) -> Dict[str, object]:
    import teamster

    project = Path(tempfile.mkdtemp(prefix="teamster-bench-until-"))
    bundle = teamster.ServiceBundle(project_directory=project)
    # One stamped line every 20 ms; the clock is not faked, so CLOCK_MONOTONIC is shared.
    bundle["ticker"] = teamster.Service(
        command=[
            sys.executable,
            "-u",
            "-c",
            "import time\nwhile True:\n"
            "    print('tick', time.clock_gettime_ns(time.CLOCK_MONOTONIC), flush=True)\n"
            "    time.sleep(0.02)\n",
        ],
        no_libfaketime=True,
    )
    latencies: List[float] = []
    with bundle:
        logs = bundle["ticker"].logs
        for _ in range(samples):
            stamp: List[int] = []

            def callback(line: str, stamp: List[int] = stamp) -> bool:
                if line.startswith("tick "):
                    stamp.append(int(line.split()[1]))
                    return True
                return False

            logs.until(callback, timeout=5)
            returned = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
            latencies.append((returned - stamp[0]) / 1e6)
    shutil.rmtree(project, ignore_errors=True)
    return {"until_ms": summary(latencies)}


# ------------------------------------------------------------------ 4. import


def bench_import(samples: int) -> Dict[str, object]:
    code = "import time; t = time.perf_counter(); import teamster; print(time.perf_counter() - t)"
    times = []
    for _ in range(samples):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        times.append(float(out.stdout) * 1000)
    return {"import_ms": summary(times)}


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    parts = sys.argv[2].split(",") if len(sys.argv) > 2 else ["suite", "attach", "until", "import"]
    result: Dict[str, object] = {}
    if "import" in parts:
        result.update(bench_import(30))
    if "until" in parts:
        result.update(bench_until(200))
    if "attach" in parts:
        result.update(bench_attach(30))
    if "suite" in parts:
        result["suite"] = bench_suite(rounds)

    def show(name: str, s: Dict[str, float], unit: str, goal: str) -> None:
        print(
            f"{name:<34} median {s['median']:8.2f} {unit}  range "
            f"{s['min']:.2f}-{s['max']:.2f} (n={s['n']})  goal {goal}"
        )

    if "import_ms" in result:
        show("import teamster", result["import_ms"], "ms", "<= 50 ms")  # type: ignore[arg-type]
    if "until_ms" in result:
        show(
            "line -> until callback returned",
            result["until_ms"],
            "ms",  # type: ignore[arg-type]
            "<= 2 ms",
        )
    if "attach_ms" in result:
        show(
            "attach -> connection info",
            result["attach_ms"],
            "ms",  # type: ignore[arg-type]
            "<= 20 ms",
        )
        show(
            "  (the same through `up -d`)",
            result["attach_via_binary_ms"],
            "ms",  # type: ignore[arg-type]
            "-",
        )
    if "suite" in result:
        suite = result["suite"]
        show("40 tests -n 4: teamster", suite["teamster_s"], "s", "")  # type: ignore[index]
        show("40 tests -n 4: pytest-postgresql+redis", suite["peer_s"], "s", "")  # type: ignore[index]
        show("40 tests -n 4: no service (floor)", suite["floor_s"], "s", "")  # type: ignore[index]
        print(f"{'ratio teamster / peer':<34} {suite['ratio']:.3f}x  goal <= 0.35x")  # type: ignore[index]
        print(f"{'ratio of the time above the floor':<34} {suite['ratio_over_floor']:.3f}x")  # type: ignore[index]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
