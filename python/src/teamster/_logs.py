"""Log views: one service's or the whole bundle's lines, optionally one stream.

The host keeps every line (files plus a window in memory) and serves them over the control
socket; this module only asks. Predicates given as Python callables run here, on lines
pushed by ``logs.follow`` as they are written, so ``until(lambda line: ...)`` reacts within
a socket round trip. A predicate given as a ``str`` (or, for ``until_json``, a ``dict``)
is matched by the host with ``logs.wait`` instead, which sends nothing but the match.
"""

from __future__ import annotations

import json as _json
import queue
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterator, List, Optional, Union

from ._errors import LogsClosed, WaitTimeout
from ._rpc import END

if TYPE_CHECKING:
    from ._bundle import Bundle

__all__ = ["LogLine", "Logs", "Follow", "Tail"]

#: How many lines a timeout error quotes.
_LAST = 20


class LogLine(str):
    """One log line: a ``str`` (its text), with ``seq``, ``service`` and ``stream``.

    Being a ``str`` keeps hitchserve-style predicates (``lambda line: "ready" in line``)
    working unchanged. ``value`` is the parsed JSON for lines from a JSON view.
    """

    seq: int
    service: str
    stream: str
    value: Any

    def __new__(
        cls, text: str, seq: int = 0, service: str = "", stream: str = "out", value: Any = None
    ) -> LogLine:
        obj = super().__new__(cls, text)
        obj.seq = seq
        obj.service = service
        obj.stream = stream
        obj.value = value
        return obj

    @classmethod
    def from_wire(cls, line: Dict[str, Any]) -> LogLine:
        return cls(
            str(line.get("text", "")),
            int(line.get("seq", 0)),
            str(line.get("service", "")),
            str(line.get("stream", "out")),
            line.get("value"),
        )

    def json(self) -> Any:
        """The line parsed as JSON (the host's ``value`` when it sent one)."""
        if self.value is not None:
            return self.value
        return _json.loads(self)

    def __repr__(self) -> str:
        # Shown like the str it is, so messages built from lines read naturally.
        return repr(str(self))


class Follow:
    """An iterator over a subscription: the last ``lines_back`` lines, then every new one.

    It ends when the bundle's logs close. Use it as a context manager (or call
    ``close()``) to unsubscribe early; ``next_line(timeout)`` is the bounded form of
    ``next()``.
    """

    def __init__(self, logs: Logs, lines_back: int, json: bool) -> None:
        self._logs = logs
        self._json = json
        conn = logs._bundle._connection()
        params = logs._view()
        params["lines_back"] = lines_back
        if json:
            params["json"] = True
        self._conn = conn
        result = conn.call("logs.follow", params)
        self._sub = int(result["subscription"])
        self._queue = conn.subscribe(self._sub)
        self._done = False
        self._seen: List[LogLine] = []

    def __iter__(self) -> Follow:
        return self

    def __next__(self) -> LogLine:
        line = self.next_line(None)
        assert line is not None
        return line

    def next_line(self, timeout: Optional[float]) -> Optional[LogLine]:
        """The next line, or ``None`` if none came within ``timeout`` seconds.

        Raises ``StopIteration`` once the logs have closed.
        """
        if self._done:
            raise StopIteration
        try:
            item = (
                self._queue.get(timeout=timeout)
                if timeout is None or timeout > 0
                else self._queue.get_nowait()
            )
        except queue.Empty:
            return None
        if item is END:
            self._done = True
            raise StopIteration
        line = LogLine.from_wire(item)
        self._seen.append(line)
        if len(self._seen) > _LAST:
            del self._seen[0]
        return line

    @property
    def recent(self) -> List[LogLine]:
        """The last lines this iterator returned (what a timeout message quotes)."""
        return list(self._seen)

    def close(self) -> None:
        """Unsubscribes (idempotent)."""
        if self._done and self._sub is None:
            return
        sub, self._sub = self._sub, None  # type: ignore[assignment]
        self._done = True
        if sub is None:
            return
        self._conn.unsubscribe(sub)
        if not self._conn.closed:
            try:
                self._conn.call("logs.unfollow", {"subscription": sub}, timeout=5)
            except Exception:  # the bundle may be stopping; nothing to clean up then
                pass

    def __enter__(self) -> Follow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if not self._done:
                self._conn.unsubscribe(self._sub)
        except Exception:
            pass


Predicate = Callable[[Any], Any]


