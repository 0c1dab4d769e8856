"""The Python API in this process: bundles built in Python, client-side readiness and
hooks, logs, sub-commands, processes, time travel and errors, on real services."""

from __future__ import annotations

import datetime as dt
import json
import smtplib
import sys
import threading
import time
from email.message import EmailMessage
from pathlib import Path
from typing import ClassVar, Iterator, List

import pytest

import teamster
from helpers import PG_USER, Project, alive, eventually
from teamster import ready

PY = sys.executable


@pytest.fixture
def bundle(project: Project) -> Iterator[teamster.ServiceBundle]:
    b = teamster.ServiceBundle(project_directory=project.path, startup_timeout=60)
    yield b
    b.shutdown()


def script(project: Project, name: str, body: str) -> str:
    return str(project.write(name, body))


def test_a_python_log_line_ready_checker_judges_readiness(
    project: Project, bundle: teamster.ServiceBundle
) -> None:
    seen: List[str] = []
    threads: List[str] = []

    def checker(line: str) -> bool:
        seen.append(str(line))
        threads.append(threading.current_thread().name)
        return line.startswith("listening on")

    app = script(
        project,
        "app.py",
        (
            "import sys, time\n"
            "print('warming up', flush=True)\n"
            "print('still warming', flush=True)\n"
            "print('listening on 1234', flush=True)\n"
            "print('after ready', flush=True)\n"
            "time.sleep(600)\n"
        ),
    )
    bundle["app"] = teamster.Service(command=[PY, app], log_line_ready_checker=checker)
    bundle.startup()
    assert seen == ["warming up", "still warming", "listening on 1234"]
    assert threading.main_thread().name not in threads
    assert bundle["app"].state == "ready"
    bundle["app"].logs.until(lambda line: line == "after ready", timeout=10, lines_back=10)


def test_a_failing_ready_checker_fails_the_start_with_its_message(
    project: Project, bundle: teamster.ServiceBundle
) -> None:
    def checker(line: str) -> bool:
        raise ValueError(f"cannot judge {line!r}")

    bundle["app"] = teamster.Service(
        command=["sh", "-c", "echo hello; exec sleep 600"], log_line_ready_checker=checker
    )
    with pytest.raises(teamster.StartupError) as err:
        bundle.startup()
    assert "ValueError: cannot judge 'hello'" in str(err.value)
    assert err.value.service == "app"


class Seeded(teamster.Service):
    """hitchserve's subclass hooks: setup writes what the service reads at start, and
    poststart checks it is up before the bundle counts as ready."""

    calls: ClassVar[List[str]] = []

    def setup(self) -> None:
        Path(self.env["SEED"]).write_text("seeded by setup\n")
        Seeded.calls.append("setup")

    def poststart(self) -> None:
        Seeded.calls.append(f"poststart state={self.bundle is not None}")


def test_python_setup_and_poststart_hooks_run_in_order(
    project: Project, bundle: teamster.ServiceBundle
) -> None:
    seed = project.path / "seed.txt"
    Seeded.calls = []
    bundle["app"] = Seeded(
        command=["sh", "-c", 'cat "$SEED"; echo started; exec sleep 600'],
        env_vars={"SEED": str(seed)},
        ready=ready.log("started"),
    )
    bundle["after"] = teamster.Service(
        command=["sh", "-c", "echo after; exec sleep 600"], needs=[bundle["app"]]
    )
    assert json.loads(bundle.to_json())["services"]["app"]["client_hooks"] == ["setup", "poststart"]
    bundle.startup()
    assert Seeded.calls == ["setup", "poststart state=True"]
    lines = [str(x) for x in bundle["app"].logs.out.lines()]
    assert lines[:2] == ["seeded by setup", "started"]


def test_a_failing_hook_fails_the_start_naming_it(
    project: Project, bundle: teamster.ServiceBundle
) -> None:
    def broken() -> None:
        raise RuntimeError("no fixtures today")

    bundle["app"] = teamster.Service(command=["sleep", "600"], setup=broken)
    with pytest.raises(
        teamster.StartupError, match="setup hook of `app` raised RuntimeError: no fixtures today"
    ):
        bundle.startup()


