"""matplotlib figures of the catalogue and the scores, for the notebooks and reports. Each takes
a table from `workbench.analysis` (or the scoring board) and returns a `Figure` with a title,
axis labels with units and a legend; nothing is drawn through pyplot's global state.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from workbench.analysis import candidate_label, heatmap_tables

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
    rate_axis.set_title(
        f"{int(over_time['requests'].sum())} requests, {int(over_time['failed'].sum())} failed,"
        f" in bins of {every}"
    )
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


CONSISTENCY_UNIT = "0-1"
IDENTITY_UNIT = "0-1"


def worst_face_heatmap(board: pd.DataFrame) -> Figure:
    """Worst-face consistency per prompt (rows) and seed (columns), one panel per identity scale
    and size, from the leaderboard: the face a style holds least on decides whether it ships."""
    tables = heatmap_tables(board)
    panels = max(1, len(tables))
    rows = max((len(t.index) for t in tables.values()), default=1)
    figure = Figure(figsize=(4.5 * panels + 3, 1.0 + 0.55 * rows + 1.5), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    figure.suptitle(
        "Worst-face consistency per prompt and seed (1 = the style is the same on every face)"
    )
    if not tables:
        return _empty(figure, axes[0], "no scored candidates yet")
    values = [t.to_numpy(dtype=float) for t in tables.values()]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    image = None
    for axis, ((scale, width, height), table) in zip(axes, tables.items(), strict=True):
        data = table.to_numpy(dtype=float)
        image = axis.imshow(
            np.ma.masked_invalid(data), cmap="viridis", vmin=low, vmax=high, aspect="auto"
        )
        axis.set_title(f"identity scale {scale:g}, {width}x{height}")
        axis.set_xticks(range(len(table.columns)), [str(seed) for seed in table.columns])
        axis.set_xlabel("seed")
        prompts = [_short(str(prompt)) for prompt in table.index]
        axis.set_yticks(range(len(prompts)), prompts if axis is axes[0] else [""] * len(prompts))
        for (i, j), value in np.ndenumerate(data):
            text = "n/a" if np.isnan(value) else f"{value:.2f}"
            shade = "white" if np.isnan(value) or value < (low + high) / 2 else "black"
            axis.text(j, i, text, ha="center", va="center", color=shade, fontsize="small")
    axes[0].set_ylabel("prompt")
    colour = figure.colorbar(image, ax=list(axes), shrink=0.9)
    colour.set_label(f"worst-face consistency ({CONSISTENCY_UNIT})")
    return figure


def identity_against_scale(per_image: pd.DataFrame) -> Figure:
    """Identity score of every image against the identityScale asked for (points, jittered
    sideways), with the mean per scale, from `analysis.identity_by_scale`."""
    figure = Figure(figsize=(8, 4.5), layout="constrained")
    axis = figure.subplots()
    axis.set_title("Identity kept against identityScale (1 = the same person)")
    if per_image.empty:
        return _empty(figure, axis, "no scored images yet")
    scales = np.sort(per_image["identity_scale"].unique())
    step = float(np.min(np.diff(scales))) if len(scales) > 1 else 0.2
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(per_image)) * step
    lost = ~per_image["face_found"].astype(bool)
    x = per_image["identity_scale"].to_numpy(float) + jitter
    axis.scatter(x[~lost], per_image["identity"][~lost], s=14, alpha=0.5, label="one image")
    if lost.any():
        axis.scatter(
            x[lost], per_image["identity"][lost], s=18, marker="x", color="C3",
            label="no face found (scores 0)",
        )  # fmt: skip
    means = per_image.groupby("identity_scale")["identity"].mean()
    axis.plot(means.index, means.to_numpy(), color="black", marker="D", label="mean per scale")
    axis.set_xticks(scales, [f"{s:g}" for s in scales])
    axis.set_xlabel("identityScale asked for (0-1)")
    axis.set_ylabel(f"identity similarity to the reference ({IDENTITY_UNIT})")
    axis.set_ylim(-0.03, 1.03)
    axis.legend(loc="lower right")
    return figure


def consistency_per_group(groups: pd.DataFrame) -> Figure:
    """Consistency per panel group for a few candidates, one panel per attribute (skin-tone
    group, age band, ...), from `analysis.consistency_by_group`: does a style hold on everyone?"""
    attributes = list(dict.fromkeys(groups["attribute"])) if not groups.empty else []
    figure = Figure(figsize=(6 * max(1, len(attributes)), 4.8), layout="constrained")
    axes = figure.subplots(1, max(1, len(attributes)), squeeze=False)[0]
    figure.suptitle("Consistency per panel group (each group's faces against all the others)")
    if not attributes:
        return _empty(figure, axes[0], "no scored candidates with panel attributes yet")
    candidates = list(dict.fromkeys(groups["candidate"]))
    width = 0.8 / len(candidates)
    for axis, attribute in zip(axes, attributes, strict=True):
        rows = groups[groups["attribute"] == attribute]
        labels = list(dict.fromkeys(rows["group"]))
        for number, candidate in enumerate(candidates):
            mine = rows[rows["candidate"] == candidate].set_index("group").reindex(labels)
            axis.bar(
                np.arange(len(labels)) + (number - (len(candidates) - 1) / 2) * width,
                mine["consistency"],
                width=width,
                label=candidate,
            )
        faces = rows.groupby("group", sort=False)["faces"].max().reindex(labels)
        counts = [f"{g}\n({int(n)} face{'' if n == 1 else 's'})" for g, n in faces.items()]
        axis.set_xticks(range(len(labels)), counts)
        axis.set_xlabel(_ATTRIBUTE_NAMES.get(attribute, attribute))
        axis.set_ylabel(f"consistency ({CONSISTENCY_UNIT})")
        low = float(np.nanmin(rows["consistency"])) if rows["consistency"].notna().any() else 0
        axis.set_ylim(max(0.0, low - 0.1), 1.0)
        axis.set_title(_ATTRIBUTE_NAMES.get(attribute, attribute))
    figure.legend(
        *axes[0].get_legend_handles_labels(), loc="outside lower center", fontsize="small"
    )
    return figure


def top_candidates(board: pd.DataFrame) -> Figure:
    """The leaderboard's candidates (best at the top) with their consistency, its 95% bootstrap
    interval over faces, and the worst face's consistency."""
    figure = Figure(figsize=(9, 1.2 + 0.45 * max(1, len(board))), layout="constrained")
    axis = figure.subplots()
    figure.suptitle("Top candidates: consistency, with its 95% confidence interval over faces")
    if board.empty:
        return _empty(figure, axis, "no scored candidates yet")
    y = np.arange(len(board))[::-1]
    mean = board["consistency"].to_numpy(float)
    error = np.vstack([mean - board["ci_low"].to_numpy(float), board["ci_high"] - mean])
    axis.errorbar(
        mean, y, xerr=np.nan_to_num(error), fmt="o", capsize=4, label="consistency, 95% CI"
    )
    axis.scatter(board["worst_face_consistency"], y, marker="v", color="C3", label="worst face")
    uncertain = board["uncertain"].astype(bool).to_numpy()
    labels = [
        analysis_label + ("  (uncertain: more faces needed)" if flag else "")
        for analysis_label, flag in zip(
            (candidate_label(row) for _, row in board.iterrows()), uncertain, strict=True
        )
    ]
    axis.set_yticks(y, labels, fontsize="small")
    axis.set_xlabel(f"consistency ({CONSISTENCY_UNIT})")
    figure.legend(*axis.get_legend_handles_labels(), loc="outside lower center", ncols=2)
    return figure


_ATTRIBUTE_NAMES = {
    "monk_skin_tone": "Monk skin-tone group",
    "age_band": "age band",
    "gender_presentation": "gender presentation",
}


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
