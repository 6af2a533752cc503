"""`workbench leaderboard [--top N] [--sort ...] [--csv FILE] [--json]`: every candidate (prompt,
seed, identity scale, size) ranked by how well its style holds across the panel."""

from __future__ import annotations

import math
from pathlib import Path

import click
import pandas as pd

from workbench.layout import DataLayout

PROMPT_CHARS = 40
# workbench.scoring.leaderboard.SORTS, spelled out so that `workbench --help` does not load the
# scoring stack (scikit-image, dlib); a test checks the two agree.
SORT_CHOICES = ("consistency", "worst", "identity", "rating")


@click.command("leaderboard")
@click.option("--top", type=click.IntRange(min=1), help="Only the best N candidates.")
@click.option(
    "--sort",
    type=click.Choice(SORT_CHOICES),
    default="consistency",
    show_default=True,
    help="worst: by the worst face's consistency (a style is only as good as its worst face).",
)
@click.option("--face", "faces", multiple=True, help="Score on these face ids only (repeatable).")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False), help="Write every column here.")
@click.option("--json", "as_json", is_flag=True, help="Print every column as JSON records.")
@click.pass_obj
def command(
    layout: DataLayout,
    top: int | None,
    sort: str,
    faces: tuple[str, ...],
    csv_path: str | None,
    as_json: bool,
) -> None:
    """Rank candidates: style consistency across faces, worst face, identity, ratings."""
    from workbench.scoring.leaderboard import leaderboard

    board = leaderboard(layout, top=top, sort=sort, faces=list(faces) or None)
    if csv_path:
        board.to_csv(csv_path, index=False)
        click.echo(f"wrote {len(board)} candidates to {Path(csv_path)}", err=as_json)
    if as_json:
        click.echo(board.to_json(orient="records", indent=2))
        return
    if board.empty:
        click.echo("no candidates yet: run a sweep, then `workbench score`")
        return
    click.echo(format_board(board))
    if board["unscored"].sum():
        click.echo(f"{int(board['unscored'].sum())} image(s) not scored yet: run `workbench score`")


def format_board(board: pd.DataFrame) -> str:
    """The leaderboard as a terminal table (the DataFrame keeps every column)."""
    shown = pd.DataFrame(
        {
            "#": range(1, len(board) + 1),
            "prompt": [_short(p) for p in board["prompt"]],
            "seed": board["seed"],
            "id.scale": board["identity_scale"],
            "size": [f"{w}x{h}" for w, h in zip(board["width"], board["height"], strict=True)],
            "faces": board["faces"],
            "consistency": [_interval(r) for r in board.itertuples()],
            "worst face": [_worst(r) for r in board.itertuples()],
            "identity": board["identity"].map(_number),
            "rating": [_rating(r) for r in board.itertuples()],
            "failed": board["failures"],
            "trust": [
                f"uncertain: +{r.faces_needed} faces" if r.uncertain else "ok"
                for r in board.itertuples()
            ],
        }
    )
    lines = [shown.to_string(index=False)]
    for rank, row in enumerate(board.itertuples(), 1):
        if row.explanation:
            group = f"; weakest group: {row.worst_group}" if row.worst_group else ""
            lines.append(f"  #{rank}: {row.explanation}{group}")
    return "\n".join(lines)


def _short(prompt: str) -> str:
    return prompt if len(prompt) <= PROMPT_CHARS else prompt[: PROMPT_CHARS - 1] + "…"


def _number(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.3f}"


def _interval(row) -> str:
    if math.isnan(row.consistency):
        return "-"
    return f"{row.consistency:.3f} [{row.ci_low:.3f}-{row.ci_high:.3f}]"


def _worst(row) -> str:
    if row.worst_face is None or (isinstance(row.worst_face, float) and math.isnan(row.worst_face)):
        return "-"
    return f"{row.worst_face} {row.worst_face_consistency:.3f}"


def _rating(row) -> str:
    stars = "-" if math.isnan(row.rating) else f"{row.rating:.1f}"
    return f"{stars} ({row.winners} won)" if row.winners else stars
