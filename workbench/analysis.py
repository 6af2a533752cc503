"""Catalogue analysis as tables: how requests went over time (failures, latency) and what has been
spent. Pure pandas over the catalogue's rows (`Catalogue.runs()`), so the notebooks, the app and
tests read the same numbers; `workbench.figures` draws them.
"""

from __future__ import annotations

import pandas as pd

from workbench.catalogue import STATUS_FAILED, STATUS_OK

# Time bins tried for `requests_over_time`, finest first: the first giving at most MAX_BINS bins.
TIME_BINS = ("1s", "5s", "10s", "30s", "1min", "5min", "15min", "1h", "6h", "1D", "7D")
MAX_BINS = 60
OVER_TIME_COLUMNS = [
    "requests",
    "failed",
    "failure_rate",
    "latency_p50_ms",
    "latency_p90_ms",
]
COST_COLUMNS = ["created_at", "sweep_id", "images", "cost", "cumulative_cost"]


def requests_of(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per request: its failed row, or its first image's row (every image of a request
    carries the request's latency and attempts)."""
    first_image = (runs["status"] == STATUS_OK) & (runs["sample_index"].fillna(0) == 0)
    return runs[first_image | (runs["status"] == STATUS_FAILED)]


def time_bin(start: pd.Timestamp, end: pd.Timestamp, max_bins: int = MAX_BINS) -> str:
    """The finest of `TIME_BINS` that covers [start, end] in at most `max_bins` bins."""
    span = end - start
    for every in TIME_BINS:
        if span / pd.Timedelta(every) < max_bins:
            return every
    return TIME_BINS[-1]


def requests_over_time(runs: pd.DataFrame, every: str | None = None) -> pd.DataFrame:
    """Requests per time bin (UTC, indexed by the bin's start): how many, how many failed after
    their retries, the failure rate, and median and 90th-percentile latency (retries included).
    `every` is a pandas frequency ("1min"); by default the finest that gives at most 60 bins.
    Bins without requests are left out."""
    requests = requests_of(runs)
    if requests.empty:
        return pd.DataFrame(columns=OVER_TIME_COLUMNS, index=pd.DatetimeIndex([], tz="UTC"))
    created = pd.to_datetime(requests["created_at"], utc=True)
    every = every or time_bin(created.min(), created.max())
    grouped = requests.assign(
        created_at=created, failed=requests["status"] == STATUS_FAILED
    ).groupby(pd.Grouper(key="created_at", freq=every))
    table = pd.DataFrame(
        {
            "requests": grouped.size(),
            "failed": grouped["failed"].sum(),
            "latency_p50_ms": grouped["latency_ms"].median(),
            "latency_p90_ms": grouped["latency_ms"].quantile(0.9),
        }
    )
    table = table[table["requests"] > 0]
    table["failure_rate"] = table["failed"] / table["requests"]
    table = table[OVER_TIME_COLUMNS]
    table.index.name = "bin_start"
    table.attrs["every"] = every
    return table


def cost_so_far(runs: pd.DataFrame) -> pd.DataFrame:
    """Spending in time order, one row per request that stored images, with the running total.
    The catalogue's `cost` column is the sweep's `price_per_image` on every stored image."""
    images = runs[runs["status"] == STATUS_OK]
    if images.empty:
        return pd.DataFrame(columns=COST_COLUMNS)
    table = (
        images.assign(created_at=pd.to_datetime(images["created_at"], utc=True))
        .groupby(["created_at", "sweep_id"], as_index=False)
        .agg(images=("status", "size"), cost=("cost", "sum"))
        .sort_values("created_at", kind="stable")
    )
    table["cumulative_cost"] = table["cost"].cumsum()
    return table.reset_index(drop=True)[COST_COLUMNS]


def cost_by_sweep(runs: pd.DataFrame) -> pd.DataFrame:
    """Per sweep run, oldest first: when it started, images stored, requests that failed, cost."""
    if runs.empty:
        return pd.DataFrame(columns=["sweep_id", "started", "images", "failed", "cost"])
    rows = runs.assign(image=runs["status"] == STATUS_OK, failed=runs["status"] == STATUS_FAILED)
    table = rows.groupby("sweep_id", as_index=False).agg(
        started=("created_at", "min"),
        images=("image", "sum"),
        failed=("failed", "sum"),
        cost=("cost", "sum"),
    )
    return table.sort_values("started", kind="stable").reset_index(drop=True)
