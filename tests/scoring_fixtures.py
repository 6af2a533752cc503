"""Fixtures for the scoring tests (the data itself: scoring_data.py)."""

from __future__ import annotations

import numpy as np
import pytest
from scoring_data import BAD, FACES, GOOD, descriptor_length, write_faces, write_scored


@pytest.fixture(scope="session")
def vector_length() -> int:
    return descriptor_length()


@pytest.fixture
def stored_catalogue(layout, vector_length) -> list[str]:
    """GOOD and BAD on six faces: GOOD's style never moves, BAD's jumps face by face.
    Returns GOOD's image hashes."""
    write_faces(layout)
    rng = np.random.default_rng(3)
    base = np.zeros(vector_length, dtype=np.float32)
    rows = write_scored(layout, GOOD, FACES, lambda i: base)
    write_scored(
        layout,
        BAD,
        FACES,
        lambda i: (base + rng.normal(0, 6, vector_length)).astype(np.float32),
        identity=0.5,
    )
    return [row.image_hash for row in rows]
