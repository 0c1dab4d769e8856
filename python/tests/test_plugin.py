"""The pytest plugin, driven as a user would: inner pytest sessions in private projects,
against real PostgreSQL, Redis, Django and the SMTP sink."""

from __future__ import annotations

import json
import time
from pathlib import Path

from helpers import (
    PG_USER,
    SUITES,
    Project,
    alive,
    eventually,
    kill_group,
    read_lines,
    run_pytest,
    spawn_pytest,
)

PG_REDIS = f"""
startup_timeout = "60s"

[services.db]
kind = "postgres"
{PG_USER}
[services.cache]
kind = "redis"
"""


def host_gone_after(project: Project, host_pid: int, timeout: float = 30) -> None:
    eventually(lambda: not alive(host_pid), timeout, f"host {host_pid} to stop")
    assert project.host_record() is None or not alive(project.host_record().get("pid"))


def test_the_demo_suite_passes_with_only_the_fixture(project: Project) -> None:
    bundle = project.demo_bundle()
    cwd = project.suite("demo", ini={"teamster_bundle": bundle.name})
    run = run_pytest(cwd)
    assert run.returncode == 0, run
    assert "7 passed" in run.stdout, run


def test_xdist_workers_share_one_bundle(project: Project) -> None:
    project.bundle(PG_REDIS)
    out = project.path / "out"
    out.mkdir()
    cwd = project.suite("shared", ini={"teamster_bundle": "bundle.toml"})
    started = time.monotonic()
    run = run_pytest(cwd, "-n", "4", env={"TEAMSTER_TEST_OUT": str(out)})
    assert run.returncode == 0, run
    rows = [line.split() for line in (out / "seen.txt").read_text().splitlines()]
    assert len(rows) == 16
    workers = {r[0] for r in rows}
    hosts = {r[1] for r in rows}
    postgres = {r[2] for r in rows}
    assert workers == {"gw0", "gw1", "gw2", "gw3"}, rows
    assert len(hosts) == 1, rows
    assert len(postgres) == 1, rows
    # The last one out stops it: nothing of the bundle outlives the run.
    host_gone_after(project, int(next(iter(hosts))))
    assert not alive(int(next(iter(postgres))))
    print(f"16 tests on 4 workers, one bundle, in {time.monotonic() - started:.1f}s")


def test_a_sigkilled_worker_neither_stops_the_bundle_nor_leaves_it_behind(
    project: Project,
) -> None:
    project.bundle(PG_REDIS)
    out = project.path / "out"
    out.mkdir()
    cwd = project.suite("killed", ini={"teamster_bundle": "bundle.toml"})
    run = run_pytest(
        cwd,
        "-n",
        "2",
        "--dist",
        "each",
        "--max-worker-restart",
        "0",
        env={"TEAMSTER_TEST_OUT": str(out)},
    )
    # gw0 died (xdist reports it), gw1 went on with the same bundle, past the grace.
    assert (out / "gw1.ok").exists(), run
    assert "gw0" in run.stdout + run.stderr, run
    gw0 = read_lines(out / "gw0.pid")
    gw1 = read_lines(out / "gw1.pid")
    assert gw0[0] == gw1[0], "both workers saw the same postgres"
    assert gw0[2] == gw1[2], "both workers saw the same host"
    host_gone_after(project, int(gw1[2]))
    assert not alive(int(gw1[0]))


def test_a_sigkilled_session_leaves_no_bundle_behind(project: Project) -> None:
    project.bundle(PG_REDIS)
    out = project.path / "out"
    out.mkdir()
    cwd = project.suite("hold", ini={"teamster_bundle": "bundle.toml"})
    proc = spawn_pytest(cwd, "-n", "2", "--dist", "each", env={"TEAMSTER_TEST_OUT": str(out)})
    try:
        eventually(lambda: len(list(out.glob("*.held"))) == 2, 120, "both workers to hold")
    finally:
        kill_group(proc)  # controller and workers, all SIGKILLed at once
    held = {tuple(read_lines(p)) for p in out.glob("*.held")}
    assert len(held) == 1, held
    host_pid, db_pid = (int(x) for x in next(iter(held)))
    host_gone_after(project, host_pid)
    assert not alive(db_pid)


