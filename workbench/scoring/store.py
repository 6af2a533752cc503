"""The scores table: what each scorer said about each generated image, kept so that nothing is
scored twice and candidate consistency comes from stored descriptors, not from re-decoding.

One row per (image hash, reference face hash, scorer, scorer version, time): the identity scorer
fills `identity` and `face_found`, the style scorer fills `vector` (its descriptor). A row with
`error` says the image could not be scored (e.g. undecodable), so it is not retried forever.
Rows are only appended; when an image is scored again (`--rescore`) the latest row wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from workbench.layout import DataLayout
from workbench.parts import PartFolder

SCORES_SCHEMA_VERSION = 1


def _column(name: str, type_: pa.DataType, doc: str, nullable: bool = False) -> pa.Field:
    return pa.field(name, type_, nullable=nullable, metadata={"doc": doc})


SCORES_SCHEMA = pa.schema(
    [
        _column("schema_version", pa.int16(), "Schema version the row was written with."),
        _column("image_hash", pa.string(), "SHA-256 of the generated image (catalogue)."),
        _column("face_hash", pa.string(), "SHA-256 of the reference face it was made from."),
        _column("scorer", pa.string(), 'Scorer name, e.g. "dlib-resnet" or "style".'),
        _column("scorer_version", pa.int32(), "Scorer version; a new version re-scores."),
        _column("scored_at", pa.timestamp("us", tz="UTC"), "When the row was written (UTC)."),
        _column("identity", pa.float64(), "Identity similarity to the reference, 0-1.", True),
        _column("face_found", pa.bool_(), "Whether the image had a face (identity).", True),
        _column("vector", pa.list_(pa.float32()), "The style descriptor (style).", True),
        _column("error", pa.string(), "Why the image could not be scored.", True),
    ]
)


@dataclass(frozen=True)
class ScoreRow:
    """One scorer's verdict on one image made from one reference face."""

    image_hash: str
    face_hash: str
    scorer: str
    scorer_version: int
    identity: float | None = None
    face_found: bool | None = None
    vector: np.ndarray | None = None
    error: str | None = None


def rows_to_table(rows: Sequence[ScoreRow], scored_at: datetime | None = None) -> pa.Table:
    when = scored_at or datetime.now(UTC)
    columns = {
        "schema_version": [SCORES_SCHEMA_VERSION] * len(rows),
        "image_hash": [r.image_hash for r in rows],
        "face_hash": [r.face_hash for r in rows],
        "scorer": [r.scorer for r in rows],
        "scorer_version": [r.scorer_version for r in rows],
        "scored_at": [when] * len(rows),
        "identity": [r.identity for r in rows],
        "face_found": [r.face_found for r in rows],
        "vector": [
            None if r.vector is None else np.asarray(r.vector, dtype=np.float32) for r in rows
        ],
        "error": [r.error for r in rows],
    }
    return pa.Table.from_pydict(columns, schema=SCORES_SCHEMA)


class ScoreStore:
    """`<data>/catalogue/scores`: append-only Parquet parts (`pd.read_parquet` reads it)."""

    def __init__(self, layout: DataLayout):
        self.dataset = PartFolder(
            layout.scores,
            SCORES_SCHEMA,
            quarantine=layout.quarantine,
            version_column="schema_version",
            version=SCORES_SCHEMA_VERSION,
        )

    def append(self, rows: Sequence[ScoreRow]) -> None:
        if rows:
            self.dataset.append(rows_to_table(rows))

    def scored_keys(self, scorer: str, version: int) -> set[tuple[str, str]]:
        """(image hash, face hash) pairs this scorer version has already scored."""
        table = self.dataset.table(
            ["image_hash", "face_hash"],
            filter=(pc.field("scorer") == scorer) & (pc.field("scorer_version") == version),
        )
        return set(
            zip(table["image_hash"].to_pylist(), table["face_hash"].to_pylist(), strict=True)
        )

    def latest(self, scorer: str, version: int, *, vectors: bool = True) -> pd.DataFrame:
        """This scorer version's latest row per (image hash, face hash)."""
        columns = ["image_hash", "face_hash", "scored_at", "identity", "face_found", "error"]
        if vectors:
            columns.append("vector")
        table = self.dataset.table(
            columns,
            filter=(pc.field("scorer") == scorer) & (pc.field("scorer_version") == version),
        )
        frame = table.to_pandas()
        if frame.empty:
            return frame
        frame = frame.sort_values("scored_at", kind="stable")
        return frame.drop_duplicates(["image_hash", "face_hash"], keep="last").reset_index(
            drop=True
        )

    def remove(self, *, image_hashes: Iterable[str] = (), face_hashes: Iterable[str] = ()) -> int:
        """Delete every row about these images or made from these reference faces (erasure)."""
        images, faces = sorted(set(image_hashes)), sorted(set(face_hashes))
        if not images and not faces:
            return 0
        predicate = pc.field("image_hash").isin(images) | pc.field("face_hash").isin(faces)
        return self.dataset.remove_rows(predicate)

    def compact(self) -> None:
        """Merge small parts (many small appends make reads slower)."""
        self.dataset.compact()
