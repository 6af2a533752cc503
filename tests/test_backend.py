"""Which API the workbench talks to, and how it names it: a simulator says so, credentials in a
URL are never part of a name."""

from __future__ import annotations

import pytest

from workbench.backend import Backend, is_simulator, open_backend
from workbench.simulator import SimulatorConfig, SimulatorServer


@pytest.fixture(scope="module")
def simulator():
    with SimulatorServer(SimulatorConfig(api_key="k")) as server:
        yield server


def test_a_simulator_reached_by_url_is_recorded_and_announced_as_the_simulator(
    simulator, monkeypatch, caplog
):
    monkeypatch.setenv("HEADSHOT_API_URL", simulator.url + "/")
    monkeypatch.setenv("HEADSHOT_API_KEY", "k")
    with open_backend() as backend:
        assert backend.kind == "simulator" and backend.identity == "simulator"
        assert "not real portraits" in backend.label
    assert "points at a simulator" in caplog.text


def test_an_api_that_does_not_say_so_is_real_and_named_by_its_clean_url(simulator):
    assert is_simulator(simulator.url)
    assert not is_simulator("http://127.0.0.1:9")  # nothing listens there
    backend = Backend(
        url="HTTPS://alice:s3cr3t@API.Example.com/v1/?token=x", api_key="key", kind="remote"
    )
    assert backend.identity == "https://api.example.com/v1"
    for text in (backend.identity, backend.label, repr(backend)):
        assert "s3cr3t" not in text and "alice" not in text and "token" not in text
