"""Figures: each has a title, labelled axes with units and a legend, and copes with an empty
catalogue."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from test_analysis import frame, row

from workbench import analysis, figures
from workbench.catalogue import STATUS_FAILED


def runs():
    return frame(
        [
            row(0, key="a"),
            row(40, status=STATUS_FAILED, key="b", latency_ms=9000),
            row(90, key="c", sweep_id="s2"),
        ]
    )


def labelled(figure: Figure) -> list[str]:
    """Every axis's title, labels and legend entries, checked present on the axes with data."""
    texts = [figure._suptitle.get_text()] if figure._suptitle else []
    for axis in figure.axes:
        texts += [axis.get_title(), axis.get_xlabel(), axis.get_ylabel()]
        legend = axis.get_legend()
        if legend is not None:
            texts += [text.get_text() for text in legend.get_texts()]
    return [text for text in texts if text]


def test_failures_and_latency_figure_is_readable():
    figure = figures.failures_and_latency(analysis.requests_over_time(runs()))
    rate_axis, latency_axis = figure.axes
    assert "%" in rate_axis.get_ylabel()
    assert "(s" in latency_axis.get_ylabel()
    assert "UTC" in latency_axis.get_xlabel()
    assert rate_axis.get_legend() and latency_axis.get_legend()
    assert "3 requests, 1 failed" in rate_axis.get_title()
    assert any("Requests over time" in text for text in labelled(figure))


def test_cost_figure_shows_the_total_and_each_sweep():
    figure = figures.cost_so_far(analysis.cost_so_far(runs()))
    (axis,) = figure.axes
    assert "0.04" in axis.get_title()
    assert "cost" in axis.get_ylabel() and "price_per_image" in axis.get_ylabel()
    legend = [text.get_text() for text in axis.get_legend().get_texts()]
    assert "sweep s1" in legend and "sweep s2" in legend


def test_an_empty_catalogue_says_so_instead_of_failing():
    empty = frame([])
    for figure in (
        figures.failures_and_latency(analysis.requests_over_time(empty)),
        figures.cost_so_far(analysis.cost_so_far(empty)),
    ):
        texts = [t.get_text() for axis in figure.axes for t in axis.texts]
        assert any("no " in text for text in texts)


def test_score_figures_are_readable():
    from test_analysis import board_rows

    board = board_rows({("studio", 1, 0.6): 0.7, ("noir", 2, 0.6): 0.5, ("studio", 1, 0.9): 0.9})
    heatmap = figures.worst_face_heatmap(board)
    assert "Worst-face consistency" in heatmap._suptitle.get_text()
    assert heatmap.axes[0].get_xlabel() == "seed" and heatmap.axes[0].get_ylabel() == "prompt"
    assert "0-1" in heatmap.axes[-1].get_ylabel()  # the colour bar says what colour means

    top = figures.top_candidates(board)
    assert "confidence interval" in top._suptitle.get_text()
    assert "0-1" in top.axes[0].get_xlabel()
    assert len(top.legends) == 1

    per_image = pd.DataFrame(
        {
            "identity_scale": [0.6, 0.6, 0.9],
            "face_id": ["ann", "bob", "ann"],
            "identity": [0.7, 0.0, 0.9],
            "face_found": [True, False, True],
        }
    )
    identity = figures.identity_against_scale(per_image)
    (axis,) = identity.axes
    assert "identityScale" in axis.get_xlabel() and "0-1" in axis.get_ylabel()
    entries = [text.get_text() for text in axis.get_legend().get_texts()]
    assert "mean per scale" in entries and any("no face" in entry for entry in entries)

    groups = pd.DataFrame(
        {
            "candidate": ["A", "A", "B", "B"],
            "attribute": ["monk_skin_tone", "age_band", "monk_skin_tone", "age_band"],
            "group": ["deeper (8-10)", "30-44", "deeper (8-10)", "30-44"],
            "faces": [2, 1, 2, 1],
            "consistency": [0.8, 0.9, 0.7, 0.85],
            "identity": [0.8, 0.8, 0.8, 0.8],
        }
    )
    per_group = figures.consistency_per_group(groups)
    assert [axis.get_title() for axis in per_group.axes] == ["Monk skin-tone group", "age band"]
    assert "(1 face)" in [t.get_text() for t in per_group.axes[1].get_xticklabels()][0]
    assert [t.get_text() for t in per_group.legends[0].get_texts()] == ["A", "B"]


def test_score_figures_cope_with_nothing_scored():
    empty_board = pd.DataFrame(columns=["prompt", "seed", "identity_scale", "width", "height"])
    for figure in (
        figures.worst_face_heatmap(empty_board),
        figures.top_candidates(empty_board),
        figures.identity_against_scale(pd.DataFrame()),
        figures.consistency_per_group(pd.DataFrame()),
    ):
        texts = [t.get_text() for axis in figure.axes for t in axis.texts]
        assert any("no " in text for text in texts)
