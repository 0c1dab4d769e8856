"""A JSON-RPC 2.0 connection to a running bundle's control socket.

One connection carries everything: our requests and their replies (which may come out of
order), the host's notifications for log subscriptions, and the host's own requests to the
client that claimed control (``ready.check``, ``hook.run``). A single background thread
reads the socket, because the host sends ``ready.check`` while the main thread is blocked
waiting for ``teamster up -d`` to report readiness; answering must not depend on the main
thread.

User code never runs on the reader thread: readiness checkers run on one dedicated thread
(in order, as the host offers lines one at a time), hooks each on a thread of their own,
so a hook may itself call the bundle (``self.bundle.log(...)``) without deadlocking the
reader that would deliver the reply.
"""

from __future__ import annotations

import itertools
import json
import os
import queue
import socket
import threading
import weakref
from typing import Any, Callable, Dict, List, Optional

from ._errors import NotRunning, ProtocolError, TeamsterError, from_rpc_error

PROTOCOL = 1

#: A handler for a request the host sends us: params in, result out (or an exception).
Handler = Callable[[Dict[str, Any]], Any]

#: What a subscription queue receives when the host ends it or the connection closes.
END = object()

_MAX_LINE = 16 * 1024 * 1024

#: Every open connection of this process, for the fork handler below.
_OPEN: weakref.WeakSet[Connection] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child (multiprocessing, a test's os.fork) shares our sockets. Left open, a
    # lingering child would keep this process's lease alive after this process died, which
    # is exactly what leases must not do. Close the child's copies; never shut the socket
    # down, which would cut the parent's connection too.
    for conn in list(_OPEN):
        conn._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _Pending:
    __slots__ = ("error", "event", "result")

    def __init__(self) -> None:
        self.event = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None


class Connection:
    """A handshaken connection to one host.

    ``handlers`` maps method names the host may call on us to functions;
    ``inline_methods`` lists those that run on the ordered checker thread rather than on a
    thread of their own.
    """

    def __init__(
        self,
        socket_path: str,
        client: str = "teamster-python",
        handlers: Optional[Dict[str, Handler]] = None,
        ordered_methods: tuple = ("ready.check",),
        connect_timeout: float = 5.0,
    ) -> None:
        self.socket_path = socket_path
        self._pid = os.getpid()
        self._handlers: Dict[str, Handler] = dict(handlers or {})
        self._ordered = set(ordered_methods)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(connect_timeout)
        try:
            sock.connect(socket_path)
        except OSError as err:
            sock.close()
            raise NotRunning(
                f"cannot connect to the bundle's control socket {socket_path}: {err}"
            ) from None
        sock.settimeout(None)
        self._sock = sock
        self._reader_file = sock.makefile("rb", buffering=65536)
        self._write_lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pending: Dict[int, _Pending] = {}
        self._pending_lock = threading.Lock()
        self._subs: Dict[int, queue.SimpleQueue[Any]] = {}
        # Notifications for a subscription whose id we do not know yet: the host may push
        # the first lines before our thread has read the reply that names the id.
        self._early: Dict[int, List[Any]] = {}
        self._unsubscribed: set = set()
        self._closed = threading.Event()
        self._close_reason = "the connection is closed"
        self._ordered_queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ordered_thread: Optional[threading.Thread] = None
        self._reader = threading.Thread(
            target=self._read_loop, name="teamster-control-reader", daemon=True
        )
        self._reader.start()
        _OPEN.add(self)
        try:
            self.hello = self.call("hello", {"protocol": PROTOCOL, "client": client}, timeout=10)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ requests

    def call(
        self, method: str, params: Optional[Dict[str, Any]] = None, timeout: Optional[float] = None
    ) -> Any:
        """Sends a request and waits for its reply; raises the matching exception on error.

        ``timeout`` bounds the wait on this side only (the host has its own deadlines for
        waits); ``None`` waits as long as the connection lives.
        """
        if self.closed:
            raise NotRunning(self._close_reason)
        rid = next(self._ids)
        pending = _Pending()
        with self._pending_lock:
            self._pending[rid] = pending
        msg: Dict[str, Any] = {"jsonrpc": "2.0", "id": rid, "method": method}
        if params is not None:
            msg["params"] = params
        try:
            self._send(msg)
        except OSError as err:
            with self._pending_lock:
                self._pending.pop(rid, None)
            raise NotRunning(f"the bundle's control socket broke: {err}") from None
        if not pending.event.wait(timeout):
            with self._pending_lock:
                self._pending.pop(rid, None)
            raise ProtocolError(f"the host did not answer `{method}` within {timeout}s")
        if pending.error is not None:
            raise pending.error
        return pending.result

    def _send(self, msg: Dict[str, Any]) -> None:
        data = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        with self._write_lock:
            self._sock.sendall(data)

    # ------------------------------------------------------------- subscriptions

    def subscribe(self, subscription: int) -> queue.SimpleQueue[Any]:
        """Returns the queue that receives the lines of ``subscription`` (then ``END``)."""
        q: queue.SimpleQueue[Any] = queue.SimpleQueue()
        with self._pending_lock:
            self._subs[subscription] = q
            for item in self._early.pop(subscription, []):
                q.put(item)
            if self._closed.is_set():
                q.put(END)
        return q

    def unsubscribe(self, subscription: int) -> None:
        """Forgets a subscription locally (the caller sends ``logs.unfollow``)."""
        with self._pending_lock:
            q = self._subs.pop(subscription, None)
            self._early.pop(subscription, None)
            self._unsubscribed.add(subscription)
        if q is not None:
            q.put(END)

    # ------------------------------------------------------------------- reading

    def _read_loop(self) -> None:
        reason = "the host closed the control connection (the bundle stopped)"
        try:
            while True:
                raw = self._reader_file.readline(_MAX_LINE + 1)
                if not raw:
                    break
                try:
                    msg = json.loads(raw)
                except ValueError:
                    reason = f"the host sent a line that is not JSON: {raw[:200]!r}"
                    break
                self._dispatch(msg)
        except OSError as err:
            if not self._closed.is_set():
                reason = f"the control connection broke: {err}"
        finally:
            self._shut(reason)
            # The file object holds a reference to the socket's descriptor: close both here,
            # on the thread that used them, so the descriptor (and the lease) really goes.
            try:
                self._reader_file.close()
            finally:
                self._sock.close()

    def _dispatch(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        method = msg.get("method")
        if method is None:
            rid = msg.get("id")
            with self._pending_lock:
                pending = self._pending.pop(rid, None) if isinstance(rid, int) else None
            if pending is None:
                return
            if "error" in msg:
                pending.error = from_rpc_error(msg["error"])
            else:
                pending.result = msg.get("result")
            pending.event.set()
            return
        params = msg.get("params") or {}
        if "id" in msg:
            self._incoming(msg["id"], str(method), params)
            return
        if method in ("logs.line", "logs.end") and isinstance(params, dict):
            sub = params.get("subscription")
            item = params.get("line") if method == "logs.line" else END
            with self._pending_lock:
                q = self._subs.get(sub)  # type: ignore[arg-type]
                if q is None:
                    # Kept, the end included, until `subscribe` claims them. A subscription
                    # nobody claims (already unsubscribed) only collects its final `END`.
                    if sub in self._unsubscribed:
                        return
                    self._early.setdefault(sub, []).append(item)  # type: ignore[arg-type]
                    return
            q.put(item)

    # ------------------------------------------------------- the host's requests

    def _incoming(self, rid: Any, method: str, params: Any) -> None:
        handler = self._handlers.get(method)
        if handler is None:
            self._reply_error(rid, -32601, f"this client does not handle `{method}`")
            return
        if method in self._ordered:
            if self._ordered_thread is None:
                self._ordered_thread = threading.Thread(
                    target=self._ordered_loop, name="teamster-ready-checks", daemon=True
                )
                self._ordered_thread.start()
            self._ordered_queue.put((rid, handler, params))
        else:
            threading.Thread(
                target=self._run_handler,
                args=(rid, handler, params),
                name=f"teamster-{method}",
                daemon=True,
            ).start()

    def _ordered_loop(self) -> None:
        while True:
            item = self._ordered_queue.get()
            if item is END:
                return
            self._run_handler(*item)

    def _run_handler(self, rid: Any, handler: Handler, params: Any) -> None:
        try:
            result = handler(params if isinstance(params, dict) else {})
        except BaseException as exc:  # the host needs an answer whatever happened
            message = str(exc) if isinstance(exc, TeamsterError) else f"{type(exc).__name__}: {exc}"
            self._reply_error(rid, -32000, message)
            return
        try:
            self._send({"jsonrpc": "2.0", "id": rid, "result": result})
        except OSError:
            pass

    def _reply_error(self, rid: Any, code: int, message: str) -> None:
        try:
            self._send({"jsonrpc": "2.0", "id": rid, "error": {"code": code, "message": message}})
        except OSError:
            pass

    # ------------------------------------------------------------------- closing

    @property
    def closed(self) -> bool:
        """Whether the connection is gone (closed by us, or the host hung up)."""
        return self._closed.is_set() or self._pid != os.getpid()

    def wait_closed(self, timeout: Optional[float] = None) -> bool:
        """Waits until the host hangs up (after ``stop``); returns whether it did."""
        return self._closed.wait(timeout)

    def _shut(self, reason: str) -> None:
        with self._pending_lock:
            if self._closed.is_set():
                return
            self._close_reason = reason
            self._closed.set()
            pending = list(self._pending.values())
            self._pending.clear()
            subs = list(self._subs.values())
        for p in pending:
            p.error = NotRunning(reason)
            p.event.set()
        for q in subs:
            q.put(END)
        self._ordered_queue.put(END)

    def _forget_after_fork(self) -> None:
        # Only the descriptor, and no lock: the file object's lock (or the event's) may have
        # been held by another thread at the fork, and that thread does not exist here.
        # `closed` knows from the pid that this copy is dead.
        self._close_reason = "this connection belongs to the parent process (after a fork)"
        try:
            fd = self._sock.detach()
        except OSError:
            return
        if fd >= 0:
            try:
                os.close(fd)
            except OSError:
                pass

    def close(self) -> None:
        """Closes the connection, which releases its lease and any control it held."""
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._shut("the connection was closed by this client")
        if threading.current_thread() is not self._reader:
            self._reader.join(timeout=5)
