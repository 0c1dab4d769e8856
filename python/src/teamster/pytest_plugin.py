"""The pytest plugin: a session fixture ``teamster`` yielding the running bundle.

Configuration: ``--teamster-bundle PATH`` or the ini key ``teamster_bundle`` (a
``bundle.toml``, a ``.json`` bundle, or a ``.py`` file defining ``bundle``, optionally
``file.py:name``).

Sharing with pytest-xdist: every process that uses the bundle runs ``teamster up -d
--leased`` and holds a lease on one connection. The first one starts the bundle, the others
attach to it (the host allows one bundle per run directory). The controller process takes
a lease too, from the start of the session to its end, so that the bundle outlives any
worker (a worker finishing early, or SIGKILLed) and stops once the whole run is over; a
SIGKILLed process's lease dies with its socket, so nothing outlives the run either.

``--teamster-reuse`` starts with ``--reuse`` instead: the bundle stays up after the session
and the next session attaches to it. ``--teamster-attach [FILE]`` or ``TEAMSTER_CONNECTIONS``
yield connection info from a ``connections.json``-shaped file and manage nothing.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Generator, Iterator, List, Optional, Union

import pytest

if TYPE_CHECKING:
    from ._bundle import Bundle
    from ._external import ExternalBundle

_STATE = pytest.StashKey["_State"]()

#: Environment variables of this pytest process that must not reach the services (a
#: worker's identity would leak into a bundle shared by all workers).
_PRIVATE_ENV_PREFIXES = ("PYTEST_XDIST_", "PYTEST_CURRENT_TEST")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("teamster", "teamster: real services for the tests")
    group.addoption(
        "--teamster-bundle",
        metavar="PATH",
        default=None,
        help="the bundle the `teamster` fixture runs (bundle.toml, .json, or "
        "file.py[:name] defining a ServiceBundle)",
    )
    group.addoption(
        "--teamster-reuse",
        action="store_true",
        default=None,
        help="keep the bundle running after the session; the next session attaches to it",
    )
    group.addoption(
        "--teamster-attach",
        metavar="FILE",
        nargs="?",
        const="",
        default=None,
        help="external mode: yield the connection info of FILE (default "
        "$TEAMSTER_CONNECTIONS) and start or stop nothing",
    )
    group.addoption(
        "--teamster-log-lines",
        metavar="N",
        type=int,
        default=None,
        help="log lines per service added to a failed test's report (default 20; 0: none)",
    )
    parser.addini("teamster_bundle", "the bundle the `teamster` fixture runs", default=None)
    parser.addini("teamster_reuse", "keep the bundle between sessions", type="bool", default=False)
    parser.addini("teamster_log_lines", "log lines per service in failure reports", default="20")


class _State:
    """Per-process plugin state: how the bundle is configured and, once started, it."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.bundle: Optional[Union[Bundle, ExternalBundle]] = None
        self.controller_thread: Optional[threading.Thread] = None
        self.controller_bundle: Optional[Bundle] = None

    # ----------------------------------------------------------- settings

    @property
    def reuse(self) -> bool:
        opt = self.config.getoption("teamster_reuse")
        return bool(opt) if opt is not None else bool(self.config.getini("teamster_reuse"))

    @property
    def log_lines(self) -> int:
        opt = self.config.getoption("teamster_log_lines")
        if opt is not None:
            return int(opt)
        try:
            return int(self.config.getini("teamster_log_lines"))
        except ValueError:
            return 20

    def external_file(self) -> Optional[str]:
        opt = self.config.getoption("teamster_attach")
        env = os.environ.get("TEAMSTER_CONNECTIONS", "")
        if opt is not None:
            path = opt or env
            if not path:
                raise pytest.UsageError(
                    "--teamster-attach needs a connections file: give one, or set "
                    "TEAMSTER_CONNECTIONS"
                )
            return path
        return env or None

    def bundle_source(self) -> Optional[str]:
        opt = self.config.getoption("teamster_bundle")
        if opt:
            return str(Path(opt).resolve())
        ini = self.config.getini("teamster_bundle")
        if ini:
            base = self.config.inipath.parent if self.config.inipath else self.config.rootpath
            path, sep, attr = str(ini).partition(":")
            return str((base / path).resolve()) + (sep + attr if sep else "")
        return None

    def make_bundle(self) -> Bundle:
        from ._bundle import Bundle

        source = self.bundle_source()
        if source is None:
            raise pytest.UsageError(
                "the `teamster` fixture needs a bundle: pass --teamster-bundle PATH or set "
                "`teamster_bundle` in the pytest configuration (or TEAMSTER_CONNECTIONS for "
                "services started elsewhere)"
            )
        path, _, attr = source.partition(".py:") if ".py:" in source else (source, "", "")
        if source.endswith(".py") or attr:
            return _bundle_from_python(
                path if source.endswith(".py") else path + ".py", attr or "bundle"
            )
        return Bundle.load(source)

    def start(self, bundle: Bundle) -> Bundle:
        return bundle.startup(leased=True, reuse=self.reuse, env=_service_env())


