"""A bundle built in Python (bundle.py), with a Python readiness checker and hooks, shared
by xdist workers: whoever starts it answers the host's requests."""

import os
from pathlib import Path


def test_the_python_bundle_runs(teamster):
    out = Path(os.environ["TEAMSTER_TEST_OUT"])
    app = teamster["app"]
    assert app.state == "ready"
    lines = [str(x) for x in app.logs.out.lines()]
    assert lines[0] == "seeded"
    assert "ready to serve" in lines
    assert (out / "poststart.txt").read_text() == "ran"
    with open(out / "seen.txt", "a") as f:
        f.write(f"{os.environ.get('PYTEST_XDIST_WORKER')} {teamster.pid} {app.pid}\n")