def test_a_python_bundle_is_validated_like_a_file(project: Project) -> None:
    b = teamster.ServiceBundle(project_directory=project.path)
    b["db"] = teamster.Service(command="sleep 600")
    b["web"] = teamster.Service(command="sleep 600", needs=["dbb"])
    with pytest.raises(teamster.BundleError) as from_python:
        b.check()
    project.bundle(
        '[services.db]\ncommand = "sleep 600"\n\n'
        '[services.web]\ncommand = "sleep 600"\nneeds = ["dbb"]\n'
    )
    with pytest.raises(teamster.BundleError) as from_toml:
        teamster.Bundle.load(project.path / "bundle.toml").check()
    wanted = "service `web` needs unknown service `dbb` (did you mean `db`?)"
    assert wanted in str(from_python.value)
    assert wanted in str(from_toml.value)
    assert from_python.value.location is not None
    assert from_toml.value.location is not None
    assert from_toml.value.location[1:] == (6, 10)
    with pytest.raises(teamster.BundleError, match="needs unknown service"):
        b.startup()


def test_a_service_that_dies_gives_a_startup_error_with_its_last_lines(
    project: Project, bundle: teamster.ServiceBundle
) -> None:
    bundle["bad"] = teamster.Service(
        command=["sh", "-c", "echo boom >&2; exit 3"], ready=ready.tcp(1)
    )
    with pytest.raises(teamster.StartupError) as err:
        bundle.startup()
    assert err.value.service == "bad"
    assert "code 3" in (err.value.exit_status or "")
    assert err.value.exit == {"code": 3}
    assert err.value.services[0]["service"] == "bad"
    assert "boom" in err.value.last_lines
    assert not bundle.running


def test_logs_views_follow_and_waits(project: Project, bundle: teamster.ServiceBundle) -> None:
    app = script(
        project,
        "talk.py",
        (
            "import json, sys, time\n"
            "print('plain line', flush=True)\n"
            "print('to stderr', file=sys.stderr, flush=True)\n"
            "print(json.dumps({'n': 1, 'kind': 'event'}), flush=True)\n"
            "for line in sys.stdin:\n"
            "    print(line.strip(), flush=True)\n"
        ),
    )
    fifo = project.path / "in.fifo"
    import os

    os.mkfifo(fifo)
    bundle["talk"] = teamster.Service(command=["sh", "-c", f'exec {PY} {app} < "{fifo}"'])
    bundle.startup()
    writer = open(fifo, "w")  # noqa: SIM115 - kept open across the test
    try:
        logs = bundle["talk"].logs
        logs.until(lambda line: "kind" in line, timeout=10, lines_back=10)
        assert [str(x) for x in logs.out.lines()] == ["plain line", '{"n": 1, "kind": "event"}']
        assert [str(x) for x in logs.err.lines()] == ["to stderr"]
        assert [str(x) for x in logs.out.tail(1)] == ['{"n": 1, "kind": "event"}']
        assert logs.json() == [{"n": 1, "kind": "event"}]
        first = logs.out.lines()[0]
        assert (first.service, first.stream) == ("talk", "out")

        # A callable predicate on new lines, matched here.
        def say(text: str) -> None:
            writer.write(text + "\n")
            writer.flush()

        threading.Timer(0.05, say, args=["hello world"]).start()
        got = logs.out.until(lambda line: line.endswith("world"), timeout=10)
        assert got == "hello world"
        # A str predicate, matched by the host.
        threading.Timer(0.05, say, args=["needle in a haystack"]).start()
        assert logs.until("needle", timeout=10) == "needle in a haystack"
        # JSON waits: a callable on the value, or a dict subset matched by the host.
        say(json.dumps({"n": 2, "kind": "event", "extra": [1, 2]}))
        value = logs.out.until_json(lambda v: v["n"] == 2, timeout=10, lines_back=5)
        assert value["extra"] == [1, 2]
        assert logs.until_json({"kind": "event", "n": 1}, timeout=10, lines_back=20)["n"] == 1
        # hitchserve's spelling.
        assert logs.out.tail.until_json(lambda v: v["n"] == 2, timeout=10, lines_back=5)["n"] == 2
        # follow: an iterator over old and new lines.
        with logs.follow(lines_back=1) as follow:
            assert str(next(follow)) == '{"n": 2, "kind": "event", "extra": [1, 2]}'
            say("followed")
            assert str(next(follow)) == "followed"
        # The bundle's view has every service and the bundle's own messages.
        bundle.log("a bundle message")
        line = bundle.logs.until(lambda ln: ln == "a bundle message", timeout=10, lines_back=5)
        assert line.service == "teamster"
        with pytest.raises(teamster.WaitTimeout) as timeout:
            logs.until(lambda line: False, timeout=0.3, lines_back=2)
        assert isinstance(timeout.value, TimeoutError)
        assert "followed" in timeout.value.last_lines
        with pytest.raises(teamster.WaitTimeout):
            logs.until("never printed", timeout=0.3)
    finally:
        writer.close()


