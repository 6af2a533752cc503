"""The Gradio app: `build_app` lays out the tabs (one module each), `serve` launches it.

Callbacks are thin: each calls the library (panel, sweep engine, catalogue, …) and formats the
answer, so every one can be tested as a plain function without a browser.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from workbench.app import banner, catalogue, leaderboard, panel, review, sweep, templates
from workbench.app.context import AppContext
from workbench.app.errors import hide_paths_under, shown
from workbench.app.server import ServeOptions, launch_kwargs, served_folders

TITLE = "Headshot workbench"
CSS = """
.face-cards { display: flex; flex-wrap: wrap; gap: 12px; }
.face-card { margin: 0; text-align: center; }
.face-card img { height: 128px; border-radius: 6px; }
.face-card figcaption { font-size: 0.85em; }
#sweep-progress progress { width: 60%; height: 1.2em; vertical-align: middle; }
"""


def build_app(ctx: AppContext) -> gr.Blocks:
    # Thumbnails and images are served from their stores as they are: never copied into
    # Gradio's cache, so erasing a person leaves no copy behind.
    gr.set_static_paths(served_folders(ctx.layout))
    # Messages in the page name paths under the data folder relative to it (app/errors.py).
    hide_paths_under(ctx.layout.root)
    # Gradio's cache (downloads, uploads it keeps) is swept hourly of files older than an hour.
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
        gr.Markdown(f"# {TITLE}")
        banner.build(ctx.backend)
        with gr.Tabs() as tabs:
            review_loader, review_pickers = review.build(ctx)
            loaders = [
                review_loader,
                leaderboard.build(ctx, tabs, review_pickers),
                sweep.build(ctx),
                panel.build(ctx),
                templates.build(ctx),
                catalogue.build(ctx),
            ]
        for loader in loaders:
            blocks.load(shown(loader.fn), loader.inputs, loader.outputs, show_progress="hidden")
    # Reading callbacks run several at once; API calls have their own shared limit (API_QUEUE).
    blocks.queue(default_concurrency_limit=8)
    return blocks


def serve(
    ctx: AppContext,
    options: ServeOptions,
    *,
    on_ready: Callable[[str, str | None], None] | None = None,
    block: bool = True,
) -> gr.Blocks:
    """Launch the app; `on_ready(local_url, share_url)` is called once it listens."""
    blocks = build_app(ctx)
    _, local_url, share_url = blocks.launch(
        **launch_kwargs(options, ctx.layout),
        css=CSS,
        prevent_thread_lock=True,
    )
    if on_ready is not None:
        on_ready(local_url, share_url)
    if block:
        blocks.block_thread()
    return blocks
