"""Holds the bundle until the outer test kills this whole session."""

import os
import time
from pathlib import Path


def test_hold(teamster):
    out = Path(os.environ["TEAMSTER_TEST_OUT"])
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    # Written under another name and renamed: the outer test reads it as soon as it exists.
    tmp = out / f"{worker}.held.tmp"
    tmp.write_text(f"{teamster.pid} {teamster['db'].pid}")
    tmp.rename(out / f"{worker}.held")
    while True:  # the outer test SIGKILLs us
        time.sleep(0.1)
