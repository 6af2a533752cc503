"""The line at the top of every page: which backend, and whether a key is set (never the key)."""

from __future__ import annotations

import gradio as gr

from workbench.backend import SIMULATOR_NOTICE, Backend


def banner_text(backend: Backend) -> str:
    key = "set" if backend.api_key else "not set"
    if backend.kind == "simulator":
        return (
            f"**Backend: {SIMULATOR_NOTICE}** at {backend.public_url} · API key: {key}. "
            "Set `HEADSHOT_API_URL` and `HEADSHOT_API_KEY` to use the real API."
        )
    return f"**Backend: Headshot API at {backend.public_url}** · API key: {key}"


def build(backend: Backend) -> gr.Markdown:
    return gr.Markdown(banner_text(backend), elem_id="backend-banner")
