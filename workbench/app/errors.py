"""Library errors shown in the page as one line, never a traceback, and never naming a folder of
the server: paths under the data folder are shown relative to it, any other (Gradio's upload
folder, a temporary file) by its file name alone."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from pathlib import Path

import gradio as gr

from workbench.errors import WorkbenchError

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


def shown(fn: Callable) -> Callable:
    """Turn a WorkbenchError raised by a callback into Gradio's error message (one line)."""
    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def run_async(*args, **kwargs):
            try:
                return await fn(*args, **kwargs)
            except WorkbenchError as exc:
                raise gr.Error(public_text(str(exc)), print_exception=False) from None
            except gr.Error as exc:
                exc.message = public_text(str(exc.message))
                raise

        return run_async

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except WorkbenchError as exc:
            raise gr.Error(public_text(str(exc)), print_exception=False) from None
        except gr.Error as exc:
            exc.message = public_text(str(exc.message))
            raise

    return run
