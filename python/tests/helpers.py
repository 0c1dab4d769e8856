"""Helpers for the package's tests, which run against the installed wheel and real
services (PostgreSQL, Redis, Django, the SMTP sink); see python/run-tests.sh.

Inner pytest sessions (the plugin's own behaviour: xdist sharing, reuse, reports) run as
subprocesses in private directories, from the suites in ``tests/suites/``.

(A module of its own rather than conftest.py, so that tests can import it by name.)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import pytest

import teamster

HERE = Path(__file__).resolve().parent
SUITES = HERE / "suites"
REPO = HERE.parent.parent
DEMO = REPO / "examples" / "demo"

#: `user = "postgres"` when the tests run as root (as CI does): PostgreSQL refuses root.
PG_USER = 'user = "postgres"\n' if os.geteuid() == 0 else ""


class Project:
    """A private, world-traversable project directory (services may run as `postgres`)."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="teamster-py-"))
        self.path.chmod(0o755)

    @property
    def run_root(self) -> Path:
        return self.path / ".teamster"

    def write(self, name: str, text: str) -> Path:
        p = self.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        return p

    def bundle(self, toml: str) -> Path:
        return self.write("bundle.toml", toml)

    def demo_bundle(self) -> Path:
        """examples/demo/bundle.toml as shipped, with its runs kept here."""
        text = (DEMO / "bundle.toml").read_text()
        head = f'project_dir = "{DEMO}"\nrun_dir = "{self.run_root}"\n'
        return self.write("bundle.toml", head + text)

    def suite(self, name: str, *, ini: Optional[Dict[str, str]] = None) -> Path:
        """Copies tests/suites/<name>.py in as test_<name>.py, with a pytest.ini."""
        shutil.copy(SUITES / f"{name}.py", self.path / f"test_{name}.py")
        lines = ["[pytest]", "addopts = -p no:cacheprovider"]
        lines += [f"{k} = {v}" for k, v in (ini or {}).items()]
        self.write("pytest.ini", "\n".join(lines) + "\n")
        return self.path

    def host_record(self) -> Optional[dict]:
        try:
            return json.loads((self.run_root / "host.json").read_text())
        except (OSError, ValueError):
            return None

    def cleanup(self) -> None:
        record = self.host_record()
        if record and alive(record.get("pid")):
            stop_host(record)
        shutil.rmtree(self.path, ignore_errors=True)


def stop_host(record: dict) -> None:
    """Stops a host named by its host.json record, through its socket, and waits."""
    from teamster._rpc import Connection

    try:
        conn = Connection(record["socket"])
        try:
            conn.call("stop", {}, timeout=30)
        except teamster.NotRunning:
            pass
        conn.wait_closed(60)
        conn.close()
    except teamster.TeamsterError:
        pass
    eventually(lambda: not alive(record.get("pid")), 60, "the host to stop")


def alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is dead for our purposes.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def eventually(check: Callable[[], object], timeout: float, what: str) -> None:
    """Polls ``check`` (1 ms → 100 ms backoff) until it is true; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


class Run:
    """A finished inner pytest session."""

    def __init__(self, proc: subprocess.CompletedProcess) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def __repr__(self) -> str:
        return f"exit {self.returncode}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"

    __str__ = __repr__


def run_pytest(
    cwd: Path, *args: str, env: Optional[Dict[str, str]] = None, timeout: float = 300
) -> Run:
    """Runs ``python -m pytest ARGS`` in ``cwd`` (a project made by ``Project.suite``)."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTEST_XDIST_WORKER", None)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rA", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return Run(proc)


def spawn_pytest(cwd: Path, *args: str, env: Optional[Dict[str, str]] = None) -> subprocess.Popen:
    """Starts an inner session in its own process group (so a test can SIGKILL it all)."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-rA", *args],
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def read_lines(path: Path) -> List[str]:
    try:
        return path.read_text().split()
    except OSError:
        return []
