"""Which Headshot API the workbench talks to: the real one when `HEADSHOT_API_URL` and
`HEADSHOT_API_KEY` are set, else the embedded simulator on a free loopback port (and it says so).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from workbench.client import HeadshotClient
from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.simulator import SimulatorConfig

URL_ENV = "HEADSHOT_API_URL"
KEY_ENV = "HEADSHOT_API_KEY"
SIMULATOR_NOTICE = "simulator — not real portraits"

logger = logging.getLogger(__name__)

BackendKind = Literal["simulator", "remote"]


@dataclass(frozen=True)
class Backend:
    url: str
    api_key: str = field(repr=False)
    kind: BackendKind

    @property
    def label(self) -> str:
        if self.kind == "simulator":
            return f"embedded {SIMULATOR_NOTICE} ({self.url})"
        return f"Headshot API at {self.url}"

    def client(self, **kwargs) -> HeadshotClient:
        return HeadshotClient(self.url, self.api_key, **kwargs)


@contextmanager
def open_backend(simulator_config: SimulatorConfig | None = None) -> Iterator[Backend]:
    """The configured backend for the duration of the block.

    `simulator_config` (a `SimulatorConfig`) tunes the embedded simulator; ignored for remote.
    """
    url = os.environ.get(URL_ENV, "").strip()
    key = os.environ.get(KEY_ENV, "").strip()
    if url and key:
        logger.info("using the Headshot API at %s", url)
        yield Backend(url=url.rstrip("/"), api_key=key, kind="remote")
        return
    if url or key:
        missing = KEY_ENV if url else URL_ENV
        raise ConfigError(
            f"{missing} is not set: set both {URL_ENV} and {KEY_ENV} for the real API, "
            "or neither for the embedded simulator"
        )
    from workbench.simulator import SimulatorServer

    with SimulatorServer(simulator_config) as simulator:
        logger.warning(
            "no %s set: using the embedded %s at %s", URL_ENV, SIMULATOR_NOTICE, simulator.url
        )
        yield Backend(url=simulator.url, api_key=simulator.api_key, kind="simulator")
