"""Run with `-n 2 --dist each`: worker gw0 is SIGKILLed once gw1 holds the bundle too;
gw1 must go on using the same bundle, past the host's lease grace."""

import os
import signal
import time
from pathlib import Path

import psycopg2


def wait_for(check, timeout, what):
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def publish(path, text):
    # Written under another name and renamed, so the other worker never reads it half-made.
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.rename(path)


def alive(pid):
    # A killed worker stays a zombie until xdist reaps it: count that as dead.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_one_worker_dies(teamster):
    out = Path(os.environ["TEAMSTER_TEST_OUT"])
    worker = os.environ["PYTEST_XDIST_WORKER"]
    db_pid = teamster["db"].pid
    publish(out / f"{worker}.pid", f"{db_pid} {os.getpid()} {teamster.pid}")
    if worker == "gw0":
        wait_for((out / "gw1.pid").exists, 60, "gw1 to hold the bundle")
        os.kill(os.getpid(), signal.SIGKILL)
        return
    wait_for((out / "gw0.pid").exists, 60, "gw0 to hold the bundle")
    gw0 = int((out / "gw0.pid").read_text().split()[1])
    wait_for(lambda: not alive(gw0), 60, "gw0 to be killed")
    # Watch the bundle for longer than the lease grace (2 s): it must stay up.
    watch_until = time.monotonic() + 3.5
    while time.monotonic() < watch_until:
        assert teamster["db"].pid == db_pid
        time.sleep(0.2)
    with psycopg2.connect(teamster["db"].connection["url"]) as conn, conn.cursor() as cur:
        cur.execute("select 1")
        assert cur.fetchone() == (1,)
    (out / "gw1.ok").write_text("ok")
