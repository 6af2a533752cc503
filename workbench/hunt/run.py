"""Running a hunt through the sweep engine. By default the schedule runs asynchronously
(`workbench.hunt.asha`): one engine feed keeps the API busy, images are scored as they arrive,
and each candidate is promoted as soon as it is sure to make its round's cut. With
`schedule="rounds"` each round is ordinary sweeps (one per prompt, identity scale and size)
over the survivors and the round's faces, run by `SweepRun` (catalogue rows, dedupe, the budget
cap, resume), then scored by the scoring stage and cut.

Nothing is kept but catalogue rows and scores: the face order and the schedule are
deterministic, so running a stopped hunt again replays the decisions already bought from the
catalogue (dedupe sends nothing for them) and buys only what is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from workbench.hunt.asha import AsyncHunt
from workbench.hunt.schedule import (
    Ranking,
    Round,
    Schedule,
    face_order,
    minimum_budget,
    plan_schedule,
    promote,
)
from workbench.hunt.schedule import rank as rank_scores
from workbench.hunt.spec import CANDIDATE_COLUMNS, METRIC_COLUMNS, HuntSpec
from workbench.layout import DataLayout
from workbench.panel import Face, Panel
from workbench.run import Generates, Progress, SweepRun, SweepSummary
from workbench.scoring import face_descriptor
from workbench.scoring.leaderboard import leaderboard
from workbench.scoring.runner import score_catalogue
from workbench.sweep import Sweep

# How a hunt runs its schedule: "async" (workbench.hunt.asha) or "rounds" (a barrier per round).
SCHEDULES = ("async", "rounds")


@dataclass(frozen=True)
class HuntPlan:
    """What a hunt will do, worked out before spending: the pool, the faces in the order they
    are tried, and the schedule of rounds."""

    spec: HuntSpec
    candidates: pd.DataFrame
    faces: tuple[Face, ...]
    schedule: Schedule

    @property
    def estimated_cost(self) -> float:
        return self.schedule.images * self.spec.price_per_image

    @property
    def exhaustive_cost(self) -> float:
        return self.schedule.exhaustive_images * self.spec.price_per_image

    def round_faces(self, round_: Round) -> list[Face]:
        return list(self.faces[: round_.faces])


@dataclass
class HuntProgress:
    """What the callback gets: the round, the phase ("requests" then "scoring") and the sweep
    engine's counters summed over the round's sweeps. In the asynchronous schedule the counters
    are the whole hunt's, `round` the furthest round any candidate reached, and `scored` /
    `to_score` count images scored while the requests go on."""

    round: Round
    rounds: int
    phase: str
    requests_total: int = 0
    images_total: int = 0
    images_done: int = 0
    requests_failed: int = 0
    scored: int = 0  # images scored so far in the scoring phase
    to_score: int = 0


HuntProgressCallback = Callable[[HuntProgress], None]


@dataclass(frozen=True)
class RoundReport:
    """How one round went."""

    round: Round
    candidates: int  # candidates that ran
    kept: int  # promoted to the next round (or, in the last round, the winners)
    dropped: pd.DataFrame  # candidates dropped before ranking, with `reason`
    images_bought: int  # images this run bought (0 for a round already in the catalogue)
    requests_failed: int
    cost: float
    # Asynchronous schedule: candidates promoted early that the round's final ranking puts
    # outside its cut (each took a place a candidate ranked above it did not get).
    outside_cut: int = 0


@dataclass(frozen=True)
class HuntResult:
    """The hunt's answer: the top candidates scored on the whole panel, and the report."""

    plan: HuntPlan
    rounds: list[RoundReport]
    top: pd.DataFrame  # best first, the leaderboard's columns over every face of the panel
    standings: pd.DataFrame  # every candidate, best first: the round it reached, its last score
    stopped: str | None = None  # as SweepSummary.stopped: "auth", "credits", "cancelled"
    stop_reason: str | None = None
    summaries: list[SweepSummary] = field(default_factory=list)

    @property
    def images_bought(self) -> int:
        return sum(report.images_bought for report in self.rounds)

    @property
    def cost(self) -> float:
        return sum(report.cost for report in self.rounds)


