"""Serving the simulator over real HTTP on loopback: in a background thread for tests, the app
and notebooks (`SimulatorServer`), or in the foreground for `workbench simulate` (`serve`)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable

import uvicorn

from workbench.errors import InputError
from workbench.simulator import pool
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


def _bound_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:  # a busy port, an address of another machine, an unknown name
        sock.close()
        reason = exc.strerror or str(exc)
        raise InputError(
            f"cannot listen on {host}:{port}: {reason}; choose a free --port (0 picks one) "
            "and an address of this machine for --host"
        ) from None
    return sock


def serve(
    config: SimulatorConfig,
    host: str = LOOPBACK,
    port: int = 8787,
    announce: Callable[[str], None] = print,
) -> None:
    """Run the simulator in the foreground until interrupted.

    The socket is bound first, so `port=0` picks a free port and `announce` gets the real URL.
    """
    sock = _bound_socket(host, port)
    sock.listen(2048)  # connections made right after the announcement wait in the backlog
    pool.warm(config.render_processes, wait=True)  # announced warm: the first requests render
    announce(f"http://{host}:{sock.getsockname()[1]}")
    uvicorn.Server(_uvicorn_config(create_app(config), host, port)).run(sockets=[sock])


class SimulatorServer:
    """The simulator on a free loopback port in a daemon thread; stops on exit from `with`."""

    def __init__(self, config: SimulatorConfig | None = None, *, port: int = 0):
        self.config = config or SimulatorConfig()
        self.app = create_app(self.config)
        self._socket = _bound_socket(LOOPBACK, port)
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
        pool.warm(self.config.render_processes)  # the workers start while the server does
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


class SimulatorProcess:
    """`workbench simulate` in a child process, with its own interpreter (and GIL).

    For tests and benchmarks that must not share a process with the simulator, or that kill the
    client side. Stops the child on exit from `with`.
    """

    def __init__(self, config: SimulatorConfig | None = None):
        self.config = config or SimulatorConfig()
        self.url = ""
        self._process: subprocess.Popen[str] | None = None

    @property
    def api_key(self) -> str:
        return self.config.api_key

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def __repr__(self) -> str:
        return f"SimulatorProcess(url={self.url!r})"

    def command(self) -> list[str]:
        faults = self.config.faults
        options = {
            "--port": 0,
            "--latency-ms": self.config.latency_ms,
            "--error-rate": faults.error_rate,
            "--rate-limit-rate": faults.rate_limit_rate,
            "--retry-after": faults.retry_after_s,
            "--hang-rate": faults.hang_rate,
            "--malformed-rate": faults.malformed_rate,
            "--fault-seed": faults.fault_seed,
            "--model-version": self.config.model_version,
        }
        if self.config.render_processes is not None:
            options["--processes"] = self.config.render_processes
        args = [sys.executable, "-m", "workbench", "simulate"]
        for option, value in options.items():
            args += [option, str(value)]
        return args

    def start(self) -> SimulatorProcess:
        # The key goes by environment, not argv: argv is visible to every user of the machine.
        env = {**os.environ, "HEADSHOT_SIMULATOR_KEY": self.config.api_key}
        self._process = subprocess.Popen(
            self.command(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
        )
        line = self._process.stdout.readline().strip() if self._process.stdout else ""
        if not line.startswith("http://"):
            self.stop()
            raise RuntimeError("`workbench simulate` did not start")
        self.url = line
        return self

    def stats(self) -> dict:
        with urllib.request.urlopen(f"{self.url}/_simulator/stats", timeout=10) as reply:
            return json.loads(reply.read())

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout:
            self._process.stdout.close()
        self._process = None

    def __enter__(self) -> SimulatorProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