def test_reuse_keeps_the_bundle_and_the_next_session_attaches(project: Project) -> None:
    project.bundle(PG_REDIS)
    out = project.path / "out"
    out.mkdir()
    cwd = project.suite("reuse", ini={"teamster_bundle": "bundle.toml"})
    env = {"TEAMSTER_TEST_OUT": str(out)}
    first = run_pytest(cwd, "--teamster-reuse", env=env)
    assert first.returncode == 0, first
    record = project.host_record()
    assert record is not None, "the bundle was kept"
    assert alive(record["pid"])
    second = run_pytest(cwd, "--teamster-reuse", env=env)
    assert second.returncode == 0, second
    runs = [line.split() for line in (out / "runs.txt").read_text().splitlines()]
    assert runs[0][1] == "False"
    assert runs[1][1] == "True", "the second session attached"
    assert runs[0][0] == runs[1][0] == str(record["pid"])
    assert runs[0][2] == runs[1][2], "the same redis served both sessions"
    assert alive(record["pid"]), "still kept after the second session"


def test_connections_file_mode_starts_nothing(project: Project) -> None:
    connections = project.write(
        "connections.json",
        json.dumps(
            {
                "db": {"url": "postgresql://u:p@127.0.0.1:1/app", "port": "1"},
                "cache": {"url": "redis://127.0.0.1:2/0"},
            }
        ),
    )
    cwd = project.suite("external", ini={"teamster_bundle": "does-not-exist.toml"})
    by_env = run_pytest(cwd, env={"TEAMSTER_CONNECTIONS": str(connections)})
    assert by_env.returncode == 0, by_env
    by_flag = run_pytest(
        cwd, "--teamster-attach", str(connections), env={"TEAMSTER_CONNECTIONS": ""}
    )
    assert by_flag.returncode == 0, by_flag
    assert not project.run_root.exists(), "no bundle was started"


def test_a_failed_test_reports_the_last_log_lines(project: Project) -> None:
    project.bundle("""
[services.echo]
command = ["sh", "-c", "echo marker-for-the-report; echo on-stderr >&2; exec sleep 600"]
""")
    cwd = project.suite("failing", ini={"teamster_bundle": "bundle.toml"})
    run = run_pytest(cwd)
    assert run.returncode == 1, run
    assert "teamster: last log lines" in run.stdout, run
    assert "[echo]" in run.stdout, run
    assert "out | marker-for-the-report" in run.stdout, run
    assert "err | on-stderr" in run.stdout, run
    # ... and the run's timeline, with its critical chain.
    assert "teamster: timeline" in run.stdout, run
    assert "critical chain" in run.stdout, run


def test_a_bundle_error_fails_the_fixture_with_the_hosts_message(project: Project) -> None:
    project.bundle("""
[services.db]
kind = "postgres"

[services.web]
command = "true"
needs = ["dbb"]
""")
    cwd = project.suite("reuse", ini={"teamster_bundle": "bundle.toml"})
    run = run_pytest(cwd, env={"TEAMSTER_TEST_OUT": str(project.path)})
    assert run.returncode == 1, run
    assert "BundleError" in run.stdout, run
    assert "needs unknown service `dbb` (did you mean `db`?)" in run.stdout, run
    assert "bundle.toml:7:" in run.stdout, run


def test_the_plugin_is_registered_by_the_wheel(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(): pass\n")
    run = run_pytest(tmp_path, "--help")
    assert "--teamster-bundle" in run.stdout
    assert "--teamster-reuse" in run.stdout
    assert "--teamster-attach" in run.stdout


def test_a_bundle_built_in_python_with_hooks_is_shared_by_workers(project: Project) -> None:
    out = project.path / "out"
    out.mkdir()
    out.chmod(0o755)
    cwd = project.suite("pybundle", ini={"teamster_bundle": "bundle.py"})
    (cwd / "bundle.py").write_text((SUITES / "pybundle_def.py").read_text())
    run = run_pytest(cwd, "-n", "2", "--dist", "each", env={"TEAMSTER_TEST_OUT": str(out)})
    assert run.returncode == 0, run
    rows = [line.split() for line in (out / "seen.txt").read_text().splitlines()]
    assert {r[0] for r in rows} == {"gw0", "gw1"}
    assert len({(r[1], r[2]) for r in rows}) == 1, rows
    host_gone_after(project, int(rows[0][1]))