def _bundle_from_python(path: str, attr: str) -> Bundle:
    import runpy

    from ._bundle import Bundle

    namespace = runpy.run_path(path)
    value = namespace.get(attr)
    if callable(value) and not isinstance(value, Bundle):
        value = value()
    if not isinstance(value, Bundle):
        raise pytest.UsageError(
            f"{path} must define `{attr}`, a teamster.ServiceBundle (or a function returning one)"
        )
    return value


def _service_env() -> Dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(_PRIVATE_ENV_PREFIXES)}


def _state(config: pytest.Config) -> _State:
    state = config.stash.get(_STATE, None)
    if state is None:
        state = _State(config)
        config.stash[_STATE] = state
    return state


def _is_xdist_controller(config: pytest.Config) -> bool:
    if hasattr(config, "workerinput"):
        return False
    if config.pluginmanager.getplugin("dsession") is None:
        return False
    return bool(getattr(config.option, "numprocesses", None))


# ------------------------------------------------------------------ the controller


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "teamster: the test uses the teamster bundle")
    _state(config)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    state = _state(config)
    if not _is_xdist_controller(config) or config.option.collectonly:
        return
    try:
        if state.external_file() is not None or state.bundle_source() is None:
            return
    except pytest.UsageError:
        return

    # Start (or attach) in the background while the workers boot: they attach to the same
    # bundle with their own `up -d`, and this process's lease keeps it alive until the end.
    def hold() -> None:
        try:
            bundle = state.make_bundle()
            state.controller_bundle = bundle
            state.start(bundle)
        except Exception:  # the workers' own start reports the same error on their tests
            pass

    thread = threading.Thread(target=hold, name="teamster-controller", daemon=True)
    state.controller_thread = thread
    thread.start()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    state = _state(session.config)
    if state.controller_thread is None:
        return
    state.controller_thread.join()
    bundle = state.controller_bundle
    if bundle is not None and bundle.running:
        # Every worker is gone by now: stop it unless someone else (another session) holds
        # a lease, or it is kept for reuse.
        bundle.shutdown(only_if_owner=False)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def teamster(request: pytest.FixtureRequest) -> Iterator[Any]:
    """The running bundle: ``teamster["db"].connection["url"]``, ``teamster["web"].logs``,
    ``teamster.time_travel(days=1)`` … (or, in external mode, connection info only)."""
    state = _state(request.config)
    external = state.external_file()
    if external is not None:
        from ._external import ExternalBundle

        state.bundle = ExternalBundle.from_file(external)
        yield state.bundle
        return
    bundle = state.make_bundle()
    state.start(bundle)
    state.bundle = bundle
    try:
        yield bundle
    finally:
        state.bundle = None
        if hasattr(request.config, "workerinput"):
            # A worker never stops the shared bundle: the controller and the other
            # workers may still use it. Dropping the lease is all.
            bundle.detach()
        else:
            bundle.shutdown()


# -------------------------------------------------------------- failure reports


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if not report.failed or report.when not in ("setup", "call"):
        return
    state = item.config.stash.get(_STATE, None)
    if state is None or state.log_lines <= 0:
        return
    bundle = state.bundle
    if bundle is None or not getattr(bundle, "_conn", None) or not bundle.running:
        return
    text = _last_lines(bundle, state.log_lines)  # type: ignore[arg-type]
    if text:
        report.sections.append(("teamster: last log lines", text))
    chart = _timeline_text(bundle)  # type: ignore[arg-type]
    if chart:
        report.sections.append(("teamster: timeline", chart))


def _timeline_text(bundle: Bundle) -> str:
    """The run's phases as a chart, with the critical chain: which waits made it slow."""
    try:
        return str(bundle.timeline().get("text", "")).rstrip()
    except Exception as exc:  # a report must never fail the run
        return f"(cannot read the bundle's timeline: {exc})"


def _last_lines(bundle: Bundle, n: int) -> str:
    blocks: List[str] = []
    try:
        names = [s["name"] for s in bundle.status().get("services", [])]
        for name in names:
            lines = bundle[name].logs.lines(tail=n)
            shown = "\n".join(f"  {ln.stream} | {ln}" for ln in lines) or "  (no output)"
            blocks.append(f"[{name}]\n{shown}")
    except Exception as exc:  # a report must never fail the run
        blocks.append(f"(cannot read the bundle's logs: {exc})")
    return "\n".join(blocks)
