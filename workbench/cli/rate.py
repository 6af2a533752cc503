"""`workbench rate IMAGE_HASH 1-5 [--winner] [--by NAME]`: a human judgement, kept beside the
scores; each rater's latest rating of an image wins."""

from __future__ import annotations

import getpass

import click

from workbench.errors import InputError
from workbench.layout import DataLayout


@click.command("rate")
@click.argument("image_hash")
@click.argument("stars", type=click.IntRange(1, 5))
@click.option("--winner", is_flag=True, help="Also mark the image as a winner.")
@click.option("--by", "rater", help="Who is rating (default: your login name).")
@click.pass_obj
def command(
    layout: DataLayout, image_hash: str, stars: int, winner: bool, rater: str | None
) -> None:
    """Rate a generated image from 1 to 5 stars (IMAGE_HASH, or a unique prefix of it)."""
    from workbench.scoring.ratings import RatingStore, resolve_image_hash  # loads scikit-image

    full = resolve_image_hash(layout, image_hash)
    rating = RatingStore(layout).rate(full, stars, winner=winner, by=rater or _login())
    mark = " and marked it a winner" if rating.winner else ""
    click.echo(f"{rating.rater} rated {full[:12]} {rating.stars}/5{mark}")


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        raise InputError("cannot tell who you are; name the rater with --by NAME") from None
