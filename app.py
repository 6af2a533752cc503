"""The workbench in the browser, as `make demo` runs it:

    python app.py [--host H] [--port P] [--auth user:password | --auth-file FILE] [--share]
                  [--data DIR]

Serves http://127.0.0.1:7860 on the embedded simulator unless HEADSHOT_API_URL/KEY are set.
On an empty catalogue it first runs the demo sweep (simulator only), so the first page is full.
Beyond loopback (--host, --share) it refuses to start without sign-in.
"""

from __future__ import annotations

import sys

import click
from tqdm import tqdm

from workbench.app import serve
from workbench.app.banner import banner_text
from workbench.app.context import AppContext
from workbench.app.server import (
    AUTH_ENV,
    DEFAULT_HOST,
    DEFAULT_PORT,
    ServeOptions,
    check_exposure,
    resolve_users,
)
from workbench.backend import open_backend
from workbench.demo import DemoProgress, has_images, run_demo
from workbench.errors import WorkbenchError
from workbench.layout import DATA_ENV, DataLayout


@click.command()
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--auth", default=None, help=f"user:password to sign in (or ${AUTH_ENV}).")
@click.option("--auth-file", default=None, help="File of user:password lines.")
@click.option("--share", is_flag=True, help="A public gradio.live link (needs sign-in).")
@click.option("--data", default=None, envvar=DATA_ENV, help="Data root (default ./data).")
@click.option("--no-demo", is_flag=True, help="Do not run the demo sweep on an empty catalogue.")
def main(
    host: str,
    port: int,
    auth: str | None,
    auth_file: str | None,
    share: bool,
    data: str | None,
    no_demo: bool,
) -> None:
    """Serve the Headshot workbench app."""
    try:
        options = ServeOptions(host, port, resolve_users(auth, auth_file), share)
        check_exposure(options)
        layout = DataLayout.resolve(data)
        with open_backend() as backend:
            if backend.kind == "simulator" and not no_demo and not has_images(layout):
                _seed_demo(layout)
            ctx = AppContext(layout=layout, backend=backend)
            serve(ctx, options, on_ready=lambda url, shared: _ready(ctx, url, shared))
    except WorkbenchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("stopped")


def _seed_demo(layout: DataLayout) -> None:
    """The demo sweep on the simulator, then scored, with progress bars, so the first page is
    full (`workbench.demo.run_demo`: only what is missing is done)."""
    click.echo("empty catalogue: running and scoring the demo sweep on the embedded simulator")
    bars: dict[str, tqdm] = {}

    def on_progress(progress: DemoProgress) -> None:
        if progress.stage == "panel":
            if progress.message and progress.done:
                click.echo(progress.message)
            return
        bar = bars.get(progress.stage)
        if bar is None:
            for other in bars.values():
                other.close()
            unit = "img"
            bar = bars[progress.stage] = tqdm(desc=progress.stage, unit=unit, dynamic_ncols=True)
        bar.total = progress.total
        bar.update(progress.done - bar.n)

    try:
        result = run_demo(layout, on_progress=on_progress)
    finally:
        for bar in bars.values():
            bar.close()
    click.echo(f"demo: {result.sweep.images_stored} images stored, {result.scoring.scored} scored")


def _ready(ctx: AppContext, local_url: str, share_url: str | None) -> None:
    click.echo(banner_text(ctx.backend).replace("**", "").replace("`", ""))
    click.echo(f"data: {ctx.layout.root}")
    click.echo(f"the workbench is at {local_url.rstrip('/')}  (Ctrl-C stops it)")
    if share_url:
        click.echo(f"shared at {share_url} (sign-in required)")


if __name__ == "__main__":
    main()
