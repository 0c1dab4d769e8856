"""The client's JSON-RPC handling, against a scripted socket (see fakehost.py)."""

from __future__ import annotations

import threading

import pytest
from fakehost import FakeHost, Peer

from teamster import NoSuchService, NotRunning, WaitTimeout
from teamster._rpc import END, Connection


def test_replies_may_come_out_of_order() -> None:
    def script(peer: Peer) -> None:
        peer.handshake()
        first, second = peer.recv(), peer.recv()
        assert first and second
        peer.send({"id": second["id"], "result": {"which": "second"}})
        peer.send({"id": first["id"], "result": {"which": "first"}})

    host = FakeHost(script)
    conn = Connection(host.path)
    results: dict = {}
    t = threading.Thread(target=lambda: results.update(a=conn.call("logs.wait", {})))
    t.start()
    # Make sure the first request is on the wire before the second.
    while not conn._pending:
        pass
    results["b"] = conn.call("status")
    t.join(5)
    assert results == {"a": {"which": "first"}, "b": {"which": "second"}}
    host.join()
    conn.close()


def test_lines_pushed_before_the_follow_reply_are_kept() -> None:
    def script(peer: Peer) -> None:
        peer.handshake()
        req = peer.expect("logs.follow")
        line = {"seq": 1, "service": "web", "stream": "out", "text": "early"}
        peer.send({"method": "logs.line", "params": {"subscription": 7, "line": line}})
        peer.send({"id": req["id"], "result": {"subscription": 7}})
        peer.send({"method": "logs.end", "params": {"subscription": 7}})
        peer.expect("status")  # keeps the connection open until the client is done

    host = FakeHost(script)
    conn = Connection(host.path)
    sub = conn.call("logs.follow", {"lines_back": 1})["subscription"]
    q = conn.subscribe(sub)
    assert q.get(timeout=5)["text"] == "early"
    assert q.get(timeout=5) is END
    conn._send({"jsonrpc": "2.0", "id": 99, "method": "status"})
    host.join()
    conn.close()


def test_host_requests_are_answered_while_the_caller_waits() -> None:
    """The host asks ready.check and hook.run before it answers our pending request, as
    it does while `up -d` waits for readiness; a hook may call the host itself."""
    seen: list = []

    def script(peer: Peer) -> None:
        peer.handshake()
        waiting = peer.expect("bundle.wait_ready")
        for i, text in enumerate(["booting", "ready now"]):
            peer.send(
                {
                    "id": f"r{i}",
                    "method": "ready.check",
                    "params": {"service": "web", "line": {"text": text}},
                }
            )
            answer = peer.recv()
            assert answer is not None
            seen.append(answer["result"])
        peer.send(
            {"id": "h", "method": "hook.run", "params": {"service": "web", "hook": "poststart"}}
        )
        msg = peer.recv()  # the hook's own request comes first
        assert msg is not None and msg["method"] == "message"
        peer.send({"id": msg["id"], "result": {}})
        answer = peer.recv()
        assert answer == {"jsonrpc": "2.0", "id": "h", "result": {}}
        peer.send({"id": waiting["id"], "result": {"phase": "ready"}})

    conn_box: list = []

    def poststart(params: dict) -> dict:
        conn_box[0].call("message", {"text": "from the hook"})
        return {}

    host = FakeHost(script)
    conn = Connection(
        host.path,
        handlers={
            "ready.check": lambda p: {"ready": "ready" in p["line"]["text"]},
            "hook.run": poststart,
        },
    )
    conn_box.append(conn)
    assert conn.call("bundle.wait_ready", {}, timeout=10) == {"phase": "ready"}
    assert seen == [{"ready": False}, {"ready": True}]
    host.join()
    conn.close()


def test_a_failing_handler_answers_with_its_message() -> None:
    def script(peer: Peer) -> None:
        peer.handshake()
        peer.send({"id": 1, "method": "hook.run", "params": {"service": "db", "hook": "setup"}})
        answer = peer.recv()
        assert answer is not None
        assert answer["error"]["message"] == "RuntimeError: no fixtures"
        peer.send({"id": 2, "method": "unknown.thing", "params": {}})
        answer = peer.recv()
        assert answer is not None and answer["error"]["code"] == -32601

    def boom(params: dict) -> dict:
        raise RuntimeError("no fixtures")

    host = FakeHost(script)
    conn = Connection(host.path, handlers={"hook.run": boom})
    host.join()
    conn.close()


def test_error_codes_become_exceptions() -> None:
    def script(peer: Peer) -> None:
        peer.handshake()
        req = peer.expect("stats")
        peer.send(
            {
                "id": req["id"],
                "error": {
                    "code": -32010,
                    "message": "no service `dbb`",
                    "data": {"services": ["db", "web"]},
                },
            }
        )
        req = peer.expect("logs.wait")
        peer.send(
            {
                "id": req["id"],
                "error": {
                    "code": -32012,
                    "message": "no line within 1s",
                    "data": {"last_lines": [{"seq": 3, "text": "hello"}]},
                },
            }
        )

    host = FakeHost(script)
    conn = Connection(host.path)
    with pytest.raises(NoSuchService) as nss:
        conn.call("stats", {"service": "dbb"})
    assert nss.value.services == ["db", "web"]
    assert str(nss.value) == "no service `dbb`"
    with pytest.raises(WaitTimeout) as wt:
        conn.call("logs.wait", {})
    assert isinstance(wt.value, TimeoutError)
    assert wt.value.last_lines == ["hello"]
    host.join()
    conn.close()


def test_a_host_that_hangs_up_fails_pending_calls() -> None:
    def script(peer: Peer) -> None:
        peer.handshake()
        peer.expect("stop")

    host = FakeHost(script)
    conn = Connection(host.path)
    with pytest.raises(NotRunning):
        conn.call("stop", {})
    assert conn.wait_closed(5)
    with pytest.raises(NotRunning):
        conn.call("status")
    host.join()


def test_a_forked_child_does_not_keep_the_connection_open() -> None:
    import os

    hung_up = threading.Event()

    def script(peer: Peer) -> None:
        peer.handshake()
        # EOF arrives only once every copy of the client's socket is closed: the parent's
        # close below, and the child's, which the fork handler closed.
        if peer.recv() is None:
            hung_up.set()

    host = FakeHost(script)
    conn = Connection(host.path)
    pid = os.fork()
    if pid == 0:
        try:
            ok = conn.closed
        finally:
            os._exit(0 if ok else 1)
    child_ok = os.waitpid(pid, 0)[1] == 0
    # Keep a child alive holding nothing: the parent's close must end the connection.
    sleeper = os.fork()
    if sleeper == 0:
        import time

        time.sleep(30)
        os._exit(0)
    try:
        conn.close()
        assert hung_up.wait(5), "a forked child kept the socket open"
    finally:
        os.kill(sleeper, 9)
        os.waitpid(sleeper, 0)
    assert child_ok
    host.join()
