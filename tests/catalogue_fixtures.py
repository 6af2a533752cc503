"""Catalogue rows for tests of the catalogue, its parts and the commands that read them."""

from __future__ import annotations

from datetime import UTC, datetime

from workbench.catalogue import STATUS_OK, CatalogueRow


def make_row(
    n: int, *, status: str = STATUS_OK, face: str = "ann", prompt: str = "p"
) -> CatalogueRow:
    ok = status == STATUS_OK
    return CatalogueRow(
        sweep_id="s1",
        request_key=f"key-{n}",
        created_at=datetime.now(UTC),
        backend="simulator",
        prompt=prompt,
        seed=n + 1,
        sample_number=1,
        identity_scale=0.8,
        width=768,
        height=1024,
        face_id=face,
        face_hash=face * 8,
        status=status,
        attempts=1 if ok else 5,
        latency_ms=250.0,
        seed_used=n + 1,
        sample_index=0 if ok else None,
        image_hash=f"{n:064x}" if ok else None,
        image_path=f"images/00/{n:064x}.jpg" if ok else None,
        error_class=None if ok else "TransientError",
        error=None if ok else "server error (HTTP 503)",
    )
