"""matplotlib figures of the catalogue and the scores, for the notebooks and reports. Each takes
a table from `workbench.analysis` (or the scoring board) and returns a `Figure` with a title,
axis labels with units and a legend; nothing is drawn through pyplot's global state.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

COST_UNIT = "currency of price_per_image"


def _time_axis(axis) -> None:
    locator = AutoDateLocator()
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def _empty(figure: Figure, axis, message: str) -> Figure:
    axis.text(0.5, 0.5, message, ha="center", va="center", transform=axis.transAxes)
    axis.set_xticks([])
    axis.set_yticks([])
    return figure


def failures_and_latency(over_time: pd.DataFrame) -> Figure:
    """Failure rate (top) and request latency (bottom) per time bin, from
    `analysis.requests_over_time`."""
    figure = Figure(figsize=(9, 6), layout="constrained")
    rate_axis, latency_axis = figure.subplots(2, 1, sharex=True)
    figure.suptitle("Requests over time: failures after retries, and latency")
    if over_time.empty:
        _empty(figure, latency_axis, "no requests in the catalogue yet")
        return _empty(figure, rate_axis, "no requests in the catalogue yet")
    times = over_time.index.tz_convert("UTC").tz_localize(None)
    every = over_time.attrs.get("every", "1min")
    width = pd.Timedelta(every) * 0.8
    rate_axis.bar(
        times, over_time["failure_rate"], width=width, align="edge", label="failed requests"
    )
    rate_axis.yaxis.set_major_formatter(PercentFormatter(1.0))
    rate_axis.set_ylabel("failure rate (% of requests)")
    rate_axis.set_ylim(0, max(0.05, float(over_time["failure_rate"].max()) * 1.2))
    rate_axis.set_title(f"{int(over_time['requests'].sum())} requests, in bins of {every}")
    rate_axis.legend(loc="upper right")
    centres = times + pd.Timedelta(every) / 2
    latency_axis.plot(centres, over_time["latency_p50_ms"] / 1000, marker="o", label="median")
    latency_axis.plot(
        centres,
        over_time["latency_p90_ms"] / 1000,
        marker="^",
        linestyle="--",
        label="90th percentile",
    )
    latency_axis.set_ylabel("latency per request (s, retries incl.)")
    latency_axis.set_xlabel("time (UTC)")
    latency_axis.set_ylim(bottom=0)
    latency_axis.legend(loc="upper right")
    _time_axis(latency_axis)
    return figure


def cost_so_far(cost: pd.DataFrame) -> Figure:
    """Running total of spending over time, one colour per sweep run, from
    `analysis.cost_so_far`."""
    figure = Figure(figsize=(9, 4), layout="constrained")
    axis = figure.subplots()
    if cost.empty:
        axis.set_title("Cost so far")
        return _empty(figure, axis, "no images in the catalogue yet")
    total = float(cost["cumulative_cost"].iloc[-1])
    axis.set_title(f"Cost so far: {total:.2f} ({int(cost['images'].sum())} images)")
    times = pd.to_datetime(cost["created_at"], utc=True).dt.tz_localize(None)
    axis.step(times, cost["cumulative_cost"], where="post", color="0.3", label="running total")
    for sweep_id, rows in cost.groupby("sweep_id", sort=False):
        axis.scatter(times[rows.index], rows["cumulative_cost"], s=8, label=f"sweep {sweep_id}")
    axis.set_xlabel("time (UTC)")
    axis.set_ylabel(f"cumulative cost ({COST_UNIT})")
    axis.set_ylim(bottom=0)
    axis.legend(loc="upper left", fontsize="small")
    _time_axis(axis)
    return figure
