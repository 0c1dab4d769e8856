"""Finding the ``teamster`` binary this package drives.

The wheel installs the binary next to the interpreter (``<venv>/bin/teamster``), which is
the copy that matches this package's protocol version; ``TEAMSTER_BIN`` overrides it for
development (a ``target/debug/teamster``), and ``PATH`` is the last resort for a
``cargo install``-ed binary.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Optional

from ._errors import TeamsterError

BIN_ENV = "TEAMSTER_BIN"


def find_binary(environ: Optional[Mapping[str, str]] = None) -> str:
    """Returns the path of the ``teamster`` binary to run.

    Order: ``$TEAMSTER_BIN`` (the only candidate when set, so that a typo is an error
    rather than a silent fallback to another copy), the scripts directory of this
    interpreter, then ``PATH``.
    """
    import shutil
    import sysconfig

    env = os.environ if environ is None else environ
    explicit = env.get(BIN_ENV, "")
    if explicit:
        path = Path(explicit)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise TeamsterError(f"{BIN_ENV}={explicit} is not an executable file")
    searched = []
    scripts = sysconfig.get_path("scripts")
    if scripts:
        candidate = Path(scripts) / "teamster"
        searched.append(str(candidate))
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    on_path = shutil.which("teamster", path=env.get("PATH"))
    if on_path:
        return on_path
    searched.append("PATH")
    raise TeamsterError(
        "cannot find the `teamster` binary (searched "
        + ", ".join(searched)
        + f"); install the teamster wheel or set {BIN_ENV}"
    )
