"""`workbench simulate`: serve the Headshot API simulator over HTTP, with optional faults."""

from __future__ import annotations

import click

from workbench.contract import SIMULATOR_MODEL_VERSION
from workbench.simulator.config import DEFAULT_API_KEY, Faults, SimulatorConfig


@click.command("simulate")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    default=8787,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="0 picks a free port; the URL is printed on stdout.",
)
@click.option(
    "--api-key",
    default=DEFAULT_API_KEY,
    show_default=True,
    envvar="HEADSHOT_SIMULATOR_KEY",
    help="The only key the simulator accepts (401 for any other).",
)
@click.option("--latency-ms", default=0.0, type=click.FloatRange(min=0), help="Delay per request.")
@click.option("--error-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of 5xx.")
@click.option("--rate-limit-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of 429s.")
@click.option(
    "--retry-after", default=1.0, type=click.FloatRange(min=0), help="Retry-After of a 429, s."
)
@click.option("--hang-rate", default=0.0, type=click.FloatRange(0, 1), help="Share never answered.")
@click.option(
    "--malformed-rate",
    default=0.0,
    type=click.FloatRange(0, 1),
    help="Share of 200s with broken images (count, base64, non-JPEG, size).",
)
@click.option("--fault-seed", default=0, type=int, help="Makes the fault sequence reproducible.")
@click.option(
    "--model-version",
    default=SIMULATOR_MODEL_VERSION,
    show_default=True,
    type=click.IntRange(min=SIMULATOR_MODEL_VERSION),
    help="The simulated provider model; a later version renders other styles (drift checks).",
)
@click.option(
    "--processes",
    default=None,
    type=click.IntRange(min=0),
    help="Worker processes to render in (default: one per core when there are 2 or more; "
    "0: threads of this process).",
)
def command(
    host: str,
    port: int,
    api_key: str,
    latency_ms: float,
    error_rate: float,
    rate_limit_rate: float,
    retry_after: float,
    hang_rate: float,
    malformed_rate: float,
    fault_seed: int,
    model_version: int,
    processes: int | None,
) -> None:
    """Serve the Headshot API SIMULATOR (not real portraits) until Ctrl-C."""
    from workbench.simulator.server import serve

    try:
        faults = Faults(
            error_rate=error_rate,
            rate_limit_rate=rate_limit_rate,
            hang_rate=hang_rate,
            malformed_rate=malformed_rate,
            fault_seed=fault_seed,
            retry_after_s=retry_after,
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    config = SimulatorConfig(
        api_key=api_key,
        latency_ms=latency_ms,
        faults=faults,
        model_version=model_version,
        render_processes=processes,
    )
    key_note = f"API key {api_key!r}" if api_key == DEFAULT_API_KEY else "API key as given"

    def announce(url: str) -> None:
        click.echo(
            f"Headshot API SIMULATOR (model {model_version}) — not real portraits — at {url} "
            f"({key_note})",
            err=True,
        )
        click.echo(url)  # alone on stdout's first line, for scripts (and `SimulatorProcess`)

    serve(config, host=host, port=port, announce=announce)
