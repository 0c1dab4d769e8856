"""Sub-commands (``psql``, ``cli``, ``manage`` …) and process statistics of a service.

The host builds a sub-command (its plugin knows the program and the service's final
environment) and hands back argv, environment, directory and user; this process runs it
with its own stdio, so ``run()`` can be an interactive ``psql`` on the terminal.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from ._errors import SubcommandError

if TYPE_CHECKING:
    import subprocess

    from ._bundle import Bundle

__all__ = ["Subcommand", "ProcessStats"]


class Subcommand:
    """A sub-command of a service, built by the host when first needed."""

    def __init__(self, bundle: Bundle, service: str, name: str, args: List[str]) -> None:
        self._bundle = bundle
        self.service = service
        self.name = name
        self.args = [str(a) for a in args]
        self._spec: Optional[Dict[str, Any]] = None

    @property
    def spec(self) -> Dict[str, Any]:
        """The host's answer: ``argv``, ``env`` (complete), ``cwd`` and ``user``."""
        if self._spec is None:
            self._spec = self._bundle._call(
                "subcommand", {"service": self.service, "name": self.name, "args": self.args}
            )
        return self._spec

    @property
    def argv(self) -> List[str]:
        return list(self.spec["argv"])

    @property
    def env(self) -> Dict[str, str]:
        return {str(k): str(v) for k, v in self.spec["env"]}

    @property
    def cwd(self) -> str:
        return str(self.spec["cwd"])

    def _popen_kwargs(self) -> Dict[str, Any]:
        env = self.env
        kwargs: Dict[str, Any] = {"env": env, "cwd": self.cwd}
        user = self.spec.get("user")
        if user and os.geteuid() == 0:
            import pwd

            entry = pwd.getpwnam(user)
            kwargs["user"] = entry.pw_uid
            kwargs["group"] = entry.pw_gid
            env["HOME"] = entry.pw_dir
            env["USER"] = user
        return kwargs

    def popen(self, **kwargs: Any) -> subprocess.Popen[Any]:
        """Starts it with ``subprocess.Popen`` (extra keyword arguments are passed on)."""
        import subprocess

        return subprocess.Popen(self.argv, **{**self._popen_kwargs(), **kwargs})

    def run(self, check: bool = True, input: Optional[str] = None) -> int:
        """Runs it on this terminal (inheriting stdin, stdout and stderr); returns its exit
        status, raising ``SubcommandError`` on a non-zero one when ``check``."""
        import subprocess

        completed = subprocess.run(
            self.argv, input=input, text=input is not None, **self._popen_kwargs()
        )
        if check and completed.returncode != 0:
            raise SubcommandError(self._failed(completed.returncode), completed.returncode)
        return completed.returncode

    def output(self, check: bool = True, input: Optional[str] = None, stderr: bool = False) -> str:
        """Runs it and returns its stdout (and stderr, with ``stderr=True``) as text."""
        import subprocess

        completed = subprocess.run(
            self.argv, input=input, capture_output=True, text=True, **self._popen_kwargs()
        )
        out = completed.stdout + (completed.stderr if stderr else "")
        if check and completed.returncode != 0:
            raise SubcommandError(
                self._failed(completed.returncode) + _tail(completed.stderr or completed.stdout),
                completed.returncode,
                completed.stdout,
                completed.stderr,
            )
        return out

    def _failed(self, code: int) -> str:
        shown = " ".join([self.name, *self.args])
        return f"sub-command `{shown}` of service `{self.service}` exited with status {code}"

    def __repr__(self) -> str:
        return f"<Subcommand {self.service}: {' '.join([self.name, *self.args])}>"


def _tail(text: str, lines: int = 20) -> str:
    kept = text.rstrip("\n").splitlines()[-lines:]
    if not kept:
        return ""
    return "; it printed:\n" + "\n".join("    " + x for x in kept)


class ProcessStats:
    """What ``service.process`` is when psutil is not installed: the host's ``stats`` of
    the service's main process and tree, as attributes (``pid``, ``name``, ``state``,
    ``rss_bytes``, ``children``, ``tree`` …). ``refresh()`` reads them again."""

    def __init__(self, bundle: Bundle, service: str) -> None:
        self._bundle = bundle
        self._service = service
        self._data: Dict[str, Any] = {}
        self.refresh()

    def refresh(self) -> ProcessStats:
        self._data = dict(self._bundle._call("stats", {"service": self._service}))
        return self

    def as_dict(self) -> Dict[str, Any]:
        return dict(self._data)

    def is_running(self) -> bool:
        """Whether the process still exists (read now, not from the last refresh)."""
        return pid_alive(self._data.get("pid"))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(
                f"process stats have no `{name}`; they have: {', '.join(self._data)}"
            ) from None

    def __repr__(self) -> str:
        return f"<ProcessStats of {self._service}: pid {self._data.get('pid')}>"


def pid_alive(pid: Any) -> bool:
    """Whether a process with this pid exists (one of another user's counts)."""
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
