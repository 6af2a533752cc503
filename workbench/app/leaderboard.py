"""Leaderboard tab: the scored candidates (sortable, filterable, uncertain ones flagged), a plot
of consistency against identity (one point per candidate, coloured by its worst face), the
chosen candidate's consistency per panel group, and one click to its grid or to a template.
"""

from __future__ import annotations

import math

import gradio as gr
import pandas as pd

from workbench.app.context import AppContext, Loader, signed_in_user
from workbench.app.errors import shown
from workbench.layout import DataLayout
from workbench.scoring.candidates import Candidate, candidate_score
from workbench.scoring.leaderboard import SORTS, leaderboard
from workbench.templates import TemplateLibrary, template_from_catalogue
from workbench.templates.library import scores_of

ALL = "(all prompts)"
SHOWN = [
    "rank",
    "prompt",
    "seed",
    "identity_scale",
    "size",
    "faces",
    "consistency",
    "ci",
    "worst_face",
    "worst_face_consistency",
    "identity",
    "rating",
    "winners",
    "failures",
    "flag",
]


def board(
    layout: DataLayout,
    sort: str = "consistency",
    prompt: str | None = None,
    sure_only: bool = False,
) -> pd.DataFrame:
    """The leaderboard, optionally one prompt's candidates and only the certain ones."""
    frame = leaderboard(layout, sort=sort)
    if prompt and prompt != ALL:
        frame = frame[frame["prompt"] == prompt]
    if sure_only:
        frame = frame[~frame["uncertain"].astype(bool)]
    return frame.reset_index(drop=True)


def board_view(frame: pd.DataFrame) -> pd.DataFrame:
    """What the table shows: rounded scores, the interval, an 'uncertain' flag."""
    view = frame.copy()
    view.insert(0, "rank", range(1, len(view) + 1))
    view["size"] = view["width"].astype(str) + "x" + view["height"].astype(str)
    view["ci"] = [_interval(lo, hi) for lo, hi in zip(view["ci_low"], view["ci_high"], strict=True)]
    view["flag"] = [
        f"uncertain: {needed} more face(s)" if unsure else ""
        for unsure, needed in zip(view["uncertain"], view["faces_needed"], strict=True)
    ]
    for column in ("consistency", "worst_face_consistency", "identity", "rating"):
        view[column] = view[column].astype(float).round(3)
    return view[SHOWN]


def scatter_points(frame: pd.DataFrame) -> pd.DataFrame:
    """One point per scored candidate: identity (x), consistency (y), worst face (colour)."""
    points = frame.dropna(subset=["consistency", "identity"]).copy()
    points["worst_face"] = points["worst_face"].fillna("(none)").astype(str)
    points["candidate"] = [
        f"{p[:40]} · seed {s} · id {i:g}"
        for p, s, i in zip(points["prompt"], points["seed"], points["identity_scale"], strict=True)
    ]
    return points[["identity", "consistency", "worst_face", "candidate"]]


def candidate_at(frame: pd.DataFrame, index: int) -> Candidate:
    return Candidate.from_row(frame.iloc[index])


def group_bars(layout: DataLayout, candidate: Candidate) -> tuple[pd.DataFrame, str]:
    """The candidate's consistency per panel group, and its one-paragraph explanation."""
    score = candidate_score(layout, candidate)
    groups = score.per_group.dropna(subset=["consistency"]).copy()
    groups["group"] = groups["attribute"].astype(str) + ": " + groups["group"].astype(str)
    text = f"**{candidate.label()}**  \n{score.explanation}"
    return groups[["group", "consistency", "attribute", "faces"]], text


def save_candidate(layout: DataLayout, row: pd.Series, name: str, *, by: str) -> str:
    """The leaderboard row as a candidate template, its scores and evidence attached."""
    candidate = Candidate.from_row(row)
    template = template_from_catalogue(
        layout,
        name=name.strip(),
        prompt=candidate.prompt,
        seed=candidate.seed,
        identity_scale=candidate.identity_scale,
        width=candidate.width,
        height=candidate.height,
        saved_by=by,
        source="leaderboard",
        scores=scores_of(row.to_dict()),
    )
    TemplateLibrary(layout).save(template)
    return f"saved {template.name} (candidate) from the leaderboard"