class Logs:
    """The logs of one service (``service``) or of the whole bundle, optionally narrowed
    to one stream (``.out``, ``.err``). Every method works on every view.
    """

    def __init__(
        self, bundle: Bundle, service: Optional[str] = None, stream: Optional[str] = None
    ) -> None:
        self._bundle = bundle
        self.service = service
        self.stream = stream

    def _view(self) -> Dict[str, Any]:
        view: Dict[str, Any] = {}
        if self.service is not None:
            view["service"] = self.service
        if self.stream is not None:
            view["stream"] = self.stream
        return view

    @property
    def out(self) -> Logs:
        """The same view, stdout only."""
        return Logs(self._bundle, self.service, "out")

    @property
    def err(self) -> Logs:
        """The same view, stderr only."""
        return Logs(self._bundle, self.service, "err")

    # ------------------------------------------------------------- queries

    def lines(self, since: Optional[int] = None, tail: Optional[int] = None) -> List[LogLine]:
        """Every stored line of the view (or those with ``seq >= since``, or the last
        ``tail``)."""
        params = self._view()
        if since is not None:
            params["since"] = since
        if tail is not None:
            params["tail"] = tail
        result = self._bundle._call("logs.query", params)
        return [LogLine.from_wire(x) for x in result.get("lines", [])]

    @property
    def tail(self) -> Tail:
        """``tail(n)`` gives the last ``n`` lines; ``tail.follow/until/until_json`` are
        hitchserve's spellings of the methods below."""
        return Tail(self)

    def json(self) -> List[Any]:
        """Every line of the view that is a JSON object or array, parsed."""
        params = self._view()
        params["json"] = True
        result = self._bundle._call("logs.query", params)
        return [line.get("value") for line in result.get("lines", [])]

    def follow(self, lines_back: int = 0, json: bool = False) -> Follow:
        """An iterator over the last ``lines_back`` lines and then every new line."""
        return Follow(self, lines_back, json)

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self.lines())

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def __repr__(self) -> str:
        what = self.service or "bundle"
        return f"<Logs of {what}{'' if self.stream is None else ' (' + self.stream + ')'}>"

    # --------------------------------------------------------------- waits

    def wait(
        self,
        contains: Optional[str] = None,
        *,
        regex: Optional[str] = None,
        json_contains: Any = None,
        timeout: float = 5.0,
        lines_back: int = 0,
    ) -> LogLine:
        """Waits for a line matched by the host: a substring, a Rust regex, or (for JSON
        lines) a JSON value the line's value must contain."""
        params = self._view()
        given = [
            k
            for k, v in (("contains", contains), ("regex", regex), ("json_contains", json_contains))
            if v is not None
        ]
        if len(given) != 1:
            raise TypeError("give exactly one of contains=, regex= or json_contains=")
        key = given[0]
        params[key] = {"contains": contains, "regex": regex, "json_contains": json_contains}[key]
        params["timeout_ms"] = max(0, int(timeout * 1000))
        params["lines_back"] = lines_back
        result = self._bundle._call("logs.wait", params, timeout=timeout + 30)
        return LogLine.from_wire(result["line"])

    def until(
        self, predicate: Union[str, Predicate], timeout: float = 5.0, lines_back: int = 0
    ) -> LogLine:
        """Waits for a line for which ``predicate(line)`` is true and returns it.

        ``predicate`` runs here on each line (a ``LogLine``, which is a ``str``); a ``str``
        predicate is a substring matched by the host. ``lines_back`` also offers that many
        lines written before the call. Raises ``WaitTimeout`` (a ``TimeoutError``) with
        the last lines seen.
        """
        if isinstance(predicate, str):
            return self.wait(predicate, timeout=timeout, lines_back=lines_back)
        return self._until(predicate, timeout, lines_back, json=False)

    def until_json(
        self, predicate: Union[Dict[str, Any], Predicate], timeout: float = 5.0, lines_back: int = 0
    ) -> Any:
        """Waits for a JSON line whose parsed value satisfies ``predicate`` and returns the
        value. A ``dict`` (or any non-callable) is matched by the host as a subset."""
        if not callable(predicate):
            return self.wait(json_contains=predicate, timeout=timeout, lines_back=lines_back).json()
        line = self._until(lambda ln: predicate(ln.value), timeout, lines_back, json=True)
        return line.value

    def _until(self, predicate: Predicate, timeout: float, lines_back: int, json: bool) -> LogLine:
        deadline = time.monotonic() + timeout
        with Follow(self, lines_back, json) as follow:
            while True:
                left = deadline - time.monotonic()
                try:
                    line = follow.next_line(max(left, 0.0))
                except StopIteration:
                    raise LogsClosed(
                        f"the logs of {self._what()} closed before a matching line came"
                        + _quote(follow.recent)
                    ) from None
                if line is None:
                    raise WaitTimeout(
                        f"no matching line in the logs of {self._what()} within "
                        f"{timeout:g}s" + _quote(follow.recent),
                        last_lines=[str(x) for x in follow.recent],
                    )
                if predicate(line):
                    return line

    def _what(self) -> str:
        what = f"`{self.service}`" if self.service else "the bundle"
        if self.stream:
            what += f" ({self.stream})"
        return what


class Tail:
    """What ``logs.tail`` is: callable for the last lines, and hitchserve's
    ``logs.tail.until(...)`` / ``.until_json(...)`` / ``.follow(...)``."""

    def __init__(self, logs: Logs) -> None:
        self._logs = logs

    def __call__(self, n: int = 20) -> List[LogLine]:
        return self._logs.lines(tail=n)

    def follow(self, lines_back: int = 0, json: bool = False) -> Follow:
        return self._logs.follow(lines_back, json)

    def until(
        self, predicate: Union[str, Predicate], timeout: float = 5.0, lines_back: int = 0
    ) -> LogLine:
        return self._logs.until(predicate, timeout, lines_back)

    def until_json(
        self, predicate: Union[Dict[str, Any], Predicate], timeout: float = 5.0, lines_back: int = 0
    ) -> Any:
        return self._logs.until_json(predicate, timeout, lines_back)


def _quote(lines: List[LogLine]) -> str:
    if not lines:
        return "; nothing was written meanwhile"
    shown = "\n".join(f"    {ln.service} {ln.stream} | {ln}" for ln in lines)
    return f"; last {len(lines)} lines:\n{shown}"
