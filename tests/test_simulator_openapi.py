"""The simulator's OpenAPI says what it enforces: every rule and reply is in the document, and
schemathesis (`st run`, every check, a fixed seed, a bounded number of examples) finds no failure
against it on loopback, as an outside caller without the key, with the key (200s rendered), and
with faults injected (429, 5xx, malformed replies)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.contract import PROMPT_MAX_CHARS, SAMPLES_MAX, SEED_MAX
from workbench.simulator import Faults, SimulatorConfig, SimulatorServer
from workbench.simulator.app import create_app

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


def test_the_openapi_states_every_rule_and_reply():
    spec = create_app().openapi()
    schemas = spec["components"]["schemas"]
    request = schemas["PortraitRequest"]
    fields = request["properties"]
    assert set(request["required"]) == {"prompt", "apiKey", "inputImages"}
    assert request["additionalProperties"] is False
    assert fields["prompt"]["maxLength"] == PROMPT_MAX_CHARS and "pattern" in fields["prompt"]
    assert fields["seed"]["anyOf"] == [
        {"const": -1, "type": "integer"},
        {"type": "integer", "minimum": 1, "maximum": SEED_MAX},
    ]
    assert (fields["inputImages"]["minItems"], fields["inputImages"]["maxItems"]) == (1, 1)
    assert fields["inputImages"]["items"]["pattern"].startswith("^data:image/jpeg;base64,/9j/")
    assert fields["sampleNumber"]["maximum"] == SAMPLES_MAX
    assert schemas["PortraitResponse"]["properties"]["outputImages"]["maxItems"] == SAMPLES_MAX

    replies = spec["paths"]["/api/generate-portrait"]["post"]["responses"]
    assert set(replies) == {"200", "401", "402", "422", "429", "5XX"}
    invalid = replies["422"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    assert schemas[invalid]["required"] == ["error", "detail"]
    problem = schemas[invalid]["properties"]["detail"]["items"]["$ref"].split("/")[-1]
    assert set(schemas[problem]["required"]) == {"field", "msg"}
    assert replies["429"]["headers"]["Retry-After"]["required"] is True
    assert "X-Seed" in replies["200"]["headers"]


@pytest.mark.e2e
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


@pytest.mark.e2e
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
