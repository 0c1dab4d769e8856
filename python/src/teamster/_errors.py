"""The exceptions of the package.

Every exception carries the host's full message in ``str(exc)``: the host already names
the service, the file and line, the readiness it waited for and the last log lines, so the
Python side never shortens it. Structured attributes (``service``, ``location``,
``last_lines`` …) are parsed from the message or taken from the JSON-RPC error's ``data``
where the protocol provides them, for tests that want to assert on them.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Tuple

__all__ = [
    "TeamsterError",
    "BundleError",
    "StartupError",
    "NotRunning",
    "AlreadyRunning",
    "NoSuchService",
    "WaitTimeout",
    "LogsClosed",
    "RequestFailed",
    "BundleStopping",
    "ControlTaken",
    "ProtocolError",
    "SubcommandError",
]


class TeamsterError(Exception):
    """Base of every error raised by this package.

    ``code`` is the JSON-RPC error code (or ``None`` for errors that did not come from a
    reply) and ``data`` its ``data`` member.
    """

    def __init__(self, message: str, code: Optional[int] = None, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.data = data


_LOCATION = re.compile(r"(?P<file>[^\s:][^:\n]*):(?P<line>\d+):(?P<col>\d+): ")


class BundleError(TeamsterError):
    """The bundle is invalid (the host's exit code 3).

    ``location`` is ``(file, line, column)`` when the message names one, as every error
    about a key or a value does.
    """

    @property
    def location(self) -> Optional[Tuple[str, int, int]]:
        m = _LOCATION.search(self.message)
        if m is None:
            return None
        return (m.group("file").strip(), int(m.group("line")), int(m.group("col")))


_SERVICE = re.compile(r"service `(?P<service>[A-Za-z0-9_-]+)` (?P<what>[^\n]*)")
_LAST_LINE = re.compile(r"^    (?P<stream>out|err) \| (?P<text>.*)$")


class StartupError(TeamsterError):
    """The bundle did not start: a service failed or the startup timeout expired.

    ``service`` is the first service that failed (or was not ready), ``exit_status`` what
    happened to it (``"exited with code 1"``, ``"was killed by SIGKILL"`` …), ``exit`` how
    its process ended as the host reports it (``{"code": 1}``, ``{"signal": 9, …}`` or
    ``None``) and ``last_lines`` its last log lines. They come from the host's structured
    report (``services``); with an older host, from its message. Everything already
    started was stopped by the host.
    """

    @property
    def services(self) -> List[Dict[str, Any]]:
        """Every failed or unready service, as the host reports it."""
        if isinstance(self.data, dict) and isinstance(self.data.get("services"), list):
            return [s for s in self.data["services"] if isinstance(s, dict)]
        return []

    def _first(self) -> Optional[Dict[str, Any]]:
        return self.services[0] if self.services else None

    @property
    def service(self) -> Optional[str]:
        first = self._first()
        if first is not None:
            return str(first.get("service"))
        m = _SERVICE.search(self.message)
        return m.group("service") if m else None

    @property
    def exit(self) -> Optional[Dict[str, Any]]:
        first = self._first()
        exit_ = first.get("exit") if first is not None else None
        return exit_ if isinstance(exit_, dict) else None

    @property
    def exit_status(self) -> Optional[str]:
        first = self._first()
        if first is not None and first.get("what"):
            return str(first["what"])
        m = _SERVICE.search(self.message)
        if m is None:
            return None
        what = m.group("what")
        # "exited with code 1 after 0.12s" -> "exited with code 1"
        return re.sub(r" after \d+(\.\d+)?s$", "", what).strip()

    @property
    def last_lines(self) -> List[str]:
        first = self._first()
        if first is not None and isinstance(first.get("last_lines"), list):
            return [_line_text(x) for x in first["last_lines"]]
        if isinstance(self.data, dict) and isinstance(self.data.get("last_lines"), list):
            return [_line_text(x) for x in self.data["last_lines"]]
        return [m.group("text") for m in map(_LAST_LINE.match, self.message.splitlines()) if m]


class NotRunning(TeamsterError):
    """No running bundle answered (the host is gone, or was never started)."""


class AlreadyRunning(TeamsterError):
    """Another bundle (a different one, or one started by `teamster up` in the foreground)
    runs in this project; the message names its pid and how to stop it."""


class NoSuchService(TeamsterError, KeyError):
    """The bundle has no service of that name; ``services`` lists those it has."""

    def __init__(self, message: str, code: Optional[int] = None, data: Any = None) -> None:
        TeamsterError.__init__(self, message, code, data)

    @property
    def services(self) -> List[str]:
        if isinstance(self.data, dict):
            return list(self.data.get("services") or [])
        return []

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class WaitTimeout(TeamsterError, TimeoutError):
    """A wait on the logs (or for readiness) timed out; ``last_lines`` shows what came."""

    def __init__(
        self,
        message: str,
        code: Optional[int] = None,
        data: Any = None,
        last_lines: Optional[List[str]] = None,
    ) -> None:
        TeamsterError.__init__(self, message, code, data)
        self._last_lines = last_lines

    @property
    def last_lines(self) -> List[str]:
        if self._last_lines is not None:
            return self._last_lines
        if isinstance(self.data, dict) and isinstance(self.data.get("last_lines"), list):
            return [_line_text(x) for x in self.data["last_lines"]]
        return []


class LogsClosed(TeamsterError):
    """The logs closed (the bundle stopped) before the awaited line came."""


class RequestFailed(TeamsterError):
    """The host could not do what was asked (a travel, a sub-command, a stats read …)."""


class BundleStopping(TeamsterError):
    """The bundle is stopping and takes no more requests of this kind."""


class ControlTaken(TeamsterError):
    """Another client already controls this bundle's client-side readiness and hooks."""


class ProtocolError(TeamsterError):
    """The host said something this client does not understand, or hung up mid-reply."""


class SubcommandError(TeamsterError):
    """A sub-command exited with a non-zero status; ``returncode`` and ``output`` tell."""

    def __init__(
        self,
        message: str,
        returncode: int,
        output: Optional[str] = None,
        stderr: Optional[str] = None,
    ) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.output = output
        self.stderr = stderr


def _line_text(line: Any) -> str:
    if isinstance(line, dict):
        return str(line.get("text", ""))
    return str(line)


_BY_CODE: Dict[int, type] = {
    -32010: NoSuchService,
    -32012: WaitTimeout,
    -32013: LogsClosed,
    -32014: RequestFailed,
    -32015: BundleStopping,
    -32016: ControlTaken,
    -32017: StartupError,
}


def from_rpc_error(error: Any) -> TeamsterError:
    """Turns a JSON-RPC error object into the matching exception."""
    if not isinstance(error, dict):
        return ProtocolError(f"the host sent a malformed error: {error!r}")
    code = error.get("code")
    message = str(error.get("message") or "the host reported an error without a message")
    data = error.get("data")
    cls = _BY_CODE.get(code, TeamsterError) if isinstance(code, int) else TeamsterError
    if cls is StartupError and isinstance(data, dict) and data.get("exit_code") == 3:
        cls = BundleError
    return cls(message, code, data)  # type: ignore[no-any-return]


def from_exit_code(exit_code: int, message: str, services: Any = None) -> TeamsterError:
    """Turns a failed ``teamster up -d`` (its exit code, message and, for a failed start,
    the ``services`` it reports) into an exception."""
    if exit_code == 3:
        return BundleError(message, data={"exit_code": exit_code})
    if exit_code in (4, 5):
        data: Dict[str, Any] = {"exit_code": exit_code}
        if isinstance(services, list):
            data["services"] = services
        return StartupError(message, data=data)
    if exit_code == 6:
        return NotRunning(message, data={"exit_code": exit_code})
    if exit_code == 8:
        return AlreadyRunning(message, data={"exit_code": exit_code})
    return TeamsterError(message, data={"exit_code": exit_code})
