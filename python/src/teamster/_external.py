"""External services: connection info read from a file, no lifecycle at all.

This is what a CI job with services started elsewhere (a compose file, a shared database)
wants: the same fixtures, ``teamster["db"].connection["url"]``, pointed at what is already
there. The file has the shape of a run's ``connections.json``: ``{service: {key: value}}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Union

from ._errors import NoSuchService, TeamsterError

__all__ = ["ExternalBundle", "ExternalService", "CONNECTIONS_ENV"]

CONNECTIONS_ENV = "TEAMSTER_CONNECTIONS"


class ExternalService:
    """A service someone else runs: only its ``connection`` info is known."""

    def __init__(self, name: str, connection: Dict[str, str], source: str) -> None:
        self.name = name
        self._connection = dict(connection)
        self._source = source

    @property
    def connection(self) -> Dict[str, str]:
        return dict(self._connection)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise TeamsterError(
            f"`{self.name}.{name}` is not available for an external service: the bundle "
            f"comes from {self._source}, so teamster only knows its connection info"
        )

    def __repr__(self) -> str:
        return f"<ExternalService {self.name} from {self._source}>"


class ExternalBundle:
    """Services described by a connections file; starts, stops and watches nothing."""

    def __init__(self, connections: Dict[str, Dict[str, Any]], source: str = "a dict") -> None:
        self._source = source
        self._services = {
            str(name): ExternalService(str(name), {str(k): str(v) for k, v in info.items()}, source)
            for name, info in connections.items()
        }

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]]) -> ExternalBundle:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except OSError as err:
            raise TeamsterError(f"cannot read the connections file {p}: {err}") from None
        except ValueError as err:
            raise TeamsterError(f"the connections file {p} is not JSON: {err}") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise TeamsterError(
                f"the connections file {p} must map each service to its connection info, "
                '{"db": {"url": "postgresql://..."}}'
            )
        return cls(data, source=str(p))

    @property
    def connections(self) -> Dict[str, Dict[str, str]]:
        return {n: s.connection for n, s in self._services.items()}

    @property
    def running(self) -> bool:
        return True

    def __getitem__(self, name: str) -> ExternalService:
        try:
            return self._services[name]
        except KeyError:
            raise NoSuchService(
                f"no service `{name}` in {self._source} "
                f"(services: {', '.join(self._services) or 'none'})",
                data={"services": list(self._services)},
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._services

    def __iter__(self) -> Iterator[str]:
        return iter(self._services)

    def __len__(self) -> int:
        return len(self._services)

    def keys(self) -> List[str]:
        return list(self._services)

    def startup(self, *args: Any, **kwargs: Any) -> ExternalBundle:
        return self

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        pass

    def detach(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        raise TeamsterError(
            f"`{name}` is not available: the bundle comes from {self._source} (external "
            "mode), so teamster manages nothing and only knows connection info"
        )

    def __repr__(self) -> str:
        return f"<ExternalBundle from {self._source}: {', '.join(self._services)}>"
