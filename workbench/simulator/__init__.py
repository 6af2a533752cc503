"""The embedded, contract-faithful SIMULATOR of the Headshot API — not a generative model.

It serves the same contract over real HTTP (`create_app`, `SimulatorServer`, `workbench simulate`),
answers with real JPEGs whose style is a deterministic function of (prompt, seed), and hides a
per-(prompt, seed) stability that `stability()` reveals to Python for verification only.
"""

from workbench.simulator.config import DEFAULT_API_KEY, Faults, SimulatorConfig
from workbench.simulator.render import stability

__all__ = [
    "DEFAULT_API_KEY",
    "Faults",
    "SimulatorConfig",
    "SimulatorServer",
    "create_app",
    "stability",
]


def __getattr__(name: str):
    # The HTTP parts pull in FastAPI and uvicorn; import them only when asked for.
    if name == "create_app":
        from workbench.simulator.app import create_app

        return create_app
    if name == "SimulatorServer":
        from workbench.simulator.server import SimulatorServer

        return SimulatorServer
    raise AttributeError(name)
