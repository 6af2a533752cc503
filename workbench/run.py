"""Running a sweep: the one engine the CLI, the app and notebooks call.

`SweepRun.prepare` reads the panel and the catalogue and works out what is still to request
(nothing is spent); `await run.execute(client)` sends those cells with bounded concurrency,
stores every image, logs every image and every failed cell to the catalogue, and reports
progress to a callback. Re-running the same sweep requests only what is missing.

Paid for once: each result is journalled before the engine moves on (a kill -9 loses none of
them), each request key is leased across processes before it is sent (two sweeps into one data
folder share the work), and results count as stored only for the backend that made them. File
work runs in a small thread pool, so the event loop (the app's, a notebook's) stays free.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from workbench.catalogue import STATUS_FAILED, STATUS_OK, Catalogue, CatalogueRow
from workbench.client import Generation
from workbench.contract import (
    SEED_RANDOM,
    PortraitParams,
    is_simulator_identity,
)
from workbench.errors import (
    ERROR_CHARS,
    ApiError,
    AuthError,
    InvalidRequest,
    OutOfCredits,
    RateLimited,
    TransientError,
)
from workbench.inflight import InFlight
from workbench.journal import fold_orphans
from workbench.layout import DataLayout
from workbench.leases import clear_stale_leases
from workbench.panel import Panel
from workbench.store import ImageStore
from workbench.sweep import Cell, Plan, Sweep, plan
from workbench.tombstones import ErasedFaces

# The journal moves into a catalogue part this often (one part per second, not per image).
FLUSH_SECONDS = 1.0
# Without past runs to measure, assume this per request (the provider publishes no latency).
ASSUMED_SIMULATOR_LATENCY_S = 0.25
ASSUMED_REMOTE_LATENCY_S = 20.0
# Failures the API refused outright were not billed, so their budget reservation is given back;
# a timeout or a malformed reply may have been, so theirs is kept.
_NOT_BILLED = (InvalidRequest, AuthError, OutOfCredits, RateLimited)
# The circuit breaker: this many requests in a row that could not connect at all (refused,
# unreachable, after the client's retries) and the API is taken for down: the sweep stops.
BREAKER_FAILURES = 8
# How often a cell another process is sending is looked at again.
WAIT_POLL_S = 0.2
# Threads for file work (storing images, the journal, leases, catalogue parts).
IO_THREADS = 4


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
    stored_elsewhere: int = 0  # cells another process (or sweep) stored meanwhile
    # Cells of a face erased while the sweep ran: not sent, or their result not kept.
    erased_before_sending: int = 0
    erased_after_sending: int = 0
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
        finished = (
            self.requests_done
            + self.requests_failed
            + self.skipped_budget
            + self.stored_elsewhere
            + self.erased_before_sending
            + self.erased_after_sending
        )
        if not finished:
            return None
        remaining = self.requests_total - finished
        return remaining * self.elapsed_s / finished


ProgressCallback = Callable[[Progress], None]
# What became of one cell: "stored" (with its catalogue rows), "failed", "stored_elsewhere" (another
# sweep stored it meanwhile), "erased" (its face was erased) or "skipped_budget".
CellCallback = Callable[[Cell, str, list[CatalogueRow]], None]


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
    # "auth", "credits", "unreachable" (circuit breaker), "simulator" (a reply from the simulator
    # for a real API's run, or the other way round) or "cancelled"
    stopped: str | None = None
    stop_reason: str | None = None
    stored_elsewhere: int = 0
    # Cells of faces erased during the run (tombstones): dropped before sending, or sent and
    # their result not kept.
    erased_before_sending: int = 0
    erased_after_sending: int = 0

    @property
    def not_tried(self) -> int:
        return (
            self.planned_requests
            - self.skipped_stored
            - self.requests_sent
            - self.stored_elsewhere
            - self.erased_before_sending
        )

    @property
    def all_failed(self) -> bool:
        """Requests were sent and failed, and not one gave an image."""
        return self.requests_failed > 0 and self.images_stored == 0


class SweepStopped(Exception):
    """Raised inside the engine when an error makes every further request pointless."""

    def __init__(self, kind: str, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class _Cells:
    """The cells still to try, in plan order (or by priority, lowest first, for cells added to a
    feed); a cell another process is sending comes back after a short wait. Workers take from it
    between awaits, so each cell goes to one.

    A feed (`open=True`) is not done when it runs dry: its workers wait for `add` until `close`.
    """

    def __init__(self, cells: list[Cell], *, open: bool = False):
        self._queue: list[tuple[int, int, Cell]] = []
        self._order = itertools.count()
        self._waiting: deque[tuple[float, Cell]] = deque()
        self._open = open
        self._wake = asyncio.Event()
        self.add(cells)

    def add(self, cells: Iterable[Cell], priority: int = 0) -> None:
        for cell in cells:
            heapq.heappush(self._queue, (priority, next(self._order), cell))
        self._wake.set()

    def close(self) -> None:
        self._open = False
        self._wake.set()

    async def next(self) -> Cell | None:
        while True:
            if self._queue:
                return heapq.heappop(self._queue)[2]
            if self._waiting:
                ready_at, cell = self._waiting[0]
                delay = ready_at - time.monotonic()
                if delay <= 0:
                    self._waiting.popleft()
                    return cell
                await asyncio.sleep(delay)
                continue
            if not self._open:
                return None
            self._wake.clear()
            await self._wake.wait()

    def wait_for(self, cell: Cell) -> None:
        self._waiting.append((time.monotonic() + WAIT_POLL_S, cell))


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
        backend: str,
        breaker_failures: int = BREAKER_FAILURES,
        planned_ns: int | None = None,
        feed: bool = False,
        on_cell: CellCallback | None = None,
    ):
        self.plan = plan
        self.pending = pending
        self.faces = faces
        self.store = store
        self.layout = store.layout
        # Faces erased after planning (their tombstones) are dropped before sending and storing.
        self.erased = ErasedFaces(self.layout, since_ns=planned_ns)
        self.catalogue = catalogue
        self.concurrency = concurrency
        self.max_images = max_images
        self.price_per_image = price_per_image
        self.sweep_id = sweep_id or new_sweep_id()
        self.spec_toml = spec_toml
        self.backend = backend  # the identity the plan's request keys are scoped to
        self.breaker_failures = breaker_failures
        self.progress = Progress(self.pending_requests, self.pending_images)
        self.parts_seen: set[str] | None = None  # catalogue parts read when planning
        self._on_progress: ProgressCallback | None = None
        self._reserved = 0
        self._sent = 0
        self._cost = 0.0
        self._no_answer_in_a_row = 0
        self._failures: Counter[str] = Counter()
        self._stopped: str | None = None
        self._stop_reason: str | None = None
        self._inflight: InFlight | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._count_lock = threading.Lock()
        # A feed keeps its workers waiting for cells `add`ed while it runs, until `close()`.
        self.feed = feed
        self.on_cell = on_cell
        self._cells: _Cells | None = None
        self._closed = False

    @classmethod
    def prepare(
        cls,
        sweep: Sweep,
        layout: DataLayout,
        *,
        sweep_id: str | None = None,
        backend: str,
    ) -> SweepRun:
        """Plan a sweep over the panel for `backend` (its identity: "simulator" or the real
        API's base URL, as `Backend.identity` gives it) and leave out cells already stored from
        that backend. Spends nothing.

        First brings the catalogue up to date: older schema versions are migrated, and journals
        of sweeps that were killed are folded in (their results count as stored).
        """
        planned_ns = time.time_ns()  # before the panel is read: an erase after this wins
        panel = Panel(layout)
        the_plan = plan(sweep, panel.faces(), backend=backend)
        catalogue = Catalogue(layout.catalogue)
        catalogue.migrate()
        fold_orphans(layout, catalogue)
        clear_stale_leases(layout)
        parts_seen = catalogue.part_names()
        pending = the_plan.pending(
            catalogue.stored_among(cell.key for cell in the_plan.cells if cell.dedupable)
        )
        face_ids = dict.fromkeys(cell.face_id for cell in pending)
        faces = {face_id: panel.jpeg_bytes(face_id) for face_id in face_ids}
        run = cls(
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
            backend=backend,
            planned_ns=planned_ns,
        )
        run.parts_seen = parts_seen
        return run

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

    def estimated_latency(self, backend: str | None = None) -> tuple[float, str]:
        """Seconds per request: the median of past successful ones on this backend (default:
        the one the run is planned for), else an assumption; and a few words saying which."""
        backend = backend or self.backend
        past = self.catalogue.query(
            "SELECT median(latency_ms) AS ms, count(*) AS n FROM runs "
            "WHERE backend = ? AND status = 'ok' AND sample_index = 0",
            [backend],
        )
        count = int(past["n"].iloc[0])
        if count:
            return float(past["ms"].iloc[0]) / 1000, f"median of {count} past requests"
        simulated = is_simulator_identity(backend)
        assumed = ASSUMED_SIMULATOR_LATENCY_S if simulated else ASSUMED_REMOTE_LATENCY_S
        return assumed, "assumed: no past runs to measure"

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
        backend: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> SweepSummary:
        """Send the pending cells; returns the summary.

        `backend`, if given, must be the identity the run was prepared for (a guard: results
        of one API never count as another's). Stops at once (cancelling requests in flight) on
        an auth failure or out-of-credits, and after `breaker_failures` requests in a row got
        no answer at all. If the task is cancelled (Ctrl-C, the app's cancel button), results
        already received are written to the catalogue before the cancellation goes on;
        `summary()` then says what was kept.
        """
        if backend is not None and backend != self.backend:
            raise ValueError(
                f"this run was prepared for backend {self.backend!r}, not {backend!r}: "
                "prepare it with backend=<the backend's identity>"
            )
        self._on_progress = on_progress
        self.progress = Progress(self.pending_requests, self.pending_images)
        if self.spec_toml is not None:
            self.catalogue.record_sweep(self.sweep_id, self.spec_toml)
        self._pool = ThreadPoolExecutor(IO_THREADS, thread_name_prefix="sweep-io")
        self._inflight = InFlight(self.layout, self.catalogue, parts_seen=self.parts_seen)
        self._notify()
        cells = self._cells = _Cells(self.pending, open=self.feed and not self._closed)
        count = self.concurrency if self.feed else min(self.concurrency, len(self.pending))
        workers = [asyncio.create_task(self._worker(client, cells)) for _ in range(count)]
        flusher = asyncio.create_task(self._flush_every_second())
        try:
            if workers:
                await asyncio.wait(workers, return_when=asyncio.FIRST_EXCEPTION)
        except asyncio.CancelledError:
            self._stopped = "cancelled"
            self._stop_reason = "cancelled; results received so far are kept"
            raise
        finally:
            for task in (*workers, flusher):
                task.cancel()
            results = await asyncio.gather(*workers, flusher, return_exceptions=True)
            # Off the loop, and shielded: a second Ctrl-C leaves the rest to the journal.
            await asyncio.shield(asyncio.to_thread(self._finish))
            self._notify()
        for result in results:
            if isinstance(result, SweepStopped):
                if self._stopped is None:
                    self._stopped, self._stop_reason = result.kind, result.reason
                continue
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result
        return self.summary()

    def summary(self) -> SweepSummary:
        return SweepSummary(
            sweep_id=self.sweep_id,
            backend=self.backend,
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
            stored_elsewhere=self.progress.stored_elsewhere,
            erased_before_sending=self.progress.erased_before_sending,
            erased_after_sending=self.progress.erased_after_sending,
        )

    # --- A feed: cells added while it runs ------------------------------------------------

    def add(self, cells: Iterable[Cell], *, priority: int = 0) -> None:
        """Queue more cells on a feed (`feed=True`), before or while it executes; lower
        `priority` goes first. Call from the event loop that runs `execute`."""
        if not self.feed or self._closed:
            raise RuntimeError("cells can only be added to an open feed")
        cells = list(cells)
        self.plan.cells.extend(cells)
        self.pending.extend(cells)
        self.progress.requests_total += len(cells)
        self.progress.images_total += sum(cell.images for cell in cells)
        if self._cells is not None:
            self._cells.add(cells, priority)

    def close(self) -> None:
        """No more cells: a feed's workers finish what is queued, then `execute` returns."""
        self._closed = True
        if self._cells is not None:
            self._cells.close()

    # --- The workers -----------------------------------------------------------------------

    async def _worker(self, client: Generates, cells: _Cells) -> None:
        while (cell := await cells.next()) is not None:
            try:
                outcome, rows = await self._try(client, cells, cell)
            except SweepStopped:
                if self.on_cell is not None:
                    self.on_cell(cell, "failed", [])
                raise
            if outcome != "wait" and self.on_cell is not None:
                self.on_cell(cell, outcome, rows)

    async def _try(
        self, client: Generates, cells: _Cells, cell: Cell
    ) -> tuple[str, list[CatalogueRow]]:
        inflight = self._inflight
        assert inflight is not None
        if cell.dedupable:
            verdict = await self._in_thread(inflight.begin, cell.key)
            if verdict == "wait":
                cells.wait_for(cell)  # another sweep is buying it: look again shortly
                return "wait", []
            if verdict == "stored":
                self.progress.stored_elsewhere += 1
                self._notify()
                return "stored_elsewhere", []
        if self.erased.erased(cell.face_hash):  # one listing of a tiny folder: no thread hop
            if cell.dedupable:
                await self._in_thread(inflight.release, [cell.key])
            self.progress.erased_before_sending += 1
            self._notify()
            return "erased", []
        # Check and reserve with no await between: concurrent workers never overspend.
        if self.max_images is not None and self._reserved + cell.images > self.max_images:
            if cell.dedupable:
                await self._in_thread(inflight.release, [cell.key])
            self.progress.skipped_budget += 1
            self._notify()
            return "skipped_budget", []
        self._reserved += cell.images
        self._sent += 1
        try:
            generation = await client.generate(cell.params, self.faces[cell.face_id])
        except ApiError as exc:
            if isinstance(exc, _NOT_BILLED):
                self._reserved -= cell.images
            await self._in_thread(self._record_failure, cell, exc)
            self._notify()
            self._check_stop(exc)
            return "failed", []
        self._no_answer_in_a_row = 0
        if generation.simulator and not is_simulator_identity(self.backend):
            await self._in_thread(inflight.release, [cell.key])
            raise SweepStopped(
                "simulator",
                f"the API at {self.backend} answered as the workbench's simulator "
                "(X-Headshot-Simulator): its pictures are not real portraits, none was kept",
            )
        if not generation.simulator and is_simulator_identity(self.backend):
            # The other way round: paid pictures stored under the simulator's identity would be
            # trusted by resume and dedupe as simulator rows, and never bought for real.
            await self._in_thread(inflight.release, [cell.key])
            raise SweepStopped(
                "simulator",
                "the run was prepared for the simulator, but the API answered without "
                "X-Headshot-Simulator: a real API's pictures are never stored under the "
                "simulator's identity; prepare the run with backend=Backend.identity",
            )
        rows = await self._in_thread(self._record_success, cell, generation)
        self._notify()
        return ("stored", rows) if rows is not None else ("erased", [])

    def _check_stop(self, exc: ApiError) -> None:
        if exc.stops_sweep:
            kind = "credits" if isinstance(exc, OutOfCredits) else "auth"
            raise SweepStopped(kind, str(exc)[:ERROR_CHARS])
        if isinstance(exc, TransientError) and exc.connection:
            self._no_answer_in_a_row += 1
            if self._no_answer_in_a_row >= self.breaker_failures:
                raise SweepStopped(
                    "unreachable",
                    f"{self._no_answer_in_a_row} requests in a row could not reach the API "
                    f"(last: {exc.reason[:ERROR_CHARS]}); stopped sending",
                )
        else:
            self._no_answer_in_a_row = 0

    async def _in_thread(self, function, *args):
        """File work off the event loop. Shielded: a cancelled worker's storing, journalling
        and counting still happen (the pool is drained before the run reports)."""
        loop = asyncio.get_running_loop()
        return await asyncio.shield(loop.run_in_executor(self._pool, function, *args))

    # Run in the I/O pool: store, journal, count.

    def _record_success(self, cell: Cell, generation: Generation) -> list[CatalogueRow] | None:
        # From the tombstone check until the rows are journalled, an erase waits (and after
        # its tombstone, this face's result is dropped: not stored, not logged).
        with self.erased.storing():
            if self._drop_if_erased(cell):
                return None
            return self._store_success(cell, generation)

    def _drop_if_erased(self, cell: Cell) -> bool:
        if not self.erased.erased(cell.face_hash):
            return False
        if cell.dedupable:
            self._inflight.release([cell.key])
        with self._count_lock:
            self.progress.erased_after_sending += 1
        return True

    def _store_success(self, cell: Cell, generation: Generation) -> list[CatalogueRow]:
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
        self._inflight.keep(rows)
        with self._count_lock:
            self._cost += self.price_per_image * len(rows)
            self.progress.requests_done += 1
            self.progress.images_done += len(rows)
        return rows

    def _record_failure(self, cell: Cell, exc: ApiError) -> None:
        with self.erased.storing():  # a failed row names the face too
            if not self._drop_if_erased(cell):
                self._log_failure(cell, exc)

    def _log_failure(self, cell: Cell, exc: ApiError) -> None:
        row = replace(
            self._base_row(cell, datetime.now(UTC), exc.attempts, exc.latency_ms),
            status=STATUS_FAILED,
            error_class=type(exc).__name__,
            error=exc.reason[:ERROR_CHARS],
        )
        self._inflight.keep([row])
        if cell.dedupable:
            self._inflight.release([cell.key])  # not stored: the next run (or another) retries
        with self._count_lock:
            self._failures[type(exc).__name__] += 1
            self.progress.requests_failed += 1

    def _base_row(
        self, cell: Cell, now: datetime, attempts: int, latency_ms: float
    ) -> CatalogueRow:
        params = cell.params
        return CatalogueRow(
            sweep_id=self.sweep_id,
            request_key=cell.key,
            created_at=now,
            backend=self.backend,
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

    async def _flush_every_second(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await self._in_thread(self._inflight.flush)

    def _finish(self) -> None:
        """Wait for file work still running, move the journal into the catalogue, let go."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._inflight is not None:
            self._inflight.close()
            self._inflight = None

    def _notify(self) -> None:
        if self._on_progress is not None:
            self._on_progress(self.progress)


def format_duration(seconds: float) -> str:
    """A duration as a person reads it: "4.2 s", "3 min 05 s", "2 h 07 min" (estimates, progress)."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def new_sweep_id() -> str:
    """Sortable and unique enough across machines: UTC time plus random hex."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


async def run_sweep(
    sweep: Sweep,
    layout: DataLayout,
    client: Generates,
    *,
    backend: str,
    on_progress: ProgressCallback | None = None,
) -> SweepSummary:
    """Prepare and execute a sweep in one call (notebooks, the app). `backend` is the
    identity of the API `client` talks to (`Backend.identity`)."""
    run = SweepRun.prepare(sweep, layout, backend=backend)
    return await run.execute(client, on_progress=on_progress)