def test_until_json_sees_mail_sent_to_the_smtp_sink(bundle: teamster.ServiceBundle) -> None:
    bundle["mail"] = teamster.Service(kind="smtp-sink")
    bundle.startup()
    info = bundle["mail"].connection
    msg = EmailMessage()
    msg["From"] = "app@example.test"
    msg["To"] = "user@example.test"
    msg["Subject"] = "Confirm your address"
    msg.set_content("Click https://example.test/confirm/abc to confirm.")
    with smtplib.SMTP(info["host"], int(info["port"]), timeout=10) as smtp:
        smtp.send_message(msg)
    mail = bundle["mail"].logs.out.until_json(
        lambda m: m["subject"] == "Confirm your address", timeout=10, lines_back=10
    )
    assert mail["sent_to"] == ["user@example.test"]
    assert mail["links"] == ["https://example.test/confirm/abc"]


def test_processes_subcommands_and_connection_info(bundle: teamster.ServiceBundle) -> None:
    bundle["cache"] = teamster.Service(kind="redis")
    bundle.startup()
    cache = bundle["cache"]
    pid = cache.pid
    assert isinstance(pid, int)
    assert alive(pid)
    proc = cache.process
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        assert isinstance(proc, teamster.ProcessStats)
        assert proc.pid == pid
    else:
        assert isinstance(proc, psutil.Process)
        assert proc.pid == pid
        assert "redis" in proc.name()
    stats = teamster.ProcessStats(bundle, "cache")
    assert stats.pid == pid
    assert stats.is_running()
    assert any(str(cache.connection["port"]) in x["addr"] for x in stats.listening)
    assert cache.connection["url"].startswith("redis://127.0.0.1:")
    assert bundle.connections["cache"] == cache.connection
    assert cache.subcommand("cli", "ping").output().strip() == "PONG"
    assert cache.cli("set", "k", "v").output().strip() == "OK"
    assert cache.cli("get", "k").run() == 0
    with pytest.raises(teamster.SubcommandError):
        cache.cli("--no-such-option").output()
    with pytest.raises(teamster.TeamsterError, match="nope"):
        cache.subcommand("nope").output()
    with pytest.raises(teamster.NoSuchService):
        bundle["nope"]


