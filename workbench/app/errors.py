"""Library errors shown in the page as one line, never a traceback."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

import gradio as gr

from workbench.errors import WorkbenchError


def shown(fn: Callable) -> Callable:
    """Turn a WorkbenchError raised by a callback into Gradio's error message (one line)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except WorkbenchError as exc:
                raise gr.Error(str(exc), print_exception=False) from None

        return run_async

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WorkbenchError as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    return run
