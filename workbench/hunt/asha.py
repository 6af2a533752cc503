"""The hunt without barriers: asynchronous successive halving (ASHA, Li et al. 2018, "A system
for massively parallel hyperparameter tuning") over the same fixed schedule.

Every candidate climbs the rounds ("rungs") on its own. Its cells for a rung go to one sweep
engine feed (`SweepRun`, `feed=True`: catalogue rows, dedupe, leases, the journal and the
budget cap, as any sweep) that keeps C requests in flight; each stored image goes at once to a
scoring worker (`ScoringPipeline`). When a candidate's last image of the rung is scored, the
rung is ranked again on the evidence in, and every candidate that is sure to be in the rung's
cut is promoted there and then: its next faces are queued, ahead of earlier rungs' cells
(`safe_promotions`). The API is never idle while promotable work exists, and no round waits for
its slowest request or for a scoring phase.

What stays as in the synchronous schedule: the rungs' sizes (`plan_schedule`, so `--dry-run`
states the most the hunt spends, and the feed's cap enforces it), the faces each rung adds,
the ranking (the leaderboard over exactly the rung's faces) and the final choice of the top K
on the whole panel once every finalist is in. ASHA's own rule promotes the top 1/eta of
whichever candidates finished first; with a fixed budget that spends promotions on early
arrivals rather than the best, so here a candidate is promoted early only when the candidates
still undecided could not push it out of the cut. Given the same scores that is the
synchronous cut, reached sooner. (The panel adjustment is refitted as images arrive, so a
score can still move a little after a promotion: measured in docs/hunt.md.)

Resume: cells already stored (for this backend) count as done and their scores are read from
the scores table (images not scored yet are scored first), so a stopped hunt replays its
decisions from the catalogue and buys only what is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from dataclasses import dataclass, field

import pandas as pd
import pyarrow.compute as pc

from workbench.catalogue import STATUS_OK, Catalogue, CatalogueRow
from workbench.hunt.schedule import rank as rank_scores
from workbench.hunt.schedule import safe_promotions
from workbench.hunt.spec import CANDIDATE_COLUMNS
from workbench.panel import Panel
from workbench.run import Generates, SweepRun, SweepSummary
from workbench.scoring.candidates import Candidate, ScoredImages, _face_effects
from workbench.scoring.identity import IDENTITY_SCORER
from workbench.scoring.leaderboard import leaderboard
from workbench.scoring.pipeline import ScoringPipeline, StoredImage, pipeline_workers
from workbench.scoring.store import ScoreRow
from workbench.scoring.style import STYLE_SCORER
from workbench.store import ImageStore
from workbench.sweep import Cell, Plan, Sweep, plan

Key = tuple  # (prompt, seed, identity_scale, width, height)
# Ranking runs again at most this often while evidence keeps arriving (it holds the GIL).
RANK_EVERY_S = 0.1
# Before a round is over, a candidate is promoted early only if it would stay in the cut even
# with this share of the quota (rounded up) more undecided candidates ranked above it: scores
# still move a little as the panel adjustment is refitted, so the cut's edge waits for the end.
EARLY_MARGIN = 0.25
_EVIDENCE_COLUMNS = [
    *CANDIDATE_COLUMNS,
    "face_id",
    "face_hash",
    "image_hash",
    "request_key",
    "cost",
    "identity",
    "face_found",
    "vector",
]


def candidate_key(prompt, seed, scale, width, height) -> Key:
    return (str(prompt), int(seed), float(scale), int(width), int(height))


@dataclass
class RungLog:
    """What happened in one rung: who entered (in order), who was promoted, what was bought."""

    entered: list[Key] = field(default_factory=list)
    promoted: list[Key] = field(default_factory=list)
    complete: set[Key] = field(default_factory=set)
    decided: bool = False  # every promotion out of this rung is made
    images_bought: int = 0
    requests_failed: int = 0
    cost: float = 0.0


@dataclass
class AsyncOutcome:
    """What the asynchronous run hands back to `Hunt` to report."""

    rungs: list[RungLog]
    summary: SweepSummary | None
    scored: int


class AsyncHunt:
    """One asynchronous run of a hunt's plan (see the module's docstring)."""

    def __init__(
        self,
        hunt,
        client: Generates,
        *,
        backend: str,
        on_progress=None,
        scoring_workers: int | None = None,
    ):
        self.hunt = hunt
        self.plan = hunt.plan()
        self.layout = hunt.layout
        self.spec = self.plan.spec
        self.client = client
        self.backend = backend
        self.on_progress = on_progress
        self.scoring_workers = scoring_workers
        self.rounds = self.plan.schedule.rounds
        self.levels = [r.faces for r in self.rounds]
        self.rungs = [RungLog() for _ in self.rounds]
        self.rung_of: dict[Key, int] = {}  # the highest rung each candidate entered
        self.waiting: dict[Key, set[str]] = {}  # cell keys of its current rung not resolved
        self.cell_rung: dict[str, tuple[Key, int]] = {}
        self.cell_images: dict[str, set[tuple[str, str]]] = {}  # images still to be scored
        self.image_cell: dict[tuple[str, str], str] = {}
        self.image_needs: dict[tuple[str, str], set[str]] = {}  # verdicts a promotion awaits
        self.evidence: dict[tuple[str, str], dict] = {}  # (image, face hash) -> image row
        self.failed_cells: set[str] = set()
        self.dirty = asyncio.Event()
        self.finished = asyncio.Event()
        self.feed: SweepRun | None = None
        self.pipeline: ScoringPipeline | None = None
        self.progress = None
        self.found_stored = 0  # images of the hunt's cells that were stored before it ran
        self.rank_count = 0  # rankings computed (each on the evidence then in)

    # --- Set-up ----------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Every cell the hunt could send (the pool on every face), which are stored already,
        and the evidence in the catalogue and the scores table. Runs in a thread."""
        panel = Panel(self.layout)
        faces = list(self.plan.faces)
        catalogue = Catalogue(self.layout.catalogue)
        catalogue.migrate()
        groups = self.plan.candidates.groupby(
            ["prompt", "identity_scale", "width", "height"], sort=False
        )
        self.cells: dict[tuple[Key, str], Cell] = {}
        for (prompt, scale, width, height), group in groups:
            sweep = Sweep.build(
                source="hunt",
                prompts=[prompt],
                seeds=[int(seed) for seed in group["seed"]],
                identity_scales=[float(scale)],
                sizes=[f"{int(width)}x{int(height)}"],
                sample_number=self.spec.sample_number,
                faces=[face.id for face in faces],
            )
            for cell in plan(sweep, faces, backend=self.backend).cells:
                p = cell.params
                key = candidate_key(p.prompt, p.seed, p.identity_scale, p.width, p.height)
                self.cells[(key, cell.face_id)] = cell
        self.stored = catalogue.stored_among(cell.key for cell in self.cells.values())
        self.parts_seen = catalogue.part_names()
        self.face_bytes = {face.id: panel.jpeg_bytes(face) for face in faces}
        self.face_hashes = {face.id: face.hash for face in faces}
        # The evidence already in: every stored image (the panel adjustment is fitted over all
        # of them, as the leaderboard does), and where the hunt's own are, to score them.
        self.by_request: dict[str, list[tuple[str, str]]] = {}
        self.paths: dict[tuple[str, str], str] = {}
        if self.stored:
            for row in ScoredImages.load(self.layout).images.to_dict("records"):
                image = self._remember(row)
                self.by_request.setdefault(str(row["request_key"]), []).append(image)
            where = pc.field("request_key").isin(sorted(self.stored))
            where &= pc.field("status") == STATUS_OK
            table = catalogue.table(["image_hash", "face_hash", "image_path"], filter=where)
            for image_hash, face_hash, path in zip(
                *(table[c].to_pylist() for c in ("image_hash", "face_hash", "image_path")),
                strict=True,
            ):
                self.paths[(image_hash, face_hash)] = path

    def _remember(self, row: dict) -> tuple[str, str]:
        key = (str(row["image_hash"]), str(row["face_hash"]))
        self.evidence[key] = {column: row.get(column) for column in _EVIDENCE_COLUMNS}
        return key

    def _sweep_record(self) -> Sweep:
        """What the catalogue records for the feed: the whole pool over the panel."""
        spec = self.spec
        return Sweep.build(
            source="hunt",
            name=f"{spec.name or 'hunt'} (asynchronous)",
            prompts=list(spec.prompts),
            seeds=list(spec.seeds),
            seed_generator=spec.seed_generator,
            identity_scales=list(spec.identity_scales),
            sizes=list(spec.sizes),
            sample_number=spec.sample_number,
            faces=[face.id for face in self.plan.faces],
            concurrency=spec.concurrency,
            max_images=self.plan.schedule.images,
            price_per_image=spec.price_per_image,
        )

    # --- The run ---------------------------------------------------------------------------

    async def run(self, progress) -> AsyncOutcome:
        self.progress = progress
        await asyncio.to_thread(self._prepare)
        record = self._sweep_record()
        feed = SweepRun(
            plan=Plan([]),
            pending=[],
            faces=self.face_bytes,
            store=ImageStore(self.layout),
            catalogue=Catalogue(self.layout.catalogue),
            concurrency=self.spec.concurrency,
            max_images=self.plan.schedule.images,
            price_per_image=self.spec.price_per_image,
            spec_toml=record.to_toml(),
            backend=self.backend,
            feed=True,
            on_cell=self._on_cell,
        )
        feed.parts_seen = self.parts_seen
        self.feed = feed
        workers = self.scoring_workers
        if workers is None:
            workers = pipeline_workers(self.plan.schedule.images)
        self.pipeline = ScoringPipeline(
            self.layout,
            workers=workers,
            on_scored=self._on_scored,
            defer_identity=self.spec.min_identity is None,
        )
        await self.pipeline.start(self.face_hashes.values())
        sending: asyncio.Task | None = None
        ranking: asyncio.Task | None = None
        summary: SweepSummary | None = None
        try:
            for key in self._keys_in_order():
                self._enter(key, 0)
            self._check_all()
            sending = asyncio.create_task(feed.execute(self.client, on_progress=self._engine))
            ranking = asyncio.create_task(self._rank_loop())
            finished = asyncio.create_task(self.finished.wait())
            broken = asyncio.create_task(self.pipeline.broken.wait())
            done, _ = await asyncio.wait(
                {sending, ranking, finished, broken}, return_when=asyncio.FIRST_COMPLETED
            )
            finished.cancel()
            broken.cancel()
            if self.pipeline.error is not None:
                raise self.pipeline.error
            if ranking in done and ranking.exception() is not None:
                raise ranking.exception()
            feed.close()
            summary = await sending
            if summary.stopped is None:
                await self.pipeline.wait()
        except BaseException:
            for task in (sending, ranking):
                if task is not None:
                    task.cancel()
            with contextlib.suppress(BaseException):
                await asyncio.gather(*(t for t in (sending, ranking) if t), return_exceptions=True)
            await self.pipeline.close(cancel=True)
            raise
        ranking.cancel()
        await asyncio.gather(ranking, return_exceptions=True)
        await self.pipeline.close(cancel=summary.stopped is not None)
        self.progress.phase = "scoring"
        self._notify()
        return AsyncOutcome(self.rungs, summary, self.pipeline.done)

    def _keys_in_order(self) -> list[Key]:
        frame = self.plan.candidates
        return [candidate_key(*row) for row in frame[CANDIDATE_COLUMNS].itertuples(index=False)]

    # --- Entering a rung -------------------------------------------------------------------

    def _enter(self, key: Key, rung: int) -> None:
        """Queue `key`'s cells for `rung` (the faces it adds); cells stored already count as
        sent, and wait only for their scores."""
        self.rung_of[key] = rung
        self.rungs[rung].entered.append(key)
        start = self.levels[rung - 1] if rung else 0
        cells = [self.cells[(key, face.id)] for face in self.plan.faces[start : self.levels[rung]]]
        self.waiting[key] = {cell.key for cell in cells}
        for cell in cells:
            self.cell_rung[cell.key] = (key, rung)
        new_cells = [cell for cell in cells if cell.key not in self.stored]
        for cell in cells:
            if cell.key in self.stored:
                self._stored_before(cell)
        if new_cells:
            # Later rungs first: they decide the winners, and their candidates wait on them.
            self.feed.add(new_cells, priority=-rung)

    def _stored_before(self, cell: Cell) -> None:
        images = self.by_request.get(cell.key, [])
        self.found_stored += len(images)
        self._expect_scores(cell.key, images)

    def _expect_scores(self, cell_key: str, images: list[tuple[str, str]]) -> None:
        pending = set()
        for image in images:
            path = self.paths.get(image)
            if not path:
                continue
            [(style, identity)] = self.pipeline.add(
                [StoredImage(image[0], image[1], path)], priority=-self.cell_rung[cell_key][1]
            )
            # A promotion waits for the style verdict, and for identity only if it decides.
            needed = {STYLE_SCORER} if style else set()
            if identity and self.spec.min_identity is not None:
                needed.add(IDENTITY_SCORER)
            if needed:
                pending.add(image)
                self.image_cell[image] = cell_key
                self.image_needs[image] = needed
        if pending:
            self.cell_images[cell_key] = pending
        else:
            self._resolved(cell_key)

    # --- Events: cells and scores ----------------------------------------------------------

    def _on_cell(self, cell: Cell, outcome: str, rows: list[CatalogueRow]) -> None:
        if cell.key not in self.cell_rung:
            return
        key, rung = self.cell_rung[cell.key]
        log = self.rungs[rung]
        if outcome == "stored":
            log.images_bought += len(rows)
            log.cost += sum(row.cost for row in rows)
            images = []
            for row in rows:
                image = self._remember({c: getattr(row, c, None) for c in _EVIDENCE_COLUMNS})
                self.paths[image] = row.image_path
                images.append(image)
            self._expect_scores(cell.key, images)
        elif outcome == "stored_elsewhere":
            task = asyncio.create_task(self._stored_elsewhere(cell))
            task.add_done_callback(lambda t: t.exception())
        else:
            if outcome == "failed":
                log.requests_failed += 1
            self.failed_cells.add(cell.key)
            self._resolved(cell.key)

    async def _stored_elsewhere(self, cell: Cell) -> None:
        """Another process stored this cell meanwhile: its rows come from the catalogue."""
        rows = await asyncio.to_thread(_rows_of, self.layout, cell.key)
        images = []
        for row in rows:
            image = self._remember(row)
            self.paths[image] = row["image_path"]
            images.append(image)
        self._expect_scores(cell.key, images)

    def _on_scored(self, rows: list[ScoreRow]) -> None:
        for row in rows:
            image = (row.image_hash, row.face_hash)
            evidence = self.evidence.get(image)
            if evidence is not None:
                if row.scorer == STYLE_SCORER:
                    evidence["vector"] = row.vector
                elif row.scorer == IDENTITY_SCORER:
                    evidence["identity"] = row.identity
                    evidence["face_found"] = row.face_found
        for row in rows:
            image = (row.image_hash, row.face_hash)
            needed = self.image_needs.get(image)
            if needed is None:
                continue
            needed.discard(row.scorer)
            if needed:
                continue
            del self.image_needs[image]
            cell_key = self.image_cell.pop(image, None)
            if cell_key is None:
                continue
            pending = self.cell_images.get(cell_key)
            if pending is not None:
                pending.discard(image)
                if not pending:
                    del self.cell_images[cell_key]
                    self._resolved(cell_key)
        self.progress.scored, self.progress.to_score = self.pipeline.done, self.pipeline.submitted
        self._notify()

    def _resolved(self, cell_key: str) -> None:
        key, rung = self.cell_rung[cell_key]
        if self.rung_of.get(key) != rung:
            return
        waiting = self.waiting[key]
        waiting.discard(cell_key)
        if not waiting:
            self.rungs[rung].complete.add(key)
            self.dirty.set()

    def _engine(self, engine) -> None:
        p = self.progress
        p.images_done = engine.images_done + self.found_stored
        p.requests_failed = engine.requests_failed
        p.requests_total = engine.requests_total
        self._notify()

    def _notify(self) -> None:
        top = max(self.rung_of.values(), default=0)
        self.progress.round = self.rounds[top]
        if self.on_progress is not None:
            self.on_progress(self.progress)

    # --- Promotion -------------------------------------------------------------------------

    async def _rank_loop(self) -> None:
        while not self.finished.is_set():
            await self.dirty.wait()
            self.dirty.clear()
            await self._promote()
            self._check_all()
            await asyncio.sleep(RANK_EVERY_S)

    def _check_all(self) -> None:
        """Mark rungs decided (every promotion out of them made) and the hunt finished (the
        last rung has every finalist's evidence in) when nothing more can happen in them."""
        last = len(self.rounds) - 1
        for rung in range(len(self.rounds)):
            log = self.rungs[rung]
            earlier = rung == 0 or self.rungs[rung - 1].decided
            everyone_in = earlier and len(log.complete) == len(log.entered)
            if rung == last:
                if everyone_in:
                    self.finished.set()
            elif not log.decided and (
                len(log.promoted) >= self._quota(rung) or (everyone_in and not log.entered)
            ):
                log.decided = True
                self.dirty.set()  # the next rung may now be complete: look again

    def _quota(self, rung: int) -> int:
        return self.rounds[rung + 1].candidates

    async def _promote(self) -> None:
        for rung in range(len(self.rounds) - 1):
            log = self.rungs[rung]
            if log.decided:
                continue
            quota = self._quota(rung)
            earlier = rung == 0 or self.rungs[rung - 1].decided
            future = 0 if earlier else max(0, self.rounds[rung].candidates - len(log.entered))
            undecided = len(log.entered) - len(log.complete) + future
            # Before the round is over, scores still move a little (the panel adjustment is
            # refitted as evidence arrives): a margin keeps the cut's edge for the end.
            margin = undecided + math.ceil(EARLY_MARGIN * quota) if undecided else 0
            if len(log.promoted) >= quota or (undecided and margin >= quota):
                continue
            complete = [key for key in log.entered if key in log.complete]
            if not complete:
                if not undecided:
                    log.decided = True
                continue
            # A snapshot taken here, on the loop: images keep arriving while the thread ranks.
            evidence = list(self.evidence.values())
            ranked = await asyncio.to_thread(self._rank, complete, self.levels[rung], evidence)
            chosen = safe_promotions(ranked, set(log.promoted), undecided=margin, quota=quota)
            for key in chosen:
                log.promoted.append(key)
                self._enter(key, rung + 1)
            if not undecided:
                log.decided = True  # the round is over: its cut is made
        self._check_all()

    def _rank(self, keys: list[Key], faces: int, evidence: list[dict]) -> list[Key]:
        """The rung's complete candidates, best first, on the evidence in (dropped ones out)."""
        self.rank_count += 1
        face_ids = [face.id for face in self.plan.faces[:faces]]
        wanted = set(face_ids)
        rows = [row for row in evidence if row["face_id"] in wanted]
        images = pd.DataFrame(rows, columns=_EVIDENCE_COLUMNS)
        images = images.astype({"seed": "int64", "width": "int64", "height": "int64"})
        scored = ScoredImages(
            layout=self.layout,
            images=images,
            failures=pd.DataFrame(columns=[*CANDIDATE_COLUMNS, "failures"]),
            panel=pd.DataFrame(),
            groups={},
            effects=_face_effects(images),
        )
        board = leaderboard(scored, faces=face_ids, candidates=[Candidate(*k) for k in keys])
        frame = pd.DataFrame(keys, columns=CANDIDATE_COLUMNS)
        scores = frame.merge(board, on=CANDIDATE_COLUMNS, how="left")
        ranking = rank_scores(scores, metric=self.spec.metric, min_identity=self.spec.min_identity)
        ranked = ranking.ranked[CANDIDATE_COLUMNS].itertuples(index=False)
        return [candidate_key(*row) for row in ranked]


def _rows_of(layout, request_key: str) -> list[dict]:
    """A cell's stored rows, as the catalogue has them."""
    columns = [*_EVIDENCE_COLUMNS[:-3], "image_path"]
    table = Catalogue(layout.catalogue).table(
        columns,
        filter=(pc.field("request_key") == request_key) & (pc.field("status") == STATUS_OK),
    )
    return table.to_pylist()
