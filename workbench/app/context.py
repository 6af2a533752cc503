"""What every tab of the app shares: the data folder, the backend and the limits on the API."""

from __future__ import annotations

import getpass
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.backend import Backend
from workbench.layout import DataLayout

# Every event that calls the Headshot API shares this Gradio concurrency id, so all users
# together never have more than one sweep's worth of requests in flight.
API_QUEUE = "headshot-api"
# Requests in flight for one sweep (the provider publishes no limit; the CLI's default).
DEFAULT_API_CONCURRENCY = 8


@dataclass
class AppContext:
    layout: DataLayout
    backend: Backend
    api_concurrency: int = DEFAULT_API_CONCURRENCY
    # Catalogue downloads are written here before Gradio hands them out; gone with the process.
    exports: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="workbench-exports-"))
    )


@dataclass(frozen=True)
class Loader:
    """What a tab fills in when the page opens (and again when the tab is selected)."""

    fn: Callable[..., Any]
    outputs: list[Any]
    inputs: list[Any] = field(default_factory=list)


def signed_in_user(request: Any) -> str:
    """Who is acting: the signed-in user (a `gr.Request`), else the local account."""
    name = getattr(request, "username", None)
    if name:
        return str(name)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "local"
