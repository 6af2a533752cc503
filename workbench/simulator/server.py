"""Serving the simulator over real HTTP on loopback: in a background thread for tests, the app
and notebooks (`SimulatorServer`), or in the foreground for `workbench simulate` (`serve`)."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from workbench.simulator.app import SimulatorStats, create_app
from workbench.simulator.config import SimulatorConfig

LOOPBACK = "127.0.0.1"


def _uvicorn_config(app, host: str, port: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,  # an access log is one more place a request could leak into
        timeout_graceful_shutdown=1,  # hung (fault-injected) requests must not block shutdown
        timeout_keep_alive=30,
    )


def serve(config: SimulatorConfig, host: str = LOOPBACK, port: int = 8787) -> None:
    """Run the simulator in the foreground until interrupted."""
    uvicorn.Server(_uvicorn_config(create_app(config), host, port)).run()


class SimulatorServer:
    """The simulator on a free loopback port in a daemon thread; stops on exit from `with`."""

    def __init__(self, config: SimulatorConfig | None = None, *, port: int = 0):
        self.config = config or SimulatorConfig()
        self.app = create_app(self.config)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((LOOPBACK, port))
        self.port = self._socket.getsockname()[1]
        self._server = uvicorn.Server(_uvicorn_config(self.app, LOOPBACK, self.port))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def stats(self) -> SimulatorStats:
        return self.app.state.stats

    def __repr__(self) -> str:
        return f"SimulatorServer(url={self.url!r})"

    def start(self) -> SimulatorServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator did not start on {self.url}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
