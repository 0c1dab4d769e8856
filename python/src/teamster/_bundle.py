"""A bundle: defined in a file or in Python, started (or attached to) through
``teamster up -d --json``, then driven over its control socket.

Why the binary starts it rather than this package: the host is what validates the bundle
(so a Python-built bundle gets exactly the TOML errors), supervises the services, and keeps
running detached so that several processes (pytest-xdist workers, later test sessions) can
share one bundle. This module only reads what ``up -d --json`` prints, connects to the
socket it names, and holds a lease for as long as this process wants the bundle.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterator, List, Mapping, Optional, Union

from ._binary import find_binary
from ._errors import (
    BundleError,
    NotRunning,
    TeamsterError,
    from_exit_code,
)
from ._logs import Logs
from ._rpc import Connection
from ._service import Duration, Service, duration_value
from ._subcommand import pid_alive

if TYPE_CHECKING:
    import subprocess

# subprocess, tempfile and hashlib are imported where they are used: `import teamster` is
# on the path of every pytest run that has the plugin installed, and they are a third of
# its import time.

__all__ = ["Bundle", "ServiceBundle", "parse_time", "travel_text"]

PathLike = Union[str, "os.PathLike[str]"]

#: The file, in the run root, where the last (bundle, binary) -> spec_hash pairing is kept
#: so that a reused bundle can be attached to without running the binary.
_ATTACH_CACHE = "python-attach.json"


class Bundle:
    """A bundle of services.

    Build one with ``Bundle.load("bundle.toml")`` (TOML or ``.json``), ``Bundle.from_dict``,
    or ``ServiceBundle(...)`` with services added as ``bundle[name] = Service(...)``. Then
    ``startup()`` (or ``with bundle:``), use ``bundle["db"]``, and ``shutdown()``.
    """

    def __init__(
        self,
        path: Optional[PathLike] = None,
        *,
        text: Optional[str] = None,
        binary: Optional[str] = None,
    ) -> None:
        if (path is None) == (text is None) and not isinstance(self, ServiceBundle):
            raise TypeError("give a bundle file path or a bundle text (JSON or TOML)")
        self.path: Optional[Path] = Path(path).resolve() if path is not None else None
        self._text = text
        self._binary = binary
        self._services: Dict[str, Service] = {}
        self._conn: Optional[Connection] = None
        self._ready: Dict[str, Any] = {}
        self._owner = False
        self._reuse = False
        self._printer: Optional[_ConsolePrinter] = None
        self._lock = threading.Lock()

    # --------------------------------------------------------------- building

    @classmethod
    def load(cls, path: PathLike, binary: Optional[str] = None) -> Bundle:
        """A bundle from a file: TOML, or JSON when it ends in ``.json``. Nothing is read
        yet; the host reads and validates it at ``check()`` or ``startup()``."""
        return cls(path, binary=binary)

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any], binary: Optional[str] = None) -> Bundle:
        """A bundle from the JSON form of the bundle model (``docs/bundle-format.md``)."""
        return cls(text=_dumps(spec), binary=binary)

    def to_json(self) -> Optional[str]:
        """The JSON text piped to the host, or ``None`` for a bundle file."""
        return self._text

    @property
    def binary(self) -> str:
        if self._binary is None:
            self._binary = find_binary()
        return self._binary

    def _source_arg(self) -> str:
        return str(self.path) if self.path is not None else "-"

    def _stdin_text(self) -> Optional[str]:
        return None if self.path is not None else self.to_json()

    def check(self) -> None:
        """Validates the bundle with the host (``teamster check``); raises ``BundleError``
        with the host's message (file:line:col, service, key) when it is invalid."""
        import subprocess

        text = self._stdin_text()
        proc = subprocess.run(
            [self.binary, "check", self._source_arg()],
            input=text,
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            return
        message = _strip_error(proc.stderr or proc.stdout)
        if proc.returncode == 3:
            raise BundleError(message, data={"exit_code": 3})
        raise TeamsterError(f"`teamster check` failed with status {proc.returncode}: {message}")

    # -------------------------------------------------------------- lifecycle

    def startup(
        self,
        interactive: bool = False,
        *,
        leased: bool = True,
        reuse: bool = False,
        grace: Optional[Duration] = None,
        env: Optional[Mapping[str, str]] = None,
        fast_attach: bool = True,
    ) -> Bundle:
        """Starts the bundle detached, or attaches to it if the same bundle already runs,
        and returns once every service is ready.

        ``leased`` (the default) ties the bundle to its leases: this process holds one until
        ``shutdown()`` or its death, and the bundle stops once nobody holds one. ``reuse``
        keeps it running after the last lease instead (``teamster down`` stops it); the
        next ``startup(reuse=True)`` of the same bundle attaches to it, without running the
        binary when it can. ``interactive`` prints the services' logs on this process's
        stdout. Raises ``BundleError`` or ``StartupError`` with the host's message.
        """
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                return self
            self._reuse = reuse
            self._bind_services()
            if fast_attach and reuse and self._fast_attach(leased=leased, reuse=reuse):
                pass
            else:
                self._up(leased=leased, reuse=reuse, grace=grace, env=env)
            self._refresh_services()
        if interactive:
            self._printer = _ConsolePrinter(self)
        return self

    def _bind_services(self) -> None:
        for name, svc in self._services.items():
            svc._bind(self, name)

    def _handlers(self) -> Dict[str, Any]:
        return {"ready.check": self._on_ready_check, "hook.run": self._on_hook_run}

    def _needs_control(self) -> bool:
        return any(
            s.log_line_ready_checker is not None or s.client_hooks for s in self._services.values()
        )

    def _up(
        self,
        *,
        leased: bool,
        reuse: bool,
        grace: Optional[Duration],
        env: Optional[Mapping[str, str]],
    ) -> None:
        argv = [self.binary, "up", "-d", "--json"]
        if reuse:
            argv.append("--reuse")
        elif leased:
            argv.append("--leased")
            if grace is not None:
                argv += ["--grace", _duration_text(grace)]
        argv.append(self._source_arg())
        text = self._stdin_text()
        import subprocess
        import tempfile

        with tempfile.TemporaryFile() as errfile:
            try:
                proc = subprocess.Popen(
                    argv,
                    stdin=subprocess.PIPE if text is not None else subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=errfile,
                    env=dict(env) if env is not None else None,
                )
            except OSError as err:
                raise TeamsterError(f"cannot run {argv[0]}: {err}") from None
            assert proc.stdout is not None
            if text is not None:
                assert proc.stdin is not None
                try:
                    proc.stdin.write(text.encode())
                    proc.stdin.close()
                except BrokenPipeError:
                    pass
            try:
                ready = self._read_up_events(proc, leased=leased)
            except BaseException:
                self._drop_connection()
                _finish(proc)
                raise
            finally:
                proc.stdout.close()
            code = _finish(proc)
            if ready is None:
                errfile.seek(0)
                stderr = errfile.read().decode(errors="replace")
                raise TeamsterError(
                    f"`{' '.join(argv[1:])}` exited with status {code} before the bundle "
                    f"was ready"
                    + (f": {_strip_error(stderr)}" if stderr.strip() else "")
                    + _hint_for_old_binary(stderr),
                    data={"exit_code": code},
                )
        self._ready = ready
        self._owner = not bool(ready.get("attached"))
        self._remember_hash(str(ready.get("spec_hash", "")))

    def _read_up_events(
        self, proc: subprocess.Popen[bytes], *, leased: bool
    ) -> Optional[Dict[str, Any]]:
        assert proc.stdout is not None
        for raw in proc.stdout:
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # not ours: the protocol's lines are JSON
            if not isinstance(event, dict):
                continue
            kind = event.get("event")
            if kind == "listening":
                # Connect now: services with client-side readiness or hooks wait for us,
                # and a leased bundle should count us from the start.
                self._connect(str(event["socket"]), leased=leased, claim=self._needs_control())
            elif kind == "ready":
                if self._conn is None:
                    self._connect(str(event["socket"]), leased=leased, claim=False)
                return event
            elif kind == "error":
                raise from_exit_code(
                    int(event.get("exit_code", 1)),
                    str(event.get("message", "the bundle did not start")),
                    services=event.get("services"),
                )
        return None

    def _connect(self, socket_path: str, *, leased: bool, claim: bool) -> None:
        conn = Connection(socket_path, client=_client_name(), handlers=self._handlers())
        try:
            if claim:
                conn.call("control.claim", {})
            if leased:
                conn.call("lease.acquire", {})
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def shutdown(self, timeout: Optional[float] = None, *, only_if_owner: bool = True) -> None:
        """Lets go of the bundle: stops it if this process started it (or, with
        ``only_if_owner=False``, whoever did), nobody else holds a lease and it is not kept
        for reuse; else just releases this process's lease. A stop is waited for until
        every process tree is gone."""
        if self._printer is not None:
            self._printer.stop()
            self._printer = None
        conn = self._conn
        if conn is None:
            return
        if conn.closed:
            self._conn = None
            return
        stop = False
        if (self._owner or not only_if_owner) and not self._reuse:
            try:
                status = conn.call("status", timeout=10)
                stop = not status.get("kept") and int(status.get("leases", 0)) <= 1
            except TeamsterError:
                stop = False
        if stop:
            self.stop(timeout=timeout)
        else:
            self.detach()

    def detach(self) -> None:
        """Closes this process's connection (releasing its lease and any control) without
        stopping anything; a leased bundle stops by itself once no lease is left."""
        self._drop_connection()

    def stop(self, timeout: Optional[float] = None) -> None:
        """Stops the bundle whoever started it, and waits until every process tree is
        gone: the host hangs up on every connection only then (the host process itself
        exits a moment later, on its own)."""
        conn = self._connection()
        try:
            conn.call("stop", {}, timeout=30)
        except NotRunning:
            pass
        conn.wait_closed(timeout if timeout is not None else 120)
        self._drop_connection()

    def __enter__(self) -> Bundle:
        return self.startup()

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    # ------------------------------------------------------- the fast attach

    def _run_root(self) -> Optional[Path]:
        """Where the host keeps runs for this bundle, read from the bundle itself."""
        try:
            if self.path is not None:
                raw = self.path.read_bytes()
                if self.path.suffix == ".json":
                    data = json.loads(raw)
                else:
                    try:
                        import tomllib
                    except ImportError:  # Python < 3.11: no TOML reader in the stdlib
                        return None
                    data = tomllib.loads(raw.decode())
                base = self.path.parent
            else:
                data = json.loads(self._text or "{}")
                base = Path.cwd()
        except (OSError, ValueError):
            return None
        project = base / str(data.get("project_dir", "."))
        return project / str(data.get("run_dir", ".teamster"))

    def _attach_key(self) -> Optional[str]:
        try:
            binary = Path(self.binary).resolve()
            st = binary.stat()
            text = self.path.read_bytes() if self.path is not None else (self._text or "").encode()
        except (OSError, TeamsterError):
            return None
        import hashlib

        h = hashlib.sha256()
        for part in (str(binary), str(st.st_mtime_ns), str(st.st_size), self._source_arg()):
            h.update(part.encode() + b"\0")
        h.update(text)
        return h.hexdigest()

    def _remember_hash(self, spec_hash: str) -> None:
        root, key = self._run_root(), self._attach_key()
        if root is None or key is None or not spec_hash:
            return
        try:
            tmp = root / f".{_ATTACH_CACHE}.{os.getpid()}"
            tmp.write_text(json.dumps({"key": key, "spec_hash": spec_hash}))
            os.replace(tmp, root / _ATTACH_CACHE)
        except OSError:
            pass

    def _fast_attach(self, *, leased: bool, reuse: bool) -> bool:
        """Attaches to a running, ready bundle without running the binary: the host's
        ``host.json`` names the socket, and a previous ``up -d`` taught us the spec hash of
        exactly this bundle text and binary. Any doubt falls back to ``up -d``."""
        root, key = self._run_root(), self._attach_key()
        if root is None or key is None:
            return False
        try:
            cached = json.loads((root / _ATTACH_CACHE).read_text())
            host = json.loads((root / "host.json").read_text())
        except (OSError, ValueError):
            return False
        if cached.get("key") != key or host.get("spec_hash") != cached.get("spec_hash"):
            return False
        if not pid_alive(host.get("pid")):
            return False
        try:
            conn = Connection(
                str(host["socket"]),
                client=_client_name(),
                handlers=self._handlers(),
                connect_timeout=1.0,
            )
        except (TeamsterError, KeyError):
            return False
        try:
            hello = conn.hello
            if hello.get("spec_hash") != cached["spec_hash"] or hello.get("phase") != "ready":
                conn.close()
                return False
            if leased:
                conn.call("lease.acquire", {})
            if reuse and not hello.get("kept"):
                conn.call("bundle.keep", {"keep": True})
            status = conn.call("status")
        except TeamsterError:
            conn.close()
            return False
        self._conn = conn
        self._owner = False
        self._ready = {
            "event": "ready",
            "attached": True,
            "pid": hello.get("pid"),
            "socket": host["socket"],
            "run_dir": hello.get("run_dir"),
            "spec_hash": hello.get("spec_hash"),
            "connections": {
                s["name"]: dict(s.get("connection") or {}) for s in status.get("services", [])
            },
        }
        return True

    # --------------------------------------------------- client-side callbacks

    def _on_ready_check(self, params: Dict[str, Any]) -> Dict[str, Any]:
        name = str(params.get("service"))
        svc = self._services.get(name)
        checker = svc.log_line_ready_checker if svc is not None else None
        if checker is None:
            raise TeamsterError(f"this client has no log_line_ready_checker for `{name}`")
        from ._logs import LogLine

        line = params.get("line") or {}
        try:
            verdict = checker(LogLine.from_wire(line) if isinstance(line, dict) else str(line))
        except Exception as exc:
            raise TeamsterError(
                f"the log_line_ready_checker of `{name}` raised {type(exc).__name__}: {exc}"
            ) from exc
        return {"ready": bool(verdict)}

    def _on_hook_run(self, params: Dict[str, Any]) -> Dict[str, Any]:
        name = str(params.get("service"))
        hook = str(params.get("hook"))
        svc = self._services.get(name)
        if svc is None or hook not in svc.client_hooks:
            raise TeamsterError(f"this client has no `{hook}` hook for `{name}`")
        try:
            getattr(svc, hook)()
        except Exception as exc:
            raise TeamsterError(
                f"the {hook} hook of `{name}` raised {type(exc).__name__}: {exc}"
            ) from exc
        return {}

    # ------------------------------------------------------------- running side

    def _connection(self) -> Connection:
        conn = self._conn
        if conn is None:
            raise NotRunning("the bundle is not running: call startup() first")
        return conn

    def _call(
        self, method: str, params: Optional[Dict[str, Any]] = None, timeout: Optional[float] = 60.0
    ) -> Any:
        return self._connection().call(method, params, timeout=timeout)

    @property
    def running(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @property
    def attached(self) -> bool:
        """Whether ``startup()`` attached to a bundle another process had started."""
        return bool(self._ready.get("attached"))

    @property
    def pid(self) -> Optional[int]:
        """The host's pid."""
        pid = self._ready.get("pid")
        return int(pid) if pid is not None else None

    @property
    def run_dir(self) -> Optional[Path]:
        run = self._ready.get("run_dir")
        return Path(run) if run else None

    @property
    def socket_path(self) -> Optional[str]:
        return self._ready.get("socket")

    @property
    def spec_hash(self) -> Optional[str]:
        return self._ready.get("spec_hash")

    def status(self) -> Dict[str, Any]:
        """The host's ``status``: phase, leases, and every service's state."""
        return dict(self._call("status"))

    def wait_ready(self, timeout: Optional[float] = None) -> Dict[str, Any]:
        params = {} if timeout is None else {"timeout_ms": int(timeout * 1000)}
        return dict(self._call("bundle.wait_ready", params, timeout=None))

    @property
    def connections(self) -> Dict[str, Dict[str, str]]:
        """Every service's connection info, ``{service: {key: value}}``, as in
        ``connections.json``."""
        if self.running:
            return {
                s["name"]: dict(s.get("connection") or {})
                for s in self.status().get("services", [])
            }
        return {k: dict(v) for k, v in (self._ready.get("connections") or {}).items()}

    def _refresh_services(self) -> None:
        names = list((self._ready.get("connections") or {}).keys())
        try:
            names = [s["name"] for s in self.status().get("services", [])]
        except TeamsterError:
            pass
        for name in names:
            if name not in self._services:
                svc = Service()
                svc._bind(self, name)
                self._services[name] = svc

    def __getitem__(self, name: str) -> Service:
        svc = self._services.get(name)
        if svc is not None:
            return svc
        if self.running:
            self._refresh_services()
            svc = self._services.get(name)
            if svc is not None:
                return svc
            from ._errors import NoSuchService

            raise NoSuchService(
                f"no service `{name}` in this bundle (services: {', '.join(self._services)})",
                data={"services": list(self._services)},
            )
        # Before the start of a bundle file: a handle that works once it runs.
        svc = Service()
        svc._bind(self, name)
        self._services[name] = svc
        return svc

    def __setitem__(self, name: str, service: Service) -> None:
        raise TeamsterError(
            "services can only be added to a ServiceBundle; this bundle comes from "
            f"{self.path or 'a text'}"
        )

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._services))

    def __len__(self) -> int:
        return len(self._services)

    def keys(self) -> List[str]:
        return list(self._services)

    def items(self) -> List[Any]:
        return list(self._services.items())

    @property
    def logs(self) -> Logs:
        """The logs of every service (and the bundle's own messages) in order."""
        return Logs(self)

    def log(self, message: str) -> None:
        """Prints a bundle-level line in the bundle's log stream and console."""
        self._call("message", {"text": str(message)})

    def warn(self, message: str) -> None:
        """Prints a bundle-level warning in the bundle's log stream and console."""
        self._call("message", {"text": str(message), "warning": True})

    def start_interactive_mode(self) -> None:
        """Pauses console output (the host's and this process's printer), so an
        interactive session such as a debugger has the terminal to itself."""
        if self._printer is not None:
            self._printer.paused.set()
        self._call("console", {"paused": True})

    def stop_interactive_mode(self) -> None:
        """Resumes console output paused by ``start_interactive_mode()``."""
        self._call("console", {"paused": False})
        if self._printer is not None:
            self._printer.paused.clear()

    def timeline(self, svg: bool = False) -> Dict[str, Any]:
        """Every phase every service went through so far (``events``), the text chart with
        its critical chain (``text``), the chain itself (``critical_chain``) and, with
        ``svg=True``, the picture as a self-contained SVG (``svg``)."""
        return dict(self._call("timeline", {"svg": svg}))

    def connect_to_kernel(
        self,
        service: Union[Service, str],
        *console_args: str,
        timeout: float = 30.0,
        input: Optional[str] = None,
    ) -> int:
        """hitchserve's ``connect_to_ipykernel``: waits for the IPython kernel ``service``
        embedded (``IPython.embed_kernel()``), then runs ``jupyter console --existing`` on
        it in this terminal, with console output paused (``start_interactive_mode``) until
        it exits. Returns the console's exit status. ``console_args`` go to
        ``jupyter console``; ``input`` feeds it instead of the terminal."""
        import shutil
        import subprocess

        svc = self[service] if isinstance(service, str) else service
        file = svc.kernel_connection_file(timeout=timeout)
        jupyter = shutil.which("jupyter")
        if jupyter is None:
            raise TeamsterError(
                "`jupyter` is not on PATH; install the console with "
                f"`pip install jupyter-console` (the kernel's connection file is {file})"
            )
        self.start_interactive_mode()
        try:
            argv = [jupyter, "console", "--existing", file, *console_args]
            return subprocess.run(argv, input=input, text=True, check=False).returncode
        finally:
            self.stop_interactive_mode()

    connect_to_ipykernel = connect_to_kernel

    # ---------------------------------------------------------------- time

    def time_travel(
        self,
        datetime: Optional[_dt.datetime] = None,
        timedelta: Optional[_dt.timedelta] = None,
        seconds: float = 0,
        minutes: float = 0,
        hours: float = 0,
        days: float = 0,
    ) -> _dt.datetime:
        """Moves every service's clock: to ``datetime`` (a naive one is local time), or by
        ``timedelta`` plus ``days``/``hours``/``minutes``/``seconds`` (negative: back).
        Prints the host's "Time travelling to …" line and returns the new time."""
        if datetime is not None:
            if timedelta is not None or seconds or minutes or hours or days:
                raise TypeError("give either datetime= or a relative jump, not both")
            when = datetime if datetime.tzinfo is not None else datetime.astimezone()
            params = {"to": when.isoformat()}
        else:
            delta = (timedelta or _dt.timedelta()) + _dt.timedelta(
                days=days, hours=hours, minutes=minutes, seconds=seconds
            )
            params = {"by": travel_text(delta)}
        result = self._call("travel", params)
        print(result.get("report", ""), flush=True)
        return parse_time(str(result["now"])) if result.get("now") else self.now()

    def now(self) -> _dt.datetime:
        """The bundle's (possibly travelled) time, timezone-aware."""
        return parse_time(str(self._call("now")["now"]))

    def __repr__(self) -> str:
        state = "running" if self.running else "not running"
        return f"<{type(self).__name__} {self.path or '(from Python)'}: {state}>"


