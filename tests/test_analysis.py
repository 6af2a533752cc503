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


# --- Score tables ---------------------------------------------------------------------------


def board_rows(values: dict[tuple[str, int, float], float]) -> pd.DataFrame:
    """A leaderboard-shaped frame: one candidate per (prompt, seed, identity scale)."""
    return pd.DataFrame(
        [
            {
                "prompt": prompt,
                "seed": seed,
                "identity_scale": scale,
                "width": 768,
                "height": 1024,
                "worst_face_consistency": value,
                "consistency": value + 0.05,
                "ci_low": value,
                "ci_high": value + 0.1,
                "uncertain": False,
            }
            for (prompt, seed, scale), value in values.items()
        ]
    )


def test_heatmap_tables_put_prompts_down_and_seeds_across_per_scale():
    board = board_rows(
        {
            ("studio", 1, 0.6): 0.7,
            ("studio", 2, 0.6): 0.8,
            ("noir", 1, 0.6): 0.5,
            ("studio", 1, 0.9): 0.9,
        }
    )
    tables = analysis.heatmap_tables(board)
    assert set(tables) == {(0.6, 768, 1024), (0.9, 768, 1024)}
    low = tables[(0.6, 768, 1024)]
    assert list(low.columns) == [1, 2]
    assert low.loc["studio", 2] == pytest.approx(0.8)
    assert pd.isna(low.loc["noir", 2])  # never tried: shown as a gap, not a zero
    assert tables[(0.9, 768, 1024)].loc["studio", 1] == pytest.approx(0.9)


def test_identity_by_scale_counts_a_lost_face_as_zero_and_skips_unscored_images():
    images = pd.DataFrame(
        {
            "identity_scale": [0.6, 0.6, 0.9, 0.9],
            "face_id": ["ann", "bob", "ann", "bob"],
            "identity": [0.7, None, 0.9, None],
            "face_found": pd.array([True, False, True, pd.NA], dtype="boolean"),
        }
    )
    table = analysis.identity_by_scale(images)
    assert list(table["identity"]) == pytest.approx([0.7, 0.0, 0.9])
    assert list(table["face_found"]) == [True, False, True]


def test_candidate_label_is_short_and_names_the_whole_candidate():
    label = analysis.candidate_label(
        {
            "prompt": "a very long prompt about a studio headshot with soft window light",
            "seed": 42,
            "identity_scale": 0.8,
            "width": 768,
            "height": 1024,
        }
    )
    assert label.startswith("a very long prompt")
    assert "…" in label and "seed 42" in label and "id 0.8" in label and "768x1024" in label


def test_drift_table_has_a_row_per_template_and_face_with_what_moved_most():
    from workbench.templates import DriftReport, FaceDrift, TemplateDrift

    report = DriftReport(
        templates=[
            TemplateDrift(
                "navy",
                [
                    FaceDrift(
                        "ann",
                        "drifted",
                        style_similarity=0.7,
                        identity_before=0.8,
                        identity_after=0.75,
                        per_dimension={"backdrop_colour": 0.4, "grain": 0.95},
                    ),
                    FaceDrift("bob", "failed", reason="server error"),
                ],
            )
        ],
        style_threshold=0.1,
        identity_threshold=0.1,
        sweep_id="drift-check-1",
        summary=None,
    )
    table = analysis.drift_table(report)
    assert list(table.columns) == analysis.DRIFT_COLUMNS
    ann, bob = table.to_dict("records")
    assert ann["status"] == "drifted" and ann["style_drift"] == pytest.approx(0.3)
    assert ann["identity_change"] == pytest.approx(-0.05)
    assert ann["most_changed"] == "backdrop_colour"
    assert bob["status"] == "failed" and bob["reason"] == "server error"
