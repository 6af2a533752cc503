"""Catalogue analysis as tables: how requests went over time (failures, latency), what has been
spent, and how the scores spread (identity against identityScale, worst-face consistency per
prompt and seed, consistency per panel group). Pandas over the catalogue's rows and the scoring
board's tables, so the notebooks, the app and tests read the same numbers; `workbench.figures`
draws them.
"""

from __future__ import annotations

import pandas as pd

from workbench.catalogue import STATUS_FAILED, STATUS_OK
from workbench.scoring.candidates import Candidate, ScoredImages, candidate_score
from workbench.templates import DriftReport

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


# --- Scores ---------------------------------------------------------------------------------
# These read the scoring board's tables: `ScoredImages.images` (one row per generated image with
# its identity score) and the `leaderboard` (one row per candidate).

PROMPT_CHARS = 32
IDENTITY_COLUMNS = ["identity_scale", "face_id", "identity", "face_found"]


def candidate_label(candidate: pd.Series | dict, prompt_chars: int = PROMPT_CHARS) -> str:
    """A short name for a candidate (a leaderboard row): prompt, seed, identity scale, size."""
    prompt = str(candidate["prompt"])
    if len(prompt) > prompt_chars:
        prompt = prompt[: prompt_chars - 1].rstrip() + "…"
    return (
        f"{prompt} · seed {int(candidate['seed'])} · id {float(candidate['identity_scale']):g}"
        f" · {int(candidate['width'])}x{int(candidate['height'])}"
    )


def identity_by_scale(images: pd.DataFrame) -> pd.DataFrame:
    """Identity score of every scored image against the identityScale it was asked with. An
    output in which no face was found scores 0 (the person was lost); unscored images are left
    out."""
    if images.empty or "face_found" not in images:
        return pd.DataFrame(columns=IDENTITY_COLUMNS)
    scored = images[images["face_found"].notna()]
    found = scored["face_found"].astype(bool)
    identity = scored["identity"].where(found, 0.0).astype(float)
    table = scored.assign(identity=identity, face_found=found)[IDENTITY_COLUMNS]
    return table.sort_values(["identity_scale", "face_id"], kind="stable").reset_index(drop=True)


def heatmap_tables(
    board: pd.DataFrame, value: str = "worst_face_consistency"
) -> dict[tuple[float, int, int], pd.DataFrame]:
    """`value` as prompt (rows) x seed (columns) tables, one per identity scale and size, from
    the leaderboard. A candidate not scored (every cell failed) is NaN."""
    tables = {}
    for (scale, width, height), rows in board.groupby(
        ["identity_scale", "width", "height"], sort=True
    ):
        tables[(float(scale), int(width), int(height))] = rows.pivot_table(
            index="prompt", columns="seed", values=value, aggfunc="mean", dropna=False
        )
    return tables


GROUP_COLUMNS = ["candidate", "attribute", "group", "faces", "consistency", "identity"]


def consistency_by_group(
    scored: ScoredImages, board: pd.DataFrame, attributes: tuple[str, ...] | None = None
) -> pd.DataFrame:
    """For each candidate of `board` (e.g. the leaderboard's top rows): consistency and identity
    per panel group (Monk skin-tone group, age band, ...), long form, one row per candidate and
    group; `attributes` keeps only those."""
    frames = []
    for _, row in board.iterrows():
        score = candidate_score(scored, Candidate.from_row(row))
        groups = score.per_group
        if attributes is not None:
            groups = groups[groups["attribute"].isin(attributes)]
        frames.append(groups.assign(candidate=candidate_label(row)))
    if not frames:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    return pd.concat(frames, ignore_index=True)[GROUP_COLUMNS]


DRIFT_COLUMNS = [
    "template",
    "face_id",
    "status",
    "style_drift",
    "identity_change",
    "most_changed",
    "reason",
]


def drift_table(report: DriftReport) -> pd.DataFrame:
    """A drift check as a table: one row per template and face, with how far its style moved
    (0 = the same images), the change in identity, and the style dimension that moved most."""
    rows = []
    for template in report.templates:
        for face in template.faces:
            most_changed = (
                min(face.per_dimension.items(), key=lambda item: item[1])[0]
                if face.per_dimension
                else ""
            )
            rows.append(
                {
                    "template": template.name,
                    "face_id": face.face_id,
                    "status": face.status,
                    "style_drift": face.style_drift,
                    "identity_change": face.identity_change,
                    "most_changed": most_changed,
                    "reason": face.reason,
                }
            )
    return pd.DataFrame(rows, columns=DRIFT_COLUMNS)