class Hunt:
    """A hunt over the panel of `layout`: `plan()` spends nothing; `await run(client)` buys the
    rounds and returns a `HuntResult`."""

    def __init__(
        self,
        spec: HuntSpec,
        layout: DataLayout,
        *,
        max_images: int | None = None,
        top: int | None = None,
    ):
        self.spec = spec if top is None else spec.model_copy(update={"top": top})
        self.layout = layout
        self.max_images = max_images
        self._plan: HuntPlan | None = None

    def schedule(self) -> Schedule:
        """The rounds and what they cost, fitted to the budget (cheap: no face is looked at).
        Raises BudgetTooSmall (an InputError) if the budget cannot pay for one round."""
        faces = self.spec.select_faces(Panel(self.layout).faces())
        pool = self.spec.pool_size()
        shape = {
            "top": self.spec.top,
            "sample_number": self.spec.sample_number,
            "first_faces": self.spec.first_faces,
        }
        least = minimum_budget(pool, len(faces), **shape)
        budget = self.spec.budget_images(len(faces), max_images=self.max_images, least=least)
        return plan_schedule(pool, len(faces), budget, **shape)

    def plan(self) -> HuntPlan:
        """The schedule, then the faces in the order they are tried (their descriptors are
        computed here, a second or so per face). Spends nothing."""
        if self._plan is None:
            schedule = self.schedule()
            panel = Panel(self.layout)
            faces = self.spec.select_faces(panel.faces())
            descriptors = {face.id: face_descriptor(panel.image_path(face)) for face in faces}
            ordered = tuple(face_order(faces, descriptors))
            self._plan = HuntPlan(self.spec, self.spec.candidates(), ordered, schedule)
        return self._plan

    async def run(
        self,
        client: Generates,
        *,
        backend: str,
        on_progress: HuntProgressCallback | None = None,
        schedule: str = "async",
        scoring_workers: int | None = None,
    ) -> HuntResult:
        """Buy and score the rounds; stops (returning what it has) if the API refuses the key or
        runs out of credits. Cancelling keeps every result already received.

        `backend` is the identity of the API the client talks to (`Backend.identity`): the
        request keys, and so what counts as already bought, are scoped to it.

        `schedule` is "async" (candidates promoted as soon as their evidence is in, images
        scored as they arrive: `workbench.hunt.asha`) or "rounds" (each round waits for its
        last request, then scores: the synchronous schedule, kept to compare with).

        `scoring_workers` (asynchronous schedule): worker processes scoring the images, 0 for
        a thread of this process; default `pipeline_workers` (a thread for up to 64 images). A
        server passes 1 or more, so that scoring never holds its event loop."""
        if schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, not {schedule!r}")
        if schedule == "async":
            return await self._run_async(
                client, backend=backend, on_progress=on_progress, workers=scoring_workers
            )
        return await self._run_rounds(client, backend=backend, on_progress=on_progress)

    async def _run_async(
        self,
        client: Generates,
        *,
        backend: str,
        on_progress: HuntProgressCallback | None,
        workers: int | None,
    ) -> HuntResult:
        plan = self.plan()
        rounds = plan.schedule.rounds
        progress = HuntProgress(
            rounds[0], len(rounds), "requests", images_total=plan.schedule.images
        )
        engine = AsyncHunt(
            self, client, backend=backend, on_progress=on_progress, scoring_workers=workers
        )
        outcome = await engine.run(progress)
        summary = outcome.summary
        stopped = summary if summary is not None and summary.stopped else None
        # The report is read back from the catalogue and the scores table, as the rounds
        # schedule reads it: each rung ranked on exactly its faces, the winners on all.
        reports, standings, ranking = await asyncio.to_thread(self._replay, outcome.rungs)
        return self._result(reports, [summary] if summary else [], standings, ranking, stopped)

    def _replay(self, rungs) -> tuple[list[RoundReport], list[pd.DataFrame], Ranking | None]:
        plan = self.plan()
        reports: list[RoundReport] = []
        standings: list[pd.DataFrame] = []
        ranking = None
        last = len(plan.schedule.rounds) - 1
        for index, (round_, log) in enumerate(zip(plan.schedule.rounds, rungs, strict=True)):
            if not log.entered:
                break
            entered = pd.DataFrame(log.entered, columns=list(CANDIDATE_COLUMNS))
            scores = self._scores(entered, plan.round_faces(round_))
            ranking = rank_scores(
                scores, metric=self.spec.metric, min_identity=self.spec.min_identity
            )
            if index == last:
                promoted = promote(ranking, plan.schedule.top)
            else:
                promoted = pd.DataFrame(log.promoted, columns=list(CANDIDATE_COLUMNS))
                cut = promote(ranking, len(log.promoted))
                outside = len(set(log.promoted) - {_key_of(row) for row in cut.itertuples(False)})
            standings.append(_standing(ranking, round_, promoted))
            reports.append(
                RoundReport(
                    round=round_,
                    candidates=len(log.entered),
                    kept=len(promoted),
                    dropped=ranking.dropped,
                    images_bought=log.images_bought,
                    requests_failed=log.requests_failed,
                    cost=log.cost,
                    outside_cut=0 if index == last else outside,
                )
            )
        return reports, standings, ranking

    async def _run_rounds(
        self, client: Generates, *, backend: str, on_progress: HuntProgressCallback | None
    ) -> HuntResult:
        plan = self.plan()
        survivors = plan.candidates
        reports: list[RoundReport] = []
        summaries: list[SweepSummary] = []
        standings: list[pd.DataFrame] = []
        rounds = plan.schedule.rounds
        ranking: Ranking | None = None
        for index, round_ in enumerate(rounds):
            faces = plan.round_faces(round_)
            runs = await asyncio.to_thread(self._round_runs, survivors, faces, round_, backend)
            progress = HuntProgress(
                round_,
                len(rounds),
                "requests",
                requests_total=sum(run.pending_requests for run in runs),
                images_total=sum(run.pending_images for run in runs),
            )
            round_summaries = await _execute(runs, client, progress, on_progress)
            summaries += round_summaries
            stopped = next((s for s in round_summaries if s.stopped), None)
            if stopped is not None:
                return self._result(reports, summaries, standings, ranking, stopped)
            progress.phase = "scoring"
            _notify(on_progress, progress)

            def scoring(done: int, total: int, progress: HuntProgress = progress) -> None:
                progress.scored, progress.to_score = done, total
                _notify(on_progress, progress)

            # Scoring is CPU work: off the event loop, so an app serving others stays live.
            await asyncio.to_thread(score_catalogue, self.layout, on_progress=scoring)
            scores = await asyncio.to_thread(self._scores, survivors, faces)
            ranking = rank_scores(
                scores, metric=self.spec.metric, min_identity=self.spec.min_identity
            )
            last = index == len(rounds) - 1
            keep = plan.schedule.top if last else rounds[index + 1].candidates
            promoted = promote(ranking, keep)
            standings.append(_standing(ranking, round_, promoted))
            reports.append(
                RoundReport(
                    round=round_,
                    candidates=len(survivors),
                    kept=len(promoted),
                    dropped=ranking.dropped,
                    images_bought=sum(s.images_stored for s in round_summaries),
                    requests_failed=sum(s.requests_failed for s in round_summaries),
                    cost=sum(s.cost for s in round_summaries),
                )
            )
            survivors = promoted
            if survivors.empty:
                break
        return self._result(reports, summaries, standings, ranking, None)

    # --- One round -------------------------------------------------------------------------

    def _round_runs(
        self, survivors: pd.DataFrame, faces: list[Face], round_: Round, backend: str
    ) -> list[SweepRun]:
        """One sweep per (prompt, identity scale, size) over the survivors' seeds and the
        round's faces; cells bought in earlier rounds are stored, so the engine skips them.
        Each sweep's budget cap is its share of the round, so the round never overspends."""
        runs = []
        groups = survivors.groupby(["prompt", "identity_scale", "width", "height"], sort=False)
        for (prompt, scale, width, height), group in groups:
            seeds = [int(seed) for seed in group["seed"]]
            sweep = Sweep.build(
                source="hunt",
                name=f"{self.spec.name or 'hunt'} (round {round_.number})",
                prompts=[prompt],
                seeds=seeds,
                identity_scales=[float(scale)],
                sizes=[f"{int(width)}x{int(height)}"],
                sample_number=self.spec.sample_number,
                faces=[face.id for face in faces],
                concurrency=self.spec.concurrency,
                max_images=len(seeds) * round_.new_faces * self.spec.sample_number,
                price_per_image=self.spec.price_per_image,
            )
            runs.append(SweepRun.prepare(sweep, self.layout, backend=backend))
        return runs

    def _scores(self, survivors: pd.DataFrame, faces: list[Face]) -> pd.DataFrame:
        """The leaderboard over exactly the round's faces, for the survivors (a survivor with
        no image on them gets an empty score and is dropped by the ranking)."""
        board = leaderboard(self.layout, faces=[face.id for face in faces])
        keys = survivors[list(CANDIDATE_COLUMNS)]
        return keys.merge(board, on=list(CANDIDATE_COLUMNS), how="left")

    def _result(self, reports, summaries, standings, ranking, stopped) -> HuntResult:
        plan = self.plan()
        table = _combine(standings, METRIC_COLUMNS[self.spec.metric])
        top = pd.DataFrame(columns=table.columns)
        if ranking is not None and reports and reports[-1].round == plan.schedule.rounds[-1]:
            top = ranking.ranked.head(plan.schedule.top).reset_index(drop=True)
        return HuntResult(
            plan=plan,
            rounds=reports,
            top=top,
            standings=table,
            stopped=stopped.stopped if stopped else None,
            stop_reason=stopped.stop_reason if stopped else None,
            summaries=summaries,
        )