def _interval(low: float, high: float) -> str:
    if any(isinstance(v, float) and math.isnan(v) for v in (low, high)):
        return ""
    return f"{low:.2f}–{high:.2f}"


def build(ctx: AppContext, tabs: gr.Tabs, review_pickers: list) -> Loader:
    layout = ctx.layout
    with gr.Tab("Leaderboard", id="leaderboard") as tab:
        with gr.Row():
            prompt = gr.Dropdown(label="Prompt", allow_custom_value=True, scale=3)
            sort = gr.Dropdown(list(SORTS), value="consistency", label="Sort by")
            sure_only = gr.Checkbox(label="Hide uncertain candidates")
        table = gr.Dataframe(interactive=False, elem_id="leaderboard-table", max_height=420)
        with gr.Row():
            plot = gr.ScatterPlot(
                x="identity",
                y="consistency",
                color="worst_face",
                tooltip=["candidate", "worst_face"],
                title="Consistency against identity, one point per candidate",
                color_title="worst face",
                elem_id="leaderboard-plot",
            )
            bars = gr.BarPlot(
                x="group",
                y="consistency",
                color="attribute",
                title="The chosen candidate, per panel group",
                x_label_angle=-30,
                elem_id="leaderboard-groups",
            )
        explanation = gr.Markdown(elem_id="leaderboard-explanation")
        with gr.Row():
            open_button = gr.Button("Open its grid", elem_id="leaderboard-open")
            name = gr.Textbox(label="Template name", elem_id="leaderboard-template-name")
            save_button = gr.Button("Save as template", elem_id="leaderboard-save")
        saved = gr.Markdown(elem_id="leaderboard-saved")
        frame_state = gr.State(None)
        row_state = gr.State(None)

    def show(current_prompt, current_sort, sure):
        frame = board(layout, current_sort, current_prompt, sure)
        return frame, board_view(frame), scatter_points(frame)

    def load(current_prompt, current_sort, sure):
        prompts = [ALL, *sorted(leaderboard(layout)["prompt"].unique())]
        pick = current_prompt if current_prompt in prompts else ALL
        return (gr.update(choices=prompts, value=pick), *show(pick, current_sort, sure))

    def choose(frame: pd.DataFrame | None, evt: gr.SelectData):
        if frame is None or evt.index is None:
            return None, None, ""
        row_index = evt.index[0] if isinstance(evt.index, list | tuple) else evt.index
        row = frame.iloc[row_index]
        groups, text = group_bars(layout, Candidate.from_row(row))
        return row, groups, text

    def open_grid(row: pd.Series | None):
        if row is None:
            raise gr.Error("choose a row first", print_exception=False)
        size = f"{int(row['width'])}x{int(row['height'])}"
        return gr.Tabs(selected="review"), row["prompt"], float(row["identity_scale"]), size

    def save(row: pd.Series | None, template_name: str, request: gr.Request):
        if row is None:
            raise gr.Error("choose a row first", print_exception=False)
        return save_candidate(layout, row, template_name, by=signed_in_user(request))

    controls = [prompt, sort, sure_only]
    gr.on(
        [c.change for c in controls],
        shown(show),
        controls,
        [frame_state, table, plot],
        api_name="leaderboard",
    )
    table.select(shown(choose), frame_state, [row_state, bars, explanation])
    open_button.click(shown(open_grid), row_state, [tabs, *review_pickers])
    save_button.click(shown(save), [row_state, name], saved, api_name="save_leaderboard_template")
    outputs = [prompt, frame_state, table, plot]
    tab.select(shown(load), controls, outputs)
    return Loader(load, outputs, controls)