class ServiceBundle(Bundle):
    """hitchserve's shape: a bundle built in Python.

    ``project_directory`` is the base of relative paths (default: the current directory);
    timeouts are seconds (or ``"15s"``-style texts, or timedeltas). The bundle is sent to
    the host as JSON, and validated there like a file.
    """

    def __init__(
        self,
        project_directory: Optional[PathLike] = None,
        startup_timeout: Duration = 15.0,
        shutdown_timeout: Duration = 5.0,
        *,
        run_dir: Optional[PathLike] = None,
        keep_runs: Optional[int] = None,
        clock: Optional[str] = None,
        binary: Optional[str] = None,
    ) -> None:
        super().__init__(binary=binary)
        self.project_directory = Path(project_directory or os.getcwd()).resolve()
        self.startup_timeout = startup_timeout
        self.shutdown_timeout = shutdown_timeout
        self.run_dir_setting = run_dir
        self.keep_runs = keep_runs
        self.clock = clock

    def __setitem__(self, name: str, service: Service) -> None:
        if not isinstance(service, Service):
            raise TypeError(
                f"bundle[{name!r}] must be a teamster.Service, not {type(service).__name__}"
            )
        if self.running:
            raise TeamsterError("cannot add a service to a running bundle")
        service._bind(self, name)
        self._services[name] = service

    def __getitem__(self, name: str) -> Service:
        if not self.running and name not in self._services:
            raise KeyError(
                f"no service `{name}` in this bundle yet "
                f"(services: {', '.join(self._services) or 'none'})"
            )
        return super().__getitem__(name)

    def to_dict(self) -> Dict[str, Any]:
        """The bundle in the model's JSON form, services in the order they were added."""
        out: Dict[str, Any] = {"project_dir": str(self.project_directory)}
        out["startup_timeout"] = duration_value(self.startup_timeout)
        out["shutdown_timeout"] = duration_value(self.shutdown_timeout)
        if self.run_dir_setting is not None:
            out["run_dir"] = os.fspath(self.run_dir_setting)
        if self.keep_runs is not None:
            out["keep_runs"] = self.keep_runs
        if self.clock is not None:
            out["clock"] = self.clock
        out["services"] = {name: svc.to_dict() for name, svc in self._services.items()}
        return out

    def to_json(self) -> str:
        return _dumps(self.to_dict())

    def _stdin_text(self) -> str:
        return self.to_json()

    def _run_root(self) -> Optional[Path]:
        return self.project_directory / os.fspath(self.run_dir_setting or ".teamster")