async def _execute(
    runs: list[SweepRun],
    client: Generates,
    progress: HuntProgress,
    on_progress: HuntProgressCallback | None,
) -> list[SweepSummary]:
    """The round's sweeps at once (the client bounds requests in flight), progress summed."""
    counters: dict[int, Progress] = {}

    def track(index: int) -> Callable[[Progress], None]:
        def update(engine: Progress) -> None:
            counters[index] = engine
            progress.images_done = sum(p.images_done for p in counters.values())
            progress.requests_failed = sum(p.requests_failed for p in counters.values())
            _notify(on_progress, progress)

        return update

    _notify(on_progress, progress)
    tasks = [
        run.execute(client, on_progress=track(index))
        for index, run in enumerate(runs)
        if run.pending
    ]
    return list(await asyncio.gather(*tasks))


def _key_of(row) -> tuple:
    prompt, seed, scale, width, height = row
    return (str(prompt), int(seed), float(scale), int(width), int(height))


def _notify(callback: HuntProgressCallback | None, progress: HuntProgress) -> None:
    if callback is not None:
        callback(progress)


def _standing(ranking: Ranking, round_: Round, promoted: pd.DataFrame) -> pd.DataFrame:
    """This round's scores with where each candidate got to."""
    ranked = ranking.ranked.assign(round=round_.number, reason="")
    promoted_keys = set(promoted.itertuples(index=False, name=None))
    keys = ranked[list(CANDIDATE_COLUMNS)].itertuples(index=False, name=None)
    ranked["promoted"] = [key in promoted_keys for key in keys]
    dropped = ranking.dropped.assign(round=round_.number, promoted=False)
    return pd.concat([ranked, dropped], ignore_index=True)


def _combine(standings: list[pd.DataFrame], metric_column: str) -> pd.DataFrame:
    """Every candidate once, with its last round: further rounds first, then by the metric."""
    if not standings:
        return pd.DataFrame(columns=[*CANDIDATE_COLUMNS, "round", "promoted", "reason"])
    table = pd.concat(standings, ignore_index=True)
    table = table.drop_duplicates(list(CANDIDATE_COLUMNS), keep="last")
    table = table.assign(_scored=table["reason"] == "")
    table = table.sort_values(
        ["round", "_scored", metric_column, "consistency"],
        ascending=[False, False, False, False],
        kind="stable",
        na_position="last",
    )
    return table.drop(columns="_scored").reset_index(drop=True)
