"""Running a sweep: the one engine the CLI, the app and notebooks call.

`SweepRun.prepare` reads the panel and the catalogue and works out what is still to request
(nothing is spent); `await run.execute(client)` sends those cells with bounded concurrency,
stores every image, logs every image and every failed cell to the catalogue, and reports
progress to a callback. Re-running the same sweep requests only what is missing.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from workbench.catalogue import STATUS_FAILED, STATUS_OK, Catalogue, CatalogueRow
from workbench.client import Generation
from workbench.contract import SEED_RANDOM, PortraitParams
from workbench.errors import (
    ERROR_CHARS,
    ApiError,
    AuthError,
    InvalidRequest,
    OutOfCredits,
    RateLimited,
)
from workbench.layout import DataLayout
from workbench.panel import Panel
from workbench.store import ImageStore
from workbench.sweep import Cell, Plan, Sweep, plan

# Rows reach the catalogue in small parts at least this often, so a killed run loses at most
# this much of what it already received (those cells are simply requested again next time).
FLUSH_SECONDS = 1.0
FLUSH_ROWS = 512
# Without past runs to measure, assume this per request (the provider publishes no latency).
ASSUMED_LATENCY_S = {"simulator": 0.25, "remote": 20.0}
# Failures the API refused outright were not billed, so their budget reservation is given back;
# a timeout or a malformed reply may have been, so theirs is kept.
_NOT_BILLED = (InvalidRequest, AuthError, OutOfCredits, RateLimited)


class Generates(Protocol):
    """What the engine needs from a client: `HeadshotClient` fits, and so do test doubles."""

    async def generate(self, params: PortraitParams, face: bytes) -> Generation: ...


@dataclass
class Progress:
    """Counters the engine updates as it goes; the callback gets this object each time."""

    requests_total: int
    images_total: int
    requests_done: int = 0
    requests_failed: int = 0
    images_done: int = 0
    skipped_budget: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started

    @property
    def images_per_s(self) -> float:
        elapsed = self.elapsed_s
        return self.images_done / elapsed if elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        finished = self.requests_done + self.requests_failed + self.skipped_budget
        if not finished:
            return None
        remaining = self.requests_total - finished
        return remaining * self.elapsed_s / finished


ProgressCallback = Callable[[Progress], None]


@dataclass(frozen=True)
class SweepSummary:
    """How a run went. `stopped` is None when every pending cell was tried."""

    sweep_id: str
    backend: str
    planned_requests: int
    skipped_stored: int
    requests_sent: int
    images_stored: int
    requests_failed: int
    skipped_budget: int
    cost: float
    elapsed_s: float
    failures: dict[str, int]
    stopped: str | None = None  # "auth", "credits" or "cancelled"
    stop_reason: str | None = None

    @property
    def not_tried(self) -> int:
        return self.planned_requests - self.skipped_stored - self.requests_sent


class SweepStopped(Exception):
    """Raised inside the engine when an error makes every further request pointless."""

    def __init__(self, error: ApiError):
        super().__init__(str(error))
        self.error = error


class SweepRun:
    """One run of a sweep: the pending cells, then their execution."""

    def __init__(
        self,
        plan: Plan,
        pending: list[Cell],
        *,
        faces: Mapping[str, bytes],
        store: ImageStore,
        catalogue: Catalogue,
        concurrency: int = 8,
        max_images: int | None = None,
        price_per_image: float = 0.0,
        sweep_id: str | None = None,
        spec_toml: str | None = None,
    ):
        self.plan = plan
        self.pending = pending
        self.faces = faces
        self.store = store
        self.catalogue = catalogue
        self.concurrency = concurrency
        self.max_images = max_images
        self.price_per_image = price_per_image
        self.sweep_id = sweep_id or new_sweep_id()
        self.spec_toml = spec_toml
        self.progress = Progress(self.pending_requests, self.pending_images)
        self._backend = ""
        self._on_progress: ProgressCallback | None = None
        self._rows: list[CatalogueRow] = []
        self._last_flush = time.monotonic()
        self._reserved = 0
        self._sent = 0
        self._cost = 0.0
        self._failures: Counter[str] = Counter()
        self._stopped: str | None = None
        self._stop_reason: str | None = None

    @classmethod
    def prepare(cls, sweep: Sweep, layout: DataLayout, *, sweep_id: str | None = None) -> SweepRun:
        """Plan a sweep over the panel and leave out cells already stored. Spends nothing."""
        panel = Panel(layout)
        the_plan = plan(sweep, panel.faces())
        catalogue = Catalogue(layout.catalogue)
        pending = the_plan.pending(
            catalogue.stored_among(cell.key for cell in the_plan.cells if cell.dedupable)
        )
        face_ids = dict.fromkeys(cell.face_id for cell in pending)
        faces = {face_id: panel.jpeg_bytes(face_id) for face_id in face_ids}
        return cls(
            the_plan,
            pending,
            faces=faces,
            store=ImageStore(layout),
            catalogue=catalogue,
            concurrency=sweep.concurrency,
            max_images=sweep.max_images,
            price_per_image=sweep.price_per_image,
            sweep_id=sweep_id,
            spec_toml=sweep.to_toml(),
        )

    # --- Before spending -------------------------------------------------------------------

    @property
    def skipped_stored(self) -> int:
        return self.plan.requests - len(self.pending)

    @property
    def pending_requests(self) -> int:
        """Requests this run will send at most (the budget cap may stop it sooner)."""
        return len(self._affordable())

    @property
    def pending_images(self) -> int:
        return sum(cell.images for cell in self._affordable())

    def _affordable(self) -> list[Cell]:
        # The same rule as the engine: in order, each cell that still fits the cap is sent.
        if self.max_images is None:
            return self.pending
        budget, chosen = self.max_images, []
        for cell in self.pending:
            if cell.images <= budget:
                budget -= cell.images
                chosen.append(cell)
        return chosen

    @property
    def capped_by_budget(self) -> bool:
        """Whether max_images leaves some pending cells unsent."""
        return self.pending_requests < len(self.pending)

    def estimated_latency(self, backend_kind: str) -> tuple[float, str]:
        """Seconds per request: the median of past successful ones on this kind of backend,
        else an assumption; and a few words saying which."""
        past = self.catalogue.query(
            "SELECT median(latency_ms) AS ms, count(*) AS n FROM runs "
            "WHERE backend = ? AND status = 'ok' AND sample_index = 0",
            [backend_kind],
        )
        count = int(past["n"].iloc[0])
        if count:
            return float(past["ms"].iloc[0]) / 1000, f"median of {count} past requests"
        return ASSUMED_LATENCY_S.get(backend_kind, 20.0), "assumed: no past runs to measure"

    def estimated_cost(self) -> float:
        return self.pending_images * self.price_per_image

    def estimated_seconds(self, latency_s: float) -> float:
        """Wall time if each request takes `latency_s` and `concurrency` are always in flight."""
        waves = -(-self.pending_requests // max(1, self.concurrency))
        return waves * latency_s

    # --- Spending --------------------------------------------------------------------------

    async def execute(
        self,
        client: Generates,
        *,
        backend: str = "simulator",
        on_progress: ProgressCallback | None = None,
    ) -> SweepSummary:
        """Send the pending cells; returns the summary.

        Stops at once (cancelling requests in flight) on an auth failure or out-of-credits.
        If the task is cancelled (Ctrl-C, the app's cancel button), results already received
        are written to the catalogue before the cancellation goes on; `summary()` then says
        what was kept.
        """
        self._backend = backend
        self._on_progress = on_progress
        self.progress = Progress(self.pending_requests, self.pending_images)
        if self.spec_toml is not None:
            self.catalogue.record_sweep(self.sweep_id, self.spec_toml)
        self._notify()
        cells = iter(self.pending)
        workers = [
            asyncio.create_task(self._worker(client, cells))
            for _ in range(min(self.concurrency, len(self.pending)))
        ]
        try:
            if workers:
                await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            self._stopped = "cancelled"
            self._stop_reason = "cancelled; results received so far are kept"
            raise
        finally:
            for worker in workers:
                worker.cancel()
            self._flush()  # before waiting: a second Ctrl-C during the wait must not lose rows
            results = await asyncio.gather(*workers, return_exceptions=True)
            self._flush()
            self._notify()
        for result in results:
            if isinstance(result, SweepStopped):
                continue
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        return self.summary()

    def summary(self) -> SweepSummary:
        return SweepSummary(
            sweep_id=self.sweep_id,
            backend=self._backend,
            planned_requests=self.plan.requests,
            skipped_stored=self.skipped_stored,
            requests_sent=self._sent,
            images_stored=self.progress.images_done,
            requests_failed=self.progress.requests_failed,
            skipped_budget=self.progress.skipped_budget,
            cost=self._cost,
            elapsed_s=self.progress.elapsed_s,
            failures=dict(self._failures),
            stopped=self._stopped,
            stop_reason=self._stop_reason,
        )

    async def _worker(self, client: Generates, cells: Iterator[Cell]) -> None:
        # Workers share one iterator: asyncio runs one at a time between awaits, so each cell
        # is taken once, and the budget check-and-reserve below cannot interleave.
        for cell in cells:
            if self.max_images is not None and self._reserved + cell.images > self.max_images:
                self.progress.skipped_budget += 1
                self._notify()
                continue
            self._reserved += cell.images
            self._sent += 1
            try:
                generation = await client.generate(cell.params, self.faces[cell.face_id])
            except ApiError as exc:
                if isinstance(exc, _NOT_BILLED):
                    self._reserved -= cell.images
                self._record_failure(cell, exc)
                if exc.stops_sweep:
                    self._stopped = "credits" if isinstance(exc, OutOfCredits) else "auth"
                    self._stop_reason = str(exc)[:ERROR_CHARS]
                    raise SweepStopped(exc) from None
                continue
            self._record_success(cell, generation)

    def _record_success(self, cell: Cell, generation: Generation) -> None:
        now = datetime.now(UTC)
        seed_used = generation.seed if generation.seed != SEED_RANDOM else None
        rows = []
        for index, data in enumerate(generation.images):
            stored = self.store.put(data)
            rows.append(
                replace(
                    self._base_row(cell, now, generation.attempts, generation.latency_ms),
                    status=STATUS_OK,
                    seed_used=seed_used,
                    sample_index=index,
                    image_hash=stored.hash,
                    image_path=stored.relative_path,
                    cost=self.price_per_image,
                )
            )
        # All of a request's rows go in together: a stored key always has all its samples.
        self._rows.extend(rows)
        self._cost += self.price_per_image * len(rows)
        self.progress.requests_done += 1
        self.progress.images_done += len(rows)
        self._maybe_flush()
        self._notify()

    def _record_failure(self, cell: Cell, exc: ApiError) -> None:
        row = replace(
            self._base_row(cell, datetime.now(UTC), exc.attempts, exc.latency_ms),
            status=STATUS_FAILED,
            error_class=type(exc).__name__,
            error=exc.reason[:ERROR_CHARS],
        )
        self._rows.append(row)
        self._failures[type(exc).__name__] += 1
        self.progress.requests_failed += 1
        self._maybe_flush()
        self._notify()

    def _base_row(
        self, cell: Cell, now: datetime, attempts: int, latency_ms: float
    ) -> CatalogueRow:
        params = cell.params
        return CatalogueRow(
            sweep_id=self.sweep_id,
            request_key=cell.key,
            created_at=now,
            backend=self._backend,
            prompt=params.prompt,
            seed=params.seed,
            seed_used=params.seed if params.reproducible else None,
            sample_number=params.sample_number,
            identity_scale=params.identity_scale,
            width=params.width,
            height=params.height,
            face_id=cell.face_id,
            face_hash=cell.face_hash,
            status=STATUS_FAILED,
            attempts=attempts,
            latency_ms=latency_ms,
        )

    def _maybe_flush(self) -> None:
        now = time.monotonic()
        if len(self._rows) >= FLUSH_ROWS or now - self._last_flush >= FLUSH_SECONDS:
            self._flush()

    def _flush(self) -> None:
        self._last_flush = time.monotonic()
        if self._rows:
            rows, self._rows = self._rows, []
            self.catalogue.append(rows)

    def _notify(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)


def new_sweep_id() -> str:
    """Sortable and unique enough across machines: UTC time plus random hex."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


async def run_sweep(
    sweep: Sweep,
    layout: DataLayout,
    client: Generates,
    *,
    backend: str = "simulator",
    on_progress: ProgressCallback | None = None,
) -> SweepSummary:
    """Prepare and execute a sweep in one call (notebooks, the app)."""
    run = SweepRun.prepare(sweep, layout)
    return await run.execute(client, backend=backend, on_progress=on_progress)