def test_time_travel_and_now(
    bundle: teamster.ServiceBundle, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle["clock"] = teamster.Service(
        command=[
            PY,
            "-c",
            "import time, datetime\nwhile True:\n"
            "    print(datetime.datetime.now().astimezone().isoformat(), flush=True)\n"
            "    time.sleep(0.05)\n",
        ],
    )
    bundle.startup()
    before = bundle.now()
    assert before.tzinfo is not None
    assert abs((before - dt.datetime.now(dt.timezone.utc)).total_seconds()) < 5
    after = bundle.time_travel(days=30, hours=1)
    out = capsys.readouterr().out
    assert out.startswith("Time travelling to "), out
    assert (after - before) > dt.timedelta(days=30)
    # The service sees it (its clock is the bundle's).
    seen = bundle["clock"].logs.until(
        lambda line: dt.datetime.fromisoformat(str(line)) > before + dt.timedelta(days=29),
        timeout=10,
    )
    assert seen
    target = dt.datetime(2030, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    moved = bundle.time_travel(datetime=target)
    assert abs((moved - target).total_seconds()) < 5
    assert abs((bundle.now() - target).total_seconds()) < 5


def test_messages_and_interactive_mode(
    bundle: teamster.ServiceBundle, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle["idle"] = teamster.Service(command=["sh", "-c", "echo chatty; exec sleep 600"])
    bundle.startup(interactive=True)
    printed: List[str] = []

    def shown() -> bool:
        printed.append(capsys.readouterr().out)
        return "chatty" in "".join(printed)

    eventually(shown, 10, "interactive mode to print the service's lines")
    assert "idle] chatty" in "".join(printed)
    bundle.start_interactive_mode()
    bundle.warn("careful")
    bundle.stop_interactive_mode()
    bundle["idle"].log("from the service")
    lines = [str(x) for x in bundle.logs.lines() if x.service == "teamster"]
    assert any("careful" in x for x in lines), lines
    assert any("[idle] from the service" in x for x in lines), lines


def test_the_context_manager_stops_what_it_started(project: Project) -> None:
    project.bundle(f"""
[services.db]
kind = "postgres"
{PG_USER}""")
    with teamster.Bundle.load(project.path / "bundle.toml") as b:
        host, db = b.pid, b["db"].pid
        assert b["db"].connection["url"].startswith("postgresql://")
        assert not b.attached
    assert not alive(db), "every process tree is gone once shutdown() returns"
    eventually(lambda: not alive(host), 30, "the host to exit")


def test_a_second_client_attaches_and_a_leased_bundle_stops_after_its_last_lease(
    project: Project,
) -> None:
    path = project.bundle('[services.idle]\ncommand = "sleep 600"\n')
    first = teamster.Bundle.load(path).startup()
    second = teamster.Bundle.load(path).startup()
    assert second.attached
    assert second.pid == first.pid
    assert first.status()["leases"] == 2
    first.shutdown()  # not alone: only releases
    assert alive(second.pid)
    host = second.pid
    second.detach()  # the last lease goes: the host stops after its grace
    eventually(lambda: not alive(host), 30, "the leased bundle to stop")


def test_reuse_attaches_without_the_binary(project: Project) -> None:
    path = project.bundle('[services.idle]\ncommand = "sleep 600"\n')
    first = teamster.Bundle.load(path).startup(reuse=True)
    first.detach()
    started = time.perf_counter()
    again = teamster.Bundle.load(path).startup(reuse=True)
    elapsed = time.perf_counter() - started
    assert again.attached
    assert again.pid == first.pid
    assert again["idle"].pid is not None
    assert elapsed < 0.5, f"attaching took {elapsed * 1000:.0f} ms"
    again.stop()
    eventually(lambda: not alive(first.pid), 30, "the host to exit")


def test_a_different_bundle_in_the_same_project_is_refused(project: Project) -> None:
    path = project.bundle('[services.idle]\ncommand = "sleep 600"\n')
    first = teamster.Bundle.load(path).startup()
    try:
        path.write_text('[services.idle]\ncommand = "sleep 601"\n')
        with pytest.raises(teamster.AlreadyRunning, match="different bundle"):
            teamster.Bundle.load(path).startup()
    finally:
        first.stop()


KERNEL_APP = (
    "from ipykernel.embed import embed_kernel\n"
    "answer = 42\n"
    "print('app ready', flush=True)\n"
    "embed_kernel(local_ns={'answer': answer})\n"
)


def test_a_console_runs_code_in_the_kernel_a_service_embedded(
    project: Project, bundle: teamster.ServiceBundle
) -> None:
    home = project.path / "app-home"
    home.mkdir()
    bundle["app"] = teamster.Service(
        command=[PY, "-u", "-c", KERNEL_APP],
        ready=ready.log("app ready"),
        env={"HOME": str(home)},
    )
    bundle["quiet"] = teamster.Service(
        command=["sh", "-c", "echo hi; exec sleep 600"], ready=ready.log("hi")
    )
    bundle.startup()

    file = bundle["app"].kernel_connection_file(timeout=60)
    assert file.startswith(str(home / ".local/share/jupyter/runtime")), file

    # The kernel runs code in the app's namespace, through jupyter_client ...
    from jupyter_client import BlockingKernelClient  # type: ignore[import-untyped]

    client = BlockingKernelClient(connection_file=file)
    client.load_connection_file()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=30)
        reply = client.execute_interactive("print(answer + 1)", timeout=30)
        assert reply["content"]["status"] == "ok", reply
    finally:
        client.stop_channels()

    # ... and through the console hitchserve opened, fed on its stdin here.
    status = bundle.connect_to_ipykernel(
        "app", "--simple-prompt", input="print(answer * 2)\nquit(keep_kernel=True)\n"
    )
    assert status == 0

    with pytest.raises(teamster.WaitTimeout, match="announced no IPython kernel"):
        bundle["quiet"].kernel_connection_file(timeout=0.2)
