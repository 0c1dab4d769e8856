"""The bundle of the pybundle suite, in hitchserve's shape."""

import os
from pathlib import Path

import teamster

OUT = Path(os.environ["TEAMSTER_TEST_OUT"])


class App(teamster.Service):
    def setup(self):
        (OUT / "seed.txt").write_text("seeded\n")

    def poststart(self):
        (OUT / "poststart.txt").write_text("ran")


bundle = teamster.ServiceBundle(project_directory=OUT, startup_timeout=30)
bundle["app"] = App(
    command=[
        "sh",
        "-c",
        f'cat "{OUT}/seed.txt"; echo warming; echo ready to serve; exec sleep 600',
    ],
    log_line_ready_checker=lambda line: line == "ready to serve",
)
