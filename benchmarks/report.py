"""How every benchmark reports: one JSON document on stdout, and in `--out FILE` if given."""

from __future__ import annotations

import json
from pathlib import Path


def emit(result: dict, out: Path | None = None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
