"""Whole-process timings of the control commands a test runner calls on a running bundle.

    python3 bench/control.py [runs] [teamster-binary]

Starts a three-service bundle detached (`teamster up -d --reuse`), then times, from exec
to exit, alternately (A B A B ...): `teamster up -d` of the same bundle (an attach: it
prints the connection info) and `teamster status --json`. Prints medians and ranges as
JSON, then stops the bundle with `teamster down`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUNDLE = """
[services.cache]
kind = "redis"
user = "redis"

[services.worker]
command = ["sh", "-c", "echo worker up; exec sleep 100000"]
ready = { log = "worker up" }
needs = ["cache"]

[services.web]
command = ["sh", "-c", "echo web up; exec sleep 100000"]
ready = { log = "web up" }
needs = ["worker"]
"""


def timed(argv: list[str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "median_ms": round(statistics.median(ms), 2),
        "min_ms": round(min(ms), 2),
        "max_ms": round(max(ms), 2),
        "runs": len(ms),
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    root = Path(__file__).resolve().parent.parent
    binary = sys.argv[2] if len(sys.argv) > 2 else str(root / "target/release/teamster")
    bundle = BUNDLE if os.geteuid() == 0 else BUNDLE.replace('user = "redis"\n', "")
    with tempfile.TemporaryDirectory(prefix="teamster-bench-") as project:
        os.chmod(project, 0o755)
        Path(project, "bundle.toml").write_text(bundle)
        started = timed([binary, "up", "-d", "--reuse"], project)
        try:
            attach, status = [], []
            for _ in range(3):  # warm the page cache
                timed([binary, "status", "--json"], project)
            for _ in range(runs):
                attach.append(timed([binary, "up", "-d"], project))
                status.append(timed([binary, "status", "--json"], project))
        finally:
            subprocess.run([binary, "down"], cwd=project, check=False, stdout=subprocess.DEVNULL)
    print(
        json.dumps(
            {
                "first start, exec → all ready (cold plugin cache possible)": round(started * 1000, 1),
                "up -d of the running bundle (attach) → connection info": summary(attach),
                "status --json": summary(status),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
