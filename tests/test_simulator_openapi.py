"""The simulator's OpenAPI says what it enforces: schemathesis (`st run`, every check, a fixed seed,
a bounded number of examples) finds no failure against it on loopback, as an outside caller without
the key, with the key (200s rendered), and with faults injected (429, 5xx, malformed replies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.simulator import Faults, SimulatorConfig, SimulatorServer

pytestmark = pytest.mark.e2e

KEY = "schemathesis-key-UNIQUE-5c1d"
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
SEED = 20261204
EXAMPLES = 25


def schemathesis(
    url: str, cwd: Path, *, hooks: bool, options: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WORKBENCH_SCHEMATHESIS_KEY": KEY, "NO_COLOR": "1"}
    if hooks:
        env["SCHEMATHESIS_HOOKS"] = str(HOOKS)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--request-timeout",
        "60",
        *options,
    ]
    # cwd: schemathesis keeps a cache of failures in its working folder.
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def assert_no_failure(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "No issues found" in result.stdout


@pytest.mark.parametrize("hooks", [False, True], ids=["outside-caller", "with-key"])
def test_schemathesis_finds_no_failure(tmp_path, hooks):
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as simulator:
        result = schemathesis(simulator.url, tmp_path, hooks=hooks)
        outcomes = simulator.stats.as_dict()
    assert_no_failure(result)
    if hooks:
        assert outcomes.get("ok", 0) > 0, outcomes  # generated requests reached the renderer
    else:
        assert outcomes.get("ok", 0) == 0 and outcomes.get("unauthorized", 0) > 0, outcomes


def test_schemathesis_finds_no_failure_with_faults(tmp_path):
    faults = Faults(error_rate=0.2, rate_limit_rate=0.2, malformed_rate=0.2, fault_seed=7)
    with SimulatorServer(SimulatorConfig(api_key=KEY, faults=faults)) as simulator:
        # Every check but the one that refuses any 5xx: those are injected here on purpose, and
        # must be documented replies (status code, body and header conformance still check it).
        result = schemathesis(
            simulator.url, tmp_path, hooks=True, options=("--exclude-checks", "not_a_server_error")
        )
        outcomes = simulator.stats.as_dict()
    assert_no_failure(result)
    for outcome in ("error", "rate_limited", "malformed", "ok"):
        assert outcomes.get(outcome, 0) > 0, outcomes  # every fault was met and passed the checks
