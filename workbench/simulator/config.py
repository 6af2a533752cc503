"""Settings of one simulator instance: the key it expects, its latency and injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.contract import SIMULATOR_MODEL_VERSION

# Documented in the README: the key the simulator accepts unless told otherwise.
DEFAULT_API_KEY = "simulator-key"


@dataclass(frozen=True)
class Faults:
    """Probabilities per request of each injected fault, drawn from `fault_seed`.

    error: a 5xx reply; rate_limit: 429 with Retry-After; hang: no reply until the client
    gives up; malformed: a 200 whose images are wrong (count, base64, not a JPEG, size).
    """

    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    hang_rate: float = 0.0
    malformed_rate: float = 0.0
    fault_seed: int = 0
    retry_after_s: float = 1.0

    def __post_init__(self) -> None:
        rates = (self.error_rate, self.rate_limit_rate, self.hang_rate, self.malformed_rate)
        if any(not 0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must each be in [0, 1] and add up to at most 1")
        if self.retry_after_s < 0:
            raise ValueError("retry_after_s must be >= 0")


@dataclass(frozen=True)
class SimulatorConfig:
    api_key: str = field(default=DEFAULT_API_KEY, repr=False)
    latency_ms: float = 0.0
    faults: Faults = field(default_factory=Faults)
    hang_max_s: float = 600.0  # a hung request is abandoned after this, even if nobody waits
    # The model the simulator imitates (`SIMULATOR_MODEL_VERSION` unless told otherwise). A
    # later version renders other styles for the same (prompt, seed), as a provider's model
    # update would: template drift checks must catch it from the images alone. Model 1's
    # images are no longer made (its drift reached only the backdrop, the face light and the
    # framing), so asking for it is an error rather than new images under its old name.
    model_version: int = SIMULATOR_MODEL_VERSION
    # Worker processes to render in (`workbench.simulator.pool`): None, one per core when there
    # are two or more; 0 renders in threads of the server's process.
    render_processes: int | None = None

    def __post_init__(self) -> None:
        if self.render_processes is not None and self.render_processes < 0:
            raise ValueError("render_processes must be 0 (threads) or more")
        if self.model_version < SIMULATOR_MODEL_VERSION:
            raise ValueError(
                f"model_version must be {SIMULATOR_MODEL_VERSION} or more: model 1 was the "
                "simulator before its drift reached the grade, tone, grain and focus, and its "
                "images are no longer made"
            )
