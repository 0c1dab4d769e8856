"""Pure parts of the package: the JSON a Python bundle becomes, time formats, errors,
finding the binary. No host involved."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
from pathlib import Path

import pytest

import teamster
from teamster import ready
from teamster._bundle import parse_time, travel_text
from teamster._errors import from_exit_code, from_rpc_error


def test_a_python_bundle_becomes_the_json_model_in_order(tmp_path: Path) -> None:
    class Web(teamster.Service):
        def setup(self) -> None:
            pass

        def poststart(self) -> None:
            pass

    bundle = teamster.ServiceBundle(
        project_directory=tmp_path, startup_timeout=30, shutdown_timeout=dt.timedelta(seconds=2)
    )
    bundle["db"] = teamster.Service(kind="postgres", config={"databases": [{"name": "app"}]})
    bundle["cache"] = teamster.Service(kind="redis", ready=ready.plugin())
    bundle["web"] = Web(
        command=["python3", "app.py", Path("x")],
        log_line_ready_checker=lambda line: "ready" in line,
        directory="app",
        no_libfaketime=True,
        env_vars={"PORT": 8000, "DEBUG": True, "DB": "${db.url}"},
        needs=[bundle["db"], "cache"],
        ready=[ready.tcp(8000), ready.log("Serving", stream="stderr")],
        stop_signal="SIGINT",
    )
    spec = json.loads(bundle.to_json())
    assert list(spec["services"]) == ["db", "cache", "web"]
    assert spec["project_dir"] == str(tmp_path.resolve())
    assert spec["startup_timeout"] == 30
    assert spec["shutdown_timeout"] == 2.0
    assert spec["services"]["db"] == {
        "kind": "postgres",
        "config": {"databases": [{"name": "app"}]},
    }
    assert spec["services"]["cache"] == {"kind": "redis", "ready": {"plugin": True}}
    assert spec["services"]["web"] == {
        "command": ["python3", "app.py", "x"],
        "directory": "app",
        "env": {"PORT": 8000, "DEBUG": True, "DB": "${db.url}"},
        "needs": ["db", "cache"],
        "stop_signal": "SIGINT",
        "faketime": False,
        "ready": [
            {"tcp": 8000},
            {"log": {"contains": "Serving", "stream": "stderr"}},
            {"client": True},
        ],
        "client_hooks": ["setup", "poststart"],
    }
    # Equal bundles give equal text, so that every xdist worker's bundle hashes the same.
    assert bundle.to_json() == bundle.to_json()


def test_hooks_given_as_callables_count_as_client_hooks() -> None:
    svc = teamster.Service(command="true", poststart=lambda: None)
    assert svc.client_hooks == ["poststart"]
    assert teamster.Service(command="true").client_hooks == []


def test_needs_must_name_services_of_the_bundle() -> None:
    bundle = teamster.ServiceBundle()
    with pytest.raises(KeyError, match="no service `db`"):
        bundle["db"]
    loose = teamster.Service(command="true")
    bundle["web"] = teamster.Service(command="true", needs=[loose])
    with pytest.raises(TypeError, match="added to the bundle first"):
        bundle.to_json()


def test_readiness_helpers_write_the_toml_tables() -> None:
    assert ready.log("x") == {"log": "x"}
    assert ready.log(regex="a.*", nth=2) == {"log": {"regex": "a.*", "nth": 2}}
    assert ready.http("http://h/", status=204) == {"http": {"url": "http://h/", "status": 204}}
    assert ready.http("http://h/") == {"http": "http://h/"}
    assert ready.socket(Path("run/s.sock")) == {"socket": "run/s.sock"}
    assert ready.file("pid") == {"file": "pid"}
    assert ready.command(("pg_isready", "-q")) == {"command": ["pg_isready", "-q"]}
    assert ready.client() == {"client": True}


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (dt.timedelta(days=30), "+30d"),
        (-dt.timedelta(hours=2), "-2h"),
        (dt.timedelta(days=1, hours=2, minutes=30, seconds=4, milliseconds=250), "+1d2h30m4s250ms"),
        (dt.timedelta(), "+0ms"),
    ],
)
def test_travel_text(delta: dt.timedelta, text: str) -> None:
    assert travel_text(delta) == text


def test_parse_time_takes_any_rfc3339() -> None:
    utc = dt.timezone.utc
    assert parse_time("2026-12-31T10:00:00.123456789+00:00") == dt.datetime(
        2026, 12, 31, 10, 0, 0, 123456, tzinfo=utc
    )
    assert parse_time("2026-12-31T10:00:00Z").tzinfo is not None
    plus_one = parse_time("2027-01-01T09:00:00.5+01:00")
    assert plus_one.utcoffset() == dt.timedelta(hours=1)
    assert plus_one.microsecond == 500000


def test_bundle_errors_expose_their_location() -> None:
    err = from_exit_code(
        3, "bundle.toml:5:16: service `web` needs unknown service `dbb` (did you mean `db`?)"
    )
    assert isinstance(err, teamster.BundleError)
    assert err.location == ("bundle.toml", 5, 16)
    assert "did you mean `db`" in str(err)


def test_startup_errors_parse_the_hosts_report() -> None:
    message = (
        "service `web` exited with exit code 3 after 0.21s\n"
        "  waiting for: log `Serving`\n"
        "  last 2 log lines:\n"
        "    out | booting\n"
        "    err | Traceback: boom\n"
    )
    err = from_exit_code(4, message)
    assert isinstance(err, teamster.StartupError)
    assert err.service == "web"
    assert err.exit_status == "exited with exit code 3"
    assert err.last_lines == ["booting", "Traceback: boom"]
    assert str(err) == message
    rpc = from_rpc_error({"code": -32017, "message": message, "data": {"exit_code": 4}})
    assert isinstance(rpc, teamster.StartupError)
    assert rpc.service == "web"


def test_the_binary_comes_from_the_variable_first(tmp_path: Path) -> None:
    fake = tmp_path / "teamster"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    assert teamster.find_binary({"TEAMSTER_BIN": str(fake), "PATH": ""}) == str(fake)
    with pytest.raises(teamster.TeamsterError, match="TEAMSTER_BIN=/nope"):
        teamster.find_binary({"TEAMSTER_BIN": "/nope"})
    found = teamster.find_binary({"PATH": str(tmp_path)})
    assert os.path.basename(found) == "teamster"


def test_external_bundles_know_only_connection_info(tmp_path: Path) -> None:
    path = tmp_path / "connections.json"
    path.write_text(json.dumps({"db": {"url": "postgresql://x", "port": "5432"}}))
    bundle = teamster.ExternalBundle.from_file(path)
    assert bundle["db"].connection == {"url": "postgresql://x", "port": "5432"}
    assert list(bundle) == ["db"]
    with pytest.raises(teamster.NoSuchService):
        bundle["web"]
    with pytest.raises(teamster.TeamsterError, match="external service"):
        bundle["db"].logs  # noqa: B018
