"""teamster: real services (PostgreSQL, Redis, Django, an SMTP sink, any command) for
integration tests, started by the ``teamster`` binary and driven from Python.

    import teamster

    with teamster.Bundle.load("bundle.toml") as bundle:
        url = bundle["db"].connection["url"]
        bundle["web"].logs.until(lambda line: "GET /" in line, timeout=5)

or, in hitchserve's shape::

    bundle = teamster.ServiceBundle(project_directory=".", startup_timeout=15)
    bundle["db"] = teamster.Service(kind="postgres")
    bundle["web"] = teamster.Service(command=["python3", "app.py"],
                                     log_line_ready_checker=lambda l: "ready" in l,
                                     needs=[bundle["db"]])
    bundle.startup()

The pytest plugin (``--teamster-bundle``) gives the same objects as fixtures.
"""

from __future__ import annotations

from . import ready
from ._binary import find_binary
from ._bundle import Bundle, ServiceBundle
from ._errors import (
    AlreadyRunning,
    BundleError,
    BundleStopping,
    ControlTaken,
    LogsClosed,
    NoSuchService,
    NotRunning,
    ProtocolError,
    RequestFailed,
    StartupError,
    SubcommandError,
    TeamsterError,
    WaitTimeout,
)
from ._external import ExternalBundle, ExternalService
from ._logs import Follow, LogLine, Logs
from ._service import Service
from ._subcommand import ProcessStats, Subcommand

__version__ = "0.1.0"

__all__ = [
    "AlreadyRunning",
    "Bundle",
    "BundleError",
    "BundleStopping",
    "ControlTaken",
    "ExternalBundle",
    "ExternalService",
    "Follow",
    "LogLine",
    "Logs",
    "LogsClosed",
    "NoSuchService",
    "NotRunning",
    "ProcessStats",
    "ProtocolError",
    "RequestFailed",
    "Service",
    "ServiceBundle",
    "StartupError",
    "Subcommand",
    "SubcommandError",
    "TeamsterError",
    "WaitTimeout",
    "find_binary",
    "ready",
]
