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
    safe_promotions,
)
from workbench.hunt.spec import CANDIDATE_COLUMNS, METRIC_COLUMNS, HuntSpec

__all__ = [
    "CANDIDATE_COLUMNS",
    "Hunt",
    "HuntPlan",
    "HuntProgress",
    "HuntResult",
    "RoundReport",
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
    "safe_promotions",
]

_RUN = ("Hunt", "HuntPlan", "HuntProgress", "HuntResult", "RoundReport")


def __getattr__(name: str):
    # Running a hunt pulls in the engine and the scoring (dlib); planning one does not.
    if name in _RUN:
        from workbench.hunt import run

        return getattr(run, name)
    raise AttributeError(name)