# ------------------------------------------------------------------- helpers


class _ConsolePrinter:
    """Prints the bundle's log lines on stdout while ``interactive`` (paused by
    ``start_interactive_mode``), in the host console's ``[service] text`` layout."""

    def __init__(self, bundle: Bundle) -> None:
        self.paused = threading.Event()
        self._follow = bundle.logs.follow(lines_back=1000)
        names = list(bundle) or ["teamster"]
        self._width = max(len(n) for n in [*names, "teamster"])
        self._thread = threading.Thread(target=self._run, name="teamster-console", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            for line in self._follow:
                if self.paused.is_set():
                    continue
                tag = ("Err " if line.stream == "err" else "") + line.service
                sys.stdout.write(f"[{tag:>{self._width + 4}}] {line}\n")
                sys.stdout.flush()
        except Exception:
            pass

    def stop(self) -> None:
        self._follow.close()


def _dumps(spec: Mapping[str, Any]) -> str:
    # Deterministic text: equal bundles must hash equal in the host, so that every
    # pytest-xdist worker attaches to the bundle the first one started.
    return json.dumps(spec, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _finish(proc: subprocess.Popen[bytes]) -> int:
    """Waits (bounded) for ``teamster up -d`` to exit after its last event."""
    import subprocess

    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()


def _strip_error(text: str) -> str:
    text = text.strip()
    return text[len("error: ") :] if text.startswith("error: ") else text


def _hint_for_old_binary(stderr: str) -> str:
    if "unexpected argument '-d'" in stderr or "unexpected argument '--json'" in stderr:
        return (
            "\nhint: this `teamster` binary predates `up -d`; install the wheel that "
            "came with this package or point TEAMSTER_BIN at a newer build"
        )
    return ""


def _client_name() -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    base = f"python {os.getpid()}"
    return f"{base} ({worker})" if worker else base


def _duration_text(value: Duration) -> str:
    v = duration_value(value)
    return f"{v}s" if isinstance(v, (int, float)) else str(v)


def travel_text(delta: _dt.timedelta) -> str:
    """A relative travel in the host's syntax: ``+30d``, ``-2h``, ``+1d2h30m4s250ms``."""
    total_ms = round(delta.total_seconds() * 1000)
    sign = "-" if total_ms < 0 else "+"
    ms = abs(total_ms)
    parts = []
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        n, ms = divmod(ms, size)
        if n:
            parts.append(f"{n}{unit}")
    if ms or not parts:
        parts.append(f"{ms}ms")
    return sign + "".join(parts)


_FRACTION = re.compile(r"(\.\d+)")


def parse_time(text: str) -> _dt.datetime:
    """An RFC 3339 time as an aware datetime (any fraction length, ``Z`` allowed), which
    ``datetime.fromisoformat`` only takes from Python 3.11 on."""
    t = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    m = _FRACTION.search(t)
    if m:
        frac = m.group(1)[1:]
        t = t[: m.start()] + "." + (frac + "000000")[:6] + t[m.end() :]
    value = _dt.datetime.fromisoformat(t)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.timezone.utc)
    return value
