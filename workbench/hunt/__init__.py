"""Cost-aware hunting: find the candidates that hold for everyone at a fraction of an exhaustive
sweep, by successive halving over the panel's faces (docs/hunt.md)."""

from workbench.hunt.schedule import (
    BudgetTooSmall,
    Ranking,
    Round,
    Schedule,
    face_levels,
    face_order,
    minimum_budget,
    plan_schedule,
    promote,
    rank,
)
from workbench.hunt.spec import CANDIDATE_COLUMNS, METRIC_COLUMNS, HuntSpec

__all__ = [
    "CANDIDATE_COLUMNS",
    "METRIC_COLUMNS",
    "BudgetTooSmall",
    "HuntSpec",
    "Ranking",
    "Round",
    "Schedule",
    "face_levels",
    "face_order",
    "minimum_budget",
    "plan_schedule",
    "promote",
    "rank",
]
