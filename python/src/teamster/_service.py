"""A service: its definition (for bundles built in Python) and, once the bundle runs, a
handle on it (pid, logs, sub-commands, connection info).

One object plays both parts, as in hitchserve, so that ``needs=[bundle["db"]]`` and
``bundle["db"].logs`` name the same thing. Overriding ``setup()`` or ``poststart()`` in a
subclass makes them hooks the host asks this process to run (``client_hooks``); a
``log_line_ready_checker=`` makes this process the judge of readiness (``ready = {client =
true}``).
"""

from __future__ import annotations

import datetime as _dt
import functools
import os
import signal as _signal
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Sequence,
    Union,
)

from ._errors import TeamsterError
from ._logs import Logs
from ._subcommand import ProcessStats, Subcommand

if TYPE_CHECKING:
    from ._bundle import Bundle

__all__ = ["Service"]

Duration = Union[int, float, str, _dt.timedelta]
Command = Union[str, Sequence[str]]
ReadyChecker = Callable[[str], Any]

_HOOKS = ("setup", "poststart")


class Service:
    """A service of a bundle.

    Definition keywords mirror the bundle file (``docs/bundle-format.md``); hitchserve's
    names are accepted too: ``env_vars`` (``env``), ``no_libfaketime`` (``faketime=False``),
    ``log_line_ready_checker`` (a callable judging each line here). ``kind=`` and
    ``config=`` pick a plugin kind such as ``"postgres"``, ``"redis"``, ``"django"``,
    ``"smtp-sink"``, ``"celery"`` or ``"chromedriver"``. ``setup=`` / ``poststart=``
    callables are the same as overriding the methods.
    """

    def __init__(
        self,
        command: Optional[Command] = None,
        *,
        log_line_ready_checker: Optional[ReadyChecker] = None,
        directory: Optional[Union[str, os.PathLike[str]]] = None,
        no_libfaketime: bool = False,
        env_vars: Optional[Mapping[str, Any]] = None,
        env: Optional[Mapping[str, Any]] = None,
        needs: Optional[Sequence[Union[Service, str]]] = None,
        kind: Optional[str] = None,
        config: Optional[Mapping[str, Any]] = None,
        ready: Optional[Union[Mapping[str, Any], Sequence[Mapping[str, Any]]]] = None,
        stop_signal: Optional[Union[str, int]] = None,
        user: Optional[str] = None,
        inherit_env: Optional[bool] = None,
        faketime: Optional[bool] = None,
        shutdown_timeout: Optional[Duration] = None,
        connection: Optional[Mapping[str, Any]] = None,
        grants: Optional[Sequence[str]] = None,
        setup: Optional[Callable[[], Any]] = None,
        poststart: Optional[Callable[[], Any]] = None,
    ) -> None:
        self.name: Optional[str] = None
        self.bundle: Optional[Bundle] = None
        self.command = command
        self.log_line_ready_checker = log_line_ready_checker
        self.directory = directory
        env_all: Dict[str, Any] = {}
        env_all.update(env_vars or {})
        env_all.update(env or {})
        self.env = env_all
        self.needs = list(needs or [])
        self.kind = kind
        self.config = dict(config) if config is not None else None
        self.ready = ready
        self.stop_signal = stop_signal
        self.user = user
        self.inherit_env = inherit_env
        if faketime is None and no_libfaketime:
            faketime = False
        self.faketime = faketime
        self.shutdown_timeout = shutdown_timeout
        self.connection_table = dict(connection) if connection is not None else None
        self.grants = list(grants) if grants is not None else None
        self._setup_fn = setup
        self._poststart_fn = poststart

    # ----------------------------------------------------------- definition

    def setup(self) -> None:
        """Runs here before the host spawns the service (override in a subclass)."""
        if self._setup_fn is not None:
            self._setup_fn()

    def poststart(self) -> None:
        """Runs here once the service is up, before it counts as ready (override)."""
        if self._poststart_fn is not None:
            self._poststart_fn()

    @property
    def client_hooks(self) -> List[str]:
        """The hooks this process runs for the host: overridden or given as callables."""
        hooks = []
        for hook in _HOOKS:
            overridden = getattr(type(self), hook) is not getattr(Service, hook)
            given = getattr(self, f"_{hook}_fn") is not None
            if overridden or given:
                hooks.append(hook)
        return hooks

    def to_dict(self) -> Dict[str, Any]:
        """The service's table in the bundle model (what the host validates)."""
        out: Dict[str, Any] = {}
        if self.command is not None:
            out["command"] = (
                self.command
                if isinstance(self.command, str)
                else [os.fspath(c) if isinstance(c, os.PathLike) else str(c) for c in self.command]
            )
        if self.directory is not None:
            out["directory"] = os.fspath(self.directory)
        if self.env:
            out["env"] = {str(k): _env_value(v) for k, v in self.env.items()}
        if self.inherit_env is not None:
            out["inherit_env"] = bool(self.inherit_env)
        if self.needs:
            out["needs"] = [_need_name(n) for n in self.needs]
        if self.stop_signal is not None:
            sig = self.stop_signal
            out["stop_signal"] = sig.name if isinstance(sig, _signal.Signals) else sig
        if self.user is not None:
            out["user"] = self.user
        if self.faketime is not None:
            out["faketime"] = bool(self.faketime)
        if self.shutdown_timeout is not None:
            out["shutdown_timeout"] = duration_value(self.shutdown_timeout)
        if self.kind is not None:
            out["kind"] = self.kind
        if self.config is not None:
            out["config"] = _jsonable(self.config)
        if self.grants is not None:
            out["grants"] = list(self.grants)
        if self.connection_table is not None:
            out["connection"] = {str(k): _env_value(v) for k, v in self.connection_table.items()}
        ready = _ready_list(self.ready)
        if self.log_line_ready_checker is not None:
            if not callable(self.log_line_ready_checker):
                raise TypeError("log_line_ready_checker must be a callable taking a line")
            ready.append({"client": True})
        if ready:
            out["ready"] = ready if len(ready) > 1 else ready[0]
        hooks = self.client_hooks
        if hooks:
            out["client_hooks"] = hooks
        return out

    # ----------------------------------------------------- the running side

    def _bind(self, bundle: Bundle, name: str) -> None:
        self.bundle = bundle
        self.name = name

    def _running(self) -> Bundle:
        if self.bundle is None or self.name is None:
            raise TeamsterError(
                "this service is not part of a bundle yet: add it with bundle[name] = service"
            )
        return self.bundle

    def status(self) -> Dict[str, Any]:
        """The host's record of this service: state, pid, ports, connection, kind."""
        bundle = self._running()
        for svc in bundle.status()["services"]:
            if svc.get("name") == self.name:
                return dict(svc)
        raise TeamsterError(f"the running bundle has no service `{self.name}`")

    @property
    def state(self) -> str:
        return str(self.status().get("state"))

    @property
    def pid(self) -> Optional[int]:
        """The pid of the service's main process (``None`` before it exists)."""
        pid = self.status().get("pid")
        return int(pid) if pid is not None else None

    @property
    def ports(self) -> Dict[str, int]:
        return dict(self.status().get("ports") or {})

    @property
    def connection(self) -> Dict[str, str]:
        """The service's connection info (``url``, ``host``, ``port`` …), once ready."""
        return dict(self.status().get("connection") or {})

    @property
    def process(self) -> Any:
        """A ``psutil.Process`` for the main process when psutil is installed, else a
        ``ProcessStats`` read from the host."""
        pid = self.pid
        if pid is None:
            raise TeamsterError(f"service `{self.name}` has no process yet")
        try:
            import psutil  # type: ignore[import-untyped]
        except ImportError:
            return ProcessStats(self._running(), str(self.name))
        return psutil.Process(pid)

    def stats(self) -> Dict[str, Any]:
        """The host's process statistics of the service and its tree."""
        return dict(self._running()._call("stats", {"service": self.name}))

    @property
    def logs(self) -> Logs:
        """This service's logs (``.out``/``.err``, ``tail``, ``follow``, ``until`` …)."""
        return Logs(self._running(), self.name)

    def subcommand(self, name: str, *args: Any) -> Subcommand:
        """A sub-command the service's kind offers (``psql``, ``cli``, ``manage`` …)."""
        return Subcommand(self._running(), str(self.name), name, [str(a) for a in args])

    def kernel_connection_file(self, timeout: float = 30.0) -> str:
        """Waits up to ``timeout`` seconds for the IPython kernel this service embedded
        (``IPython.embed_kernel()``) and returns its connection file's path, for
        ``jupyter console --existing`` or a ``jupyter_client`` client. The host finds the
        file through the service's own environment (its ``HOME``, ``JUPYTER_RUNTIME_DIR``
        …). Raises ``WaitTimeout`` when no kernel is announced in time."""
        result = self._running()._call(
            "kernel",
            {"service": self.name, "timeout_ms": int(timeout * 1000)},
            timeout=timeout + 30.0,
        )
        return str(result["connection_file"])

    def connect_to_kernel(
        self, *console_args: str, timeout: float = 30.0, input: Optional[str] = None
    ) -> int:
        """Opens ``jupyter console`` on the kernel this service embedded (see
        ``kernel_connection_file``), in this terminal, with the bundle's console output
        paused meanwhile; returns the console's exit status. Run pytest with ``-s`` so the
        console has the terminal. ``console_args`` go to ``jupyter console`` (e.g.
        ``"--simple-prompt"``); ``input`` feeds it instead of the terminal, for scripts."""
        return self._running().connect_to_kernel(self, *console_args, timeout=timeout, input=input)

    def log(self, message: str) -> None:
        """Prints a line in the bundle's log stream, naming this service."""
        self._running().log(f"[{self.name}] {message}")

    def warn(self, message: str) -> None:
        """Prints a warning in the bundle's log stream, naming this service."""
        self._running().warn(f"[{self.name}] {message}")

    def __getattr__(self, name: str) -> Any:
        # Sugar as in hitchserve: `bundle["web"].manage("help").run()` for any sub-command
        # the kind offers. Only for a service of a bundle, and never for private names, so
        # that copy/pickle/introspection probes keep getting AttributeError.
        if name.startswith("_") or self.__dict__.get("bundle") is None:
            raise AttributeError(name)
        return functools.partial(self.subcommand, name)

    def __repr__(self) -> str:
        what = self.kind or (
            self.command
            if isinstance(self.command, str)
            else " ".join(map(str, self.command or []))
        )
        return f"<Service {self.name or '(unnamed)'}: {what or 'from the bundle file'}>"


def _need_name(need: Union[Service, str]) -> str:
    if isinstance(need, Service):
        if need.name is None:
            raise TypeError(
                "a service in needs= must be added to the bundle first (needs=[bundle['db']])"
            )
        return need.name
    if isinstance(need, str):
        return need
    raise TypeError(f"needs= takes services or names, not {type(need).__name__}")


def _env_value(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return value


def _ready_list(ready: Any) -> List[Dict[str, Any]]:
    if ready is None:
        return []
    if isinstance(ready, Mapping):
        return [dict(_jsonable(ready))]
    return [dict(_jsonable(r)) for r in ready]


def duration_value(value: Duration) -> Union[int, float, str]:
    """A duration as the bundle model takes it: a number of seconds or a text."""
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bool):
        raise TypeError("a duration is a number of seconds, a timedelta or a text like '15s'")
    return value
