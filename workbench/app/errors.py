"""Library errors shown in the page as one line, never a traceback, and never naming a folder of
the server: paths under the data folder are shown relative to it, any other (Gradio's upload
folder, a temporary file) by its file name alone."""

from __future__ import annotations

import functools
import inspect
import logging
import re
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from workbench.errors import WorkbenchError

logger = logging.getLogger(__name__)

# The data folders of the apps built in this process (build_app registers its own): `shown` is
# applied where a callback is wired, long before a request says which app it belongs to.
_DATA_ROOTS: set[str] = set()
# An absolute path: a `/` that does not continue a word, a URL or a relative path.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])/[^\s'\"`,;()<>\[\]]+")


def hide_paths_under(root: str | Path) -> None:
    """Show paths under `root` (a data folder) relative to it in every message of the page."""
    for spelling in {str(Path(root)), str(Path(root).resolve())}:
        _DATA_ROOTS.add(spelling.rstrip("/"))


def public_text(text: str) -> str:
    """`text` with no absolute server path in it (see the module's docstring)."""
    for root in sorted(_DATA_ROOTS, key=len, reverse=True):
        text = text.replace(root + "/", "").replace(root, "the data folder")
    return _ABSOLUTE_PATH.sub(lambda match: Path(match.group()).name or "/", text)


def page_error(exc: Exception) -> gr.Error:
    """The one line the page shows for `exc`: a WorkbenchError's message, or for anything else
    (a bug, a disk error naming a file) its type and message, logged here with the traceback;
    never a folder of the server."""
    if isinstance(exc, gr.Error):
        exc.message = public_text(str(exc.message))
        return exc
    if not isinstance(exc, WorkbenchError):
        logger.exception("callback failed")
        return gr.Error(public_text(f"{type(exc).__name__}: {exc}"), print_exception=False)
    return gr.Error(public_text(str(exc)), print_exception=False)


def shown(fn: Callable) -> Callable:
    """`fn` as a callback whose errors reach the page as one line (see `page_error`), whether it
    returns, awaits or yields its results."""
    if inspect.isasyncgenfunction(fn):

        @functools.wraps(fn)
        async def stream_async(*args, **kwargs):
            try:
                async for item in fn(*args, **kwargs):
                    yield item
            except Exception as exc:
                raise page_error(exc) from None

        return stream_async

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as exc:
                raise page_error(exc) from None

        return stream

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                raise page_error(exc) from None

        return run_async

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise page_error(exc) from None

    return run
