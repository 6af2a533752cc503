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

import httpx

from workbench.client import HeadshotClient, public_url, split_credentials
from workbench.contract import (
    SIMULATOR_HEADER,
    SIMULATOR_MODEL_VERSION,
    simulator_identity,
    simulator_model_of,
)
from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.simulator import SimulatorConfig, SimulatorServer

URL_ENV = "HEADSHOT_API_URL"
KEY_ENV = "HEADSHOT_API_KEY"
SIMULATOR_NOTICE = "simulator — not real portraits"
# How long to wait for the one look at a configured URL that tells a simulator from the real API.
PROBE_TIMEOUT_S = 5.0

logger = logging.getLogger(__name__)

BackendKind = Literal["simulator", "remote"]


@dataclass(frozen=True)
class Backend:
    url: str = field(repr=False)  # may carry credentials (user:pass@): print `public_url`
    api_key: str = field(repr=False)
    kind: BackendKind
    # The simulator's model (`SimulatorConfig.model_version`, or what a simulator reached by URL
    # names in its reply header); a real API's model is invisible to clients, so it is unused.
    model_version: int = SIMULATOR_MODEL_VERSION

    @classmethod
    def of_simulator(cls, server: SimulatorServer) -> Backend:
        """The backend for a running embedded simulator: its URL, key and model."""
        return cls(
            url=server.url,
            api_key=server.api_key,
            kind="simulator",
            model_version=server.config.model_version,
        )

    @property
    def public_url(self) -> str:
        return public_url(self.url)

    @property
    def identity(self) -> str:
        """Which API made a result, as request keys and catalogue rows record it: the
        simulator's model ("simulator@2"), however reached, or the real API's base URL without
        credentials, query or fragment."""
        if self.kind == "simulator":
            return simulator_identity(self.model_version)
        return self.public_url

    @property
    def label(self) -> str:
        if self.kind == "simulator":
            return f"{SIMULATOR_NOTICE} ({self.public_url})"
        return f"Headshot API at {self.public_url}"

    def __repr__(self) -> str:
        return f"Backend(kind={self.kind!r}, url={self.public_url!r})"

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
        model = simulator_model_at(url)
        kind: BackendKind = "remote" if model is None else "simulator"
        backend = Backend(url=url.rstrip("/"), api_key=key, kind=kind, model_version=model or 1)
        if kind == "simulator":
            logger.warning("%s points at a %s: %s", URL_ENV, SIMULATOR_NOTICE, backend.public_url)
        else:
            logger.info("using the Headshot API at %s", backend.public_url)
        yield backend
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
        yield Backend.of_simulator(simulator)


def is_simulator(url: str) -> bool:
    """Whether the API at `url` says it is the workbench's simulator (its reply header)."""
    return simulator_model_at(url) is not None


def simulator_model_at(url: str) -> int | None:
    """The model of the simulator at `url` (from its reply header), or None if the API there
    does not say it is the workbench's simulator.

    One GET of the base URL, without the API key; an API that does not answer counts as real
    (the sweep's circuit breaker deals with it)."""
    try:
        base, auth = split_credentials(url)
        reply = httpx.get(base + "/", auth=auth, timeout=PROBE_TIMEOUT_S)
    except (httpx.HTTPError, httpx.InvalidURL):
        return None
    if SIMULATOR_HEADER not in reply.headers:
        return None
    return simulator_model_of(reply.headers[SIMULATOR_HEADER])
