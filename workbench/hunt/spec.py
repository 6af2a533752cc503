"""What a hunt asks for: a pool of candidates written exactly like a sweep (prompts x seeds x
identity scales x sizes, same TOML and seed syntax), plus how many winners to find, the budget,
and the ranking rules. Pure: reading the TOML file is the only I/O.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import Field, ValidationInfo, field_validator

from workbench.contract import SEED_RANDOM
from workbench.scoring.candidates import CANDIDATE_COLUMNS
from workbench.scoring.leaderboard import SORTS
from workbench.sweep import Sweep, expand_seeds

# The leaderboard column each ranking metric ranks by (higher is better for both).
METRIC_COLUMNS = {metric: SORTS[metric][0] for metric in ("worst", "consistency")}
DEFAULT_BUDGET_FRACTION = 0.25

Metric = Literal["worst", "consistency"]


class HuntSpec(Sweep):
    """A hunt, from a TOML file (`HuntSpec.load`) or built in Python (`HuntSpec.build`).

    Every sweep field means what it means in a sweep, except `max_images`, which is the budget
    of the whole hunt (all rounds), and `faces`, the panel the winners must hold on.
    """

    top: int = Field(5, ge=1, le=100, description="How many winners to find.")
    max_images: int | None = Field(
        None, ge=0, description="Budget: images the whole hunt may use, all rounds together."
    )
    max_cost: float | None = Field(
        None, gt=0.0, description="Budget in money (needs price_per_image); the lower one wins."
    )
    budget_fraction: float = Field(
        DEFAULT_BUDGET_FRACTION,
        gt=0.0,
        le=1.0,
        description="Without max_images or max_cost: this share of the exhaustive sweep's images.",
    )
    metric: Metric = Field("worst", description='Rank by "worst" face or mean "consistency".')
    min_identity: float | None = Field(
        None, ge=0.0, le=1.0, description="Drop candidates whose identity falls below this."
    )
    first_faces: int = Field(2, ge=2, description="Faces every candidate starts on (>= 2).")

    @field_validator("metric", mode="before")
    @classmethod
    def _metric_known(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in METRIC_COLUMNS:
            raise ValueError(f"{value!r} is not a metric; use one of {', '.join(METRIC_COLUMNS)}")
        return value

    @field_validator("seeds")
    @classmethod
    def _seeds_reproducible(cls, value: list) -> list:
        if SEED_RANDOM in expand_seeds(value, generator_seed=0):
            raise ValueError(
                "-1 asks for a new random style on every request, so it cannot be hunted; "
                'use "random:N" for N reproducible random seeds'
            )
        return value

    @field_validator("max_cost")
    @classmethod
    def _cost_needs_price(cls, value: float | None, info: ValidationInfo) -> float | None:
        if value is not None and info.data.get("price_per_image", 0.0) <= 0:
            raise ValueError("needs price_per_image > 0 to turn money into images")
        return value

    def model_post_init(self, __context: Any) -> None:
        # A resumed hunt must draw the same random seeds, so the generator comes from the spec
        # itself rather than from `secrets` (as a sweep's does) when the user leaves it out.
        if self.seed_generator is None:
            text = json.dumps([self.name, self.prompts, self.seeds], ensure_ascii=False)
            digest = hashlib.sha256(text.encode("utf-8")).digest()
            object.__setattr__(self, "seed_generator", int.from_bytes(digest[:4], "big") >> 1)

    @classmethod
    def load(cls, path: str | Path) -> HuntSpec:  # narrows the return type only
        spec = super().load(path)
        assert isinstance(spec, HuntSpec)
        return spec

    def candidates(self) -> pd.DataFrame:
        """The pool, one row per candidate, in sweep order (prompt, seed, scale, size)."""
        rows = [
            (prompt, seed, scale, width, height)
            for prompt in dict.fromkeys(self.prompts)
            for seed in self.seed_values()
            for scale in dict.fromkeys(self.identity_scales)
            for width, height in dict.fromkeys(self.size_values())
        ]
        return pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))

    def pool_size(self) -> int:
        return (
            len(dict.fromkeys(self.prompts))
            * len(self.seed_values())
            * len(dict.fromkeys(self.identity_scales))
            * len(dict.fromkeys(self.size_values()))
        )

    def budget_images(
        self, panel_faces: int, *, max_images: int | None = None, least: int = 0
    ) -> int:
        """The images this hunt may use: `max_images` (the CLI's, then the file's), capped by
        `max_cost`; else `budget_fraction` of the exhaustive sweep over `panel_faces` faces,
        but at least `least` (what the smallest hunt needs: a default never refuses a hunt)."""
        limits = []
        chosen = max_images if max_images is not None else self.max_images
        if chosen is not None:
            limits.append(chosen)
        if self.max_cost is not None:
            # A hair of slack so that 12.00 / 0.02 is 600 images, not 599.
            limits.append(math.floor(self.max_cost / self.price_per_image + 1e-9))
        if limits:
            return min(limits)
        exhaustive = self.pool_size() * panel_faces * self.sample_number
        return max(least, math.floor(exhaustive * self.budget_fraction))
