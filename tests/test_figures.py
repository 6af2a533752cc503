"""Figures: each has a title, labelled axes with units and a legend, and copes with an empty
catalogue."""

from __future__ import annotations

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
    assert "3 requests" in rate_axis.get_title()
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
