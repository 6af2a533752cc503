"""Which API the workbench talks to, and how it names it: a simulator says so, credentials in a
URL are never part of a name."""

from __future__ import annotations

import pytest

from workbench.backend import Backend, is_simulator, open_backend, simulator_model_at
from workbench.contract import SIMULATOR_BACKEND, simulator_identity, simulator_model_of
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
        assert (
            backend.kind == "simulator" and backend.identity == SIMULATOR_BACKEND == "simulator@2"
        )
        assert "not real portraits" in backend.label
    assert "points at a simulator" in caplog.text


def test_a_simulator_reached_by_url_is_named_by_its_model(monkeypatch):
    """A later model (a faked provider update) and the first simulator, which named no model in
    its header, each get their own identity, so their images never count as each other's."""
    with SimulatorServer(SimulatorConfig(model_version=3)) as later:
        assert simulator_model_at(later.url) == 3
        monkeypatch.setenv("HEADSHOT_API_URL", later.url)
        monkeypatch.setenv("HEADSHOT_API_KEY", "k")
        with open_backend() as backend:
            assert backend.identity == simulator_identity(3) == "simulator@3"
    assert simulator_model_at("http://127.0.0.1:9") is None
    assert simulator_model_of("simulator; not real portraits") == 1
    assert simulator_identity(1) == "simulator"  # what model 1's catalogue rows say


def test_an_api_that_does_not_say_so_is_real_and_named_by_its_clean_url(simulator):
    assert is_simulator(simulator.url)
    assert not is_simulator("http://127.0.0.1:9")  # nothing listens there
    backend = Backend(
        url="HTTPS://alice:s3cr3t@API.Example.com/v1/?token=x", api_key="key", kind="remote"
    )
    assert backend.identity == "https://api.example.com/v1"
    for text in (backend.identity, backend.label, repr(backend)):
        assert "s3cr3t" not in text and "alice" not in text and "token" not in text
