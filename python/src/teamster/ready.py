"""Declarative readiness conditions, as in the bundle file's ``ready`` key.

Each helper returns the same table the TOML form writes, so ``ready=[ready.log("Serving"),
ready.tcp(8000)]`` in Python is ``ready = [{ log = "Serving" }, { tcp = 8000 }]`` in TOML,
checked by the host with the same messages. The host runs these checks itself (event
driven, no polling from Python); only ``log_line_ready_checker=`` needs this process.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Optional, Sequence, Union

__all__ = ["log", "tcp", "http", "socket", "file", "command", "plugin", "client"]

Condition = Dict[str, Any]


def log(
    contains: Optional[str] = None,
    *,
    regex: Optional[str] = None,
    stream: Optional[str] = None,
    nth: Optional[int] = None,
) -> Condition:
    """A line on the service's output contains ``contains`` (or matches ``regex``).

    ``stream`` is ``"stdout"``, ``"stderr"`` or ``"any"``; ``nth`` counts matches from 1.
    """
    if stream is None and nth is None and regex is None and contains is not None:
        return {"log": contains}
    table: Dict[str, Any] = {}
    if contains is not None:
        table["contains"] = contains
    if regex is not None:
        table["regex"] = regex
    if stream is not None:
        table["stream"] = stream
    if nth is not None:
        table["nth"] = nth
    return {"log": table}


def tcp(target: Union[int, str]) -> Condition:
    """A TCP connection succeeds: a port on 127.0.0.1, or ``"host:port"``."""
    return {"tcp": target}


def http(url: str, status: Optional[int] = None) -> Condition:
    """A GET of ``url`` answers 2xx (or exactly ``status``)."""
    if status is None:
        return {"http": url}
    return {"http": {"url": url, "status": status}}


def socket(path: Union[str, os.PathLike[str]]) -> Condition:
    """A unix socket accepts a connection (relative to the service's directory)."""
    return {"socket": os.fspath(path)}


def file(path: Union[str, os.PathLike[str]]) -> Condition:
    """A file exists (relative to the service's directory)."""
    return {"file": os.fspath(path)}


def command(cmd: Union[str, Sequence[str]]) -> Condition:
    """A command exits 0, such as ``["pg_isready", "-p", "5432"]``."""
    return {"command": cmd if isinstance(cmd, str) else list(cmd)}


def plugin() -> Condition:
    """The service kind's plugin decides (only with ``kind=``)."""
    return {"plugin": True}


def client() -> Condition:
    """This Python process judges each line (what ``log_line_ready_checker=`` becomes)."""
    return {"client": True}
