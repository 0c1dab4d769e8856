"""A stand-in control socket for unit tests of the client's protocol handling.

It is not a host: it speaks just enough of ``docs/control-protocol.md`` (framing, hello,
host-to-client requests, notifications) for each test to script one exchange, so that
the client's threading (out-of-order replies, early notifications, ``ready.check`` answered
while the caller is blocked) is tested without a real bundle. Everything a real host does
is tested against the real binary in ``tests/test_*.py``.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional


class Peer:
    """The server's end of one client connection."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.file = sock.makefile("rb")

    def send(self, msg: Dict[str, Any]) -> None:
        self.sock.sendall(json.dumps({"jsonrpc": "2.0", **msg}).encode() + b"\n")

    def recv(self) -> Optional[Dict[str, Any]]:
        line = self.file.readline()
        return json.loads(line) if line else None

    def expect(self, method: str) -> Dict[str, Any]:
        msg = self.recv()
        assert msg is not None, f"the client hung up; expected `{method}`"
        assert msg.get("method") == method, msg
        return msg

    def handshake(self) -> None:
        hello = self.expect("hello")
        assert hello["params"]["protocol"] == 1
        self.send(
            {
                "id": hello["id"],
                "result": {"protocol": 1, "pid": os.getpid(), "phase": "ready", "spec_hash": "h"},
            }
        )

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.file.close()
        self.sock.close()


class FakeHost:
    """Listens on a private unix socket; runs ``script(peer)`` for the first client."""

    def __init__(self, script: Callable[[Peer], None]) -> None:
        self.dir = tempfile.mkdtemp(prefix="teamster-fake-")
        self.path = os.path.join(self.dir, "s.sock")
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.errors: List[BaseException] = []
        self.thread = threading.Thread(target=self._serve, args=(script,), daemon=True)
        self.thread.start()

    def _serve(self, script: Callable[[Peer], None]) -> None:
        conn, _ = self.listener.accept()
        peer = Peer(conn)
        try:
            script(peer)
        except BaseException as exc:  # reported by join()
            self.errors.append(exc)
        finally:
            peer.close()

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive(), "the fake host's script did not finish"
        if self.errors:
            raise self.errors[0]
        self.listener.close()
