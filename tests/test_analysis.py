"""Catalogue analysis tables: requests over time (failures, latency) and cost, from real
catalogue rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from workbench import analysis
from workbench.catalogue import STATUS_FAILED, STATUS_OK, CatalogueRow, rows_to_table

START = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)


def row(
    seconds: float,
    *,
    status: str = STATUS_OK,
    sample_index: int | None = 0,
    latency_ms: float = 1000.0,
    cost: float = 0.02,
    sweep_id: str = "s1",
    key: str = "k",
) -> CatalogueRow:
    ok = status == STATUS_OK
    return CatalogueRow(
        sweep_id=sweep_id,
        request_key=key,
        created_at=START + timedelta(seconds=seconds),
        backend="simulator",
        prompt="studio",
        seed=1,
        sample_number=2,
        identity_scale=0.8,
        width=768,
        height=1024,
        face_id="ann",
        face_hash="f" * 64,
        status=status,
        attempts=1,
        latency_ms=latency_ms,
        sample_index=sample_index if ok else None,
        image_hash=("a" * 64) if ok else None,
        error_class=None if ok else "TransientError",
        cost=cost if ok else 0.0,
    )


def frame(rows: list[CatalogueRow]) -> pd.DataFrame:
    return rows_to_table(rows).to_pandas()


def test_a_request_with_two_images_counts_once_and_failures_give_the_rate():
    runs = frame(
        [
            row(0, sample_index=0, key="a", latency_ms=1000),
            row(0, sample_index=1, key="a", latency_ms=1000),  # same request, second image
            row(10, key="b", latency_ms=3000),
            row(20, status=STATUS_FAILED, key="c", latency_ms=5000),
            row(30, status=STATUS_FAILED, key="d", latency_ms=5000),
        ]
    )
    table = analysis.requests_over_time(runs, every="1min")
    assert list(table.columns) == analysis.OVER_TIME_COLUMNS
    assert len(table) == 1
    only = table.iloc[0]
    assert only["requests"] == 4
    assert only["failed"] == 2
    assert only["failure_rate"] == pytest.approx(0.5)
    assert only["latency_p50_ms"] == pytest.approx(4000)
    assert table.attrs["every"] == "1min"


def test_bins_fit_the_span_and_empty_bins_are_left_out():
    runs = frame([row(0, key="a"), row(3600, key="b")])  # an hour apart
    table = analysis.requests_over_time(runs)
    every = table.attrs["every"]
    assert pd.Timedelta(hours=1) / pd.Timedelta(every) < analysis.MAX_BINS
    assert len(table) == 2  # the bins between them had no request


def test_no_rows_give_empty_tables():
    runs = frame([])
    assert analysis.requests_over_time(runs).empty
    assert analysis.cost_so_far(runs).empty
    assert analysis.cost_by_sweep(runs).empty


def test_cost_so_far_is_a_running_total_in_time_order():
    runs = frame(
        [
            row(20, key="c", sweep_id="s2", cost=0.05),
            row(0, sample_index=0, key="a"),
            row(0, sample_index=1, key="a"),
            row(10, status=STATUS_FAILED, key="b"),  # failed requests cost nothing
        ]
    )
    cost = analysis.cost_so_far(runs)
    assert list(cost["images"]) == [2, 1]
    assert list(cost["cumulative_cost"]) == pytest.approx([0.04, 0.09])
    assert list(cost["sweep_id"]) == ["s1", "s2"]


def test_cost_by_sweep_counts_images_failures_and_cost_per_run():
    runs = frame(
        [
            row(0, key="a"),
            row(5, status=STATUS_FAILED, key="b"),
            row(100, key="c", sweep_id="s2", cost=0.1),
        ]
    )
    table = analysis.cost_by_sweep(runs)
    assert list(table["sweep_id"]) == ["s1", "s2"]
    assert list(table["images"]) == [1, 1]
    assert list(table["failed"]) == [1, 0]
    assert list(table["cost"]) == pytest.approx([0.02, 0.1])
