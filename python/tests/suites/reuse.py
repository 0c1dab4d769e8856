"""Records which host served the session and whether it attached to a running one."""

import os
from pathlib import Path


def test_record(teamster):
    out = Path(os.environ["TEAMSTER_TEST_OUT"])
    with open(out / "runs.txt", "a") as f:
        f.write(f"{teamster.pid} {teamster.attached} {teamster['cache'].pid}\n")
    assert teamster["cache"].cli("ping").output().strip() == "PONG"
