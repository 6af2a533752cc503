"""The sweep engine against the real simulator over loopback (and, for replies the simulator does
not make, httpx's MockTransport): nothing lost, nothing paid twice, stops when it must."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import inspect
import io
import json

import httpx
import pytest
from PIL import Image

from workbench.catalogue import Catalogue
from workbench.client import HeadshotClient, RetryPolicy
from workbench.contract import JPEG_DATA_URI_PREFIX, SIMULATOR_BACKEND
from workbench.run import Progress, SweepRun
from workbench.simulator import Faults, SimulatorConfig, SimulatorServer
from workbench.sweep import Sweep

# The `panel_layout` fixture: a data root with a two-face panel.
pytest_plugins = ["sweep_fixtures"]

KEY = "sweep-test-key-9f3c1a77e2"
FAST_RETRY = RetryPolicy(attempts=3, timeout=20.0, wait_initial=0.01, wait_max=0.05)


@pytest.fixture(scope="module")
def simulator():
    with SimulatorServer(SimulatorConfig(api_key=KEY)) as server:
        yield server


def client(server, *, key: str = KEY, concurrency: int = 16, **kwargs) -> HeadshotClient:
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("timeout", 60.0)  # a busy machine must not turn into retries
    return HeadshotClient(server.url, key, max_concurrency=concurrency, **kwargs)


def small_sweep(**fields) -> Sweep:
    spec = {"prompts": ["studio", "noir"], "seeds": "1-3", "sizes": ["512x512"]}
    return Sweep.build(**{**spec, "sample_number": 2, "concurrency": 8, **fields})


async def execute(sweep: Sweep, layout, api, *, backend: str = SIMULATOR_BACKEND, **kwargs):
    run = SweepRun.prepare(sweep, layout, backend=backend)
    async with api:
        return run, await run.execute(api, **kwargs)


def files_under(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()]


async def test_every_image_is_stored_and_logged_and_a_rerun_sends_nothing(
    panel_layout,
    simulator,
):
    layout = panel_layout
    seen: list[int] = []
    before = simulator.stats.requests
    run, summary = await execute(
        small_sweep(),
        layout,
        client(simulator),
        on_progress=lambda p: seen.append(p.images_done),
    )
    assert run.plan.requests == 2 * 3 * 2  # prompts x seeds x faces
    assert (summary.requests_sent, summary.images_stored, summary.requests_failed) == (12, 24, 0)
    assert simulator.stats.requests - before == 12
    assert seen[-1] == 24 and seen == sorted(seen)

    df = Catalogue(layout.catalogue).runs()
    assert (df["status"] == "ok").all() and len(df) == 24
    images = files_under(layout.images)
    assert len(images) == 24
    for row in df.itertuples():
        data = (layout.root / row.image_path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == row.image_hash
    assert df.groupby("request_key")["sample_index"].apply(sorted).map(list).eq([[0, 1]] * 12).all()
    assert set(df["backend"]) == {SIMULATOR_BACKEND} and set(df["sweep_id"]) == {summary.sweep_id}

    # The API key is nowhere on disk: not in a column, not in any file.
    for path in files_under(layout.root):
        assert KEY.encode() not in path.read_bytes(), path

    before = simulator.stats.requests
    _, again = await execute(small_sweep(), layout, client(simulator))
    assert (again.requests_sent, again.skipped_stored) == (0, 12)
    assert simulator.stats.requests == before


async def test_seed_minus_one_is_requested_every_run_and_its_seed_recorded(
    panel_layout,
    simulator,
):
    sweep = small_sweep(prompts=["studio"], seeds=[-1, 5], faces=["hopper"], sample_number=1)
    for expected_rows in (2, 3):
        _, summary = await execute(sweep, panel_layout, client(simulator))
        df = Catalogue(panel_layout.catalogue).runs()
        assert len(df) == expected_rows
    assert summary.requests_sent == 1 and summary.skipped_stored == 1
    random_rows = df[df["seed"] == -1]
    assert len(random_rows) == 2
    assert (random_rows["seed_used"] > 0).all()  # the simulator says which seed it picked


@pytest.mark.parametrize(("cap", "images", "requests"), [(40, 40, 20), (25, 24, 12), (0, 0, 0)])
async def test_budget_cap_holds_exactly_under_concurrency(
    panel_layout,
    simulator,
    cap,
    images,
    requests,
):
    sweep = small_sweep(seeds="1-15", concurrency=16, max_images=cap)  # 60 cells, 120 images
    before = simulator.stats.requests
    run, summary = await execute(sweep, panel_layout, client(simulator))
    assert run.pending_images == images and run.pending_requests == requests
    assert summary.images_stored == images
    assert simulator.stats.requests - before == requests
    assert summary.skipped_budget == 60 - requests
    assert len(files_under(panel_layout.images)) == images


async def test_time_estimates_learn_from_past_runs(panel_layout, simulator):
    sweep = small_sweep(seeds="1-4")
    fresh = SweepRun.prepare(sweep, panel_layout, backend=SIMULATOR_BACKEND)
    assert fresh.estimated_latency(SIMULATOR_BACKEND) == (0.25, "assumed: no past runs to measure")
    assert fresh.capped_by_budget is False
    await execute(small_sweep(seeds="1-2"), panel_layout, client(simulator))
    latencies = Catalogue(panel_layout.catalogue).runs().query("sample_index == 0")["latency_ms"]

    seconds, basis = SweepRun.prepare(
        sweep, panel_layout, backend=SIMULATOR_BACKEND
    ).estimated_latency(SIMULATOR_BACKEND)

    assert seconds == pytest.approx(latencies.median() / 1000)
    assert basis == f"median of {len(latencies)} past requests"
    assert SweepRun.prepare(
        small_sweep(seeds="5-9", max_images=4), panel_layout, backend=SIMULATOR_BACKEND
    ).capped_by_budget


async def test_a_refused_key_stops_the_sweep_at_once(panel_layout, simulator):
    sweep = small_sweep(seeds="1-25", concurrency=4)  # 100 cells
    before = simulator.stats.requests
    run, summary = await execute(sweep, panel_layout, client(simulator, key="wrong-key"))
    sent = simulator.stats.requests - before
    assert summary.stopped == "auth"
    assert "refused" in summary.stop_reason
    assert sent <= 4  # only what was already in flight
    df = Catalogue(panel_layout.catalogue).runs()
    assert set(df["error_class"]) == {"AuthError"} and len(df) <= 4
    assert not panel_layout.images.exists() or not files_under(panel_layout.images)


def jpeg_uri(width: int, height: int, shade: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (shade % 256, 90, 160)).save(buffer, format="JPEG")
    return JPEG_DATA_URI_PREFIX + base64.b64encode(buffer.getvalue()).decode()


FAKE_URL = "http://api.test"  # FakeApi's identity: a real API, as far as the workbench knows


class FakeApi:
    """An HTTP double for replies the simulator does not give: 402, or a 503 for one seed."""

    def __init__(
        self,
        *,
        credits: int | None = None,
        failing_seed: int | None = None,
        refused_seeds: tuple[int, ...] = (),
    ):
        self.credits = credits
        self.failing_seed = failing_seed
        self.refused_seeds = refused_seeds
        self.calls = 0
        self.in_flight = 0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.calls += 1
        self.in_flight += 1
        try:
            await asyncio.sleep(0.05)
            if self.credits is not None:
                if self.credits <= 0:
                    return httpx.Response(402, json={"error": "out of credits"})
                self.credits -= 1
            if body["seed"] == self.failing_seed:
                return httpx.Response(503, text="upstream overloaded")
            if body["seed"] in self.refused_seeds:
                return httpx.Response(400, json={"error": "prompt refused by policy"})
            width, height = body["outputImageWidth"], body["outputImageHeight"]
            uris = [jpeg_uri(width, height, body["seed"] + i) for i in range(body["sampleNumber"])]
            return httpx.Response(200, json={"outputImages": uris})
        finally:
            self.in_flight -= 1

    def client(self, concurrency: int = 8) -> HeadshotClient:
        return HeadshotClient(
            "http://api.test",
            KEY,
            max_concurrency=concurrency,
            retry=FAST_RETRY,
            transport=httpx.MockTransport(self),
        )


async def test_out_of_credits_stops_and_cancels_requests_in_flight(panel_layout):
    api = FakeApi(credits=10)
    sweep = small_sweep(seeds="1-25", concurrency=8, sample_number=1)  # 100 cells
    run, summary = await execute(sweep, panel_layout, api.client(), backend=FAKE_URL)
    assert summary.stopped == "credits"
    assert summary.images_stored == 10
    assert api.calls < 10 + 2 * 8  # stopped within one wave, not after 100 requests
    df = Catalogue(panel_layout.catalogue).runs()
    assert (df["status"] == "ok").sum() == 10
    # Requests cancelled in flight are not failures: they are simply not stored, so re-run.
    assert set(df.loc[df["status"] == "failed", "error_class"]) == {"OutOfCredits"}
    assert len(run.plan.pending(Catalogue(panel_layout.catalogue).stored_keys())) == 90


async def test_a_refused_request_gives_its_budget_back(panel_layout):
    # 8 one-image cells under a cap of 4: seeds 1 and 2 are refused (400, not billed), so their
    # reservation returns and four images are still bought; a refused request costs nothing.
    api = FakeApi(refused_seeds=(1, 2))
    sweep = small_sweep(
        prompts=["studio"],
        seeds="1-8",
        faces=["hopper"],
        sample_number=1,
        max_images=4,
        concurrency=1,
    )
    run = SweepRun.prepare(sweep, panel_layout, backend=FAKE_URL)
    async with api.client(concurrency=1) as client:
        summary = await run.execute(client)
    assert summary.failures == {"InvalidRequest": 2}
    assert summary.images_stored == 4 and summary.cost == 0
    stored = Catalogue(panel_layout.catalogue).runs().query("status == 'ok'")
    assert sorted(stored["seed"]) == [3, 4, 5, 6]
    assert summary.skipped_budget == 2


async def test_one_cell_failing_is_logged_with_its_reason_and_the_sweep_goes_on(
    panel_layout,
):
    api = FakeApi(failing_seed=2)
    sweep = small_sweep(sample_number=1)  # seeds 1-3, two prompts, two faces: 12 cells
    _, summary = await execute(sweep, panel_layout, api.client(), backend=FAKE_URL)
    assert summary.stopped is None
    assert (summary.images_stored, summary.requests_failed) == (8, 4)
    assert summary.failures == {"TransientError": 4}
    failed = Catalogue(panel_layout.catalogue).runs().query("status == 'failed'")
    assert (failed["seed"] == 2).all()
    assert failed["error"].str.contains("503").all()
    assert (failed["attempts"] == FAST_RETRY.attempts).all()
    assert (failed["latency_ms"] > 0).all()
    assert failed["image_hash"].isna().all()

    # A later run retries exactly the failed cells.
    api.failing_seed = None
    calls = api.calls
    _, again = await execute(sweep, panel_layout, api.client(), backend=FAKE_URL)
    assert again.requests_sent == 4 and api.calls - calls == 4
    assert again.requests_failed == 0


async def test_cancelling_keeps_every_result_already_received(panel_layout):
    with SimulatorServer(SimulatorConfig(api_key=KEY, latency_ms=200)) as slow:
        sweep = small_sweep(seeds="1-10", concurrency=4, sample_number=1)  # 40 cells
        run = SweepRun.prepare(sweep, panel_layout, backend=SIMULATOR_BACKEND)
        progressed = asyncio.Event()

        def on_progress(progress: Progress) -> None:
            if progress.requests_done >= 6:
                progressed.set()

        async with client(slow, concurrency=4) as api:
            task = asyncio.create_task(run.execute(api, on_progress=on_progress))
            await asyncio.wait_for(progressed.wait(), timeout=30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        summary = run.summary()
        assert summary.stopped == "cancelled"
        stored = Catalogue(panel_layout.catalogue).stored_keys()
        assert len(stored) == summary.images_stored == run.progress.requests_done
        assert 6 <= len(stored) < 40

        before = slow.stats.requests
        rerun = SweepRun.prepare(sweep, panel_layout, backend=SIMULATOR_BACKEND)
        assert len(rerun.pending) == 40 - len(stored)
        async with client(slow, concurrency=16) as api:
            final = await rerun.execute(api)
        assert final.images_stored == 40 - len(stored)
        assert slow.stats.requests - before == 40 - len(stored)


@pytest.mark.e2e
async def test_300_cells_under_heavy_faults_lose_nothing(panel_layout):
    faults = Faults(
        error_rate=0.2,
        rate_limit_rate=0.1,
        hang_rate=0.05,
        malformed_rate=0.02,
        fault_seed=7,
        retry_after_s=0.02,
    )
    sweep = Sweep.build(
        prompts=["studio", "noir", "office", "beach", "forest"],
        seeds="1-30",
        sizes=["512x512"],
        concurrency=32,
    )
    layout = panel_layout
    with SimulatorServer(SimulatorConfig(api_key=KEY, latency_ms=20, faults=faults)) as server:
        fast = dict(
            timeout=0.5, retry=RetryPolicy(attempts=3, timeout=5, wait_initial=0.01, wait_max=0.05)
        )
        # Half-second timeouts on a loaded machine can look like a dead API (connect timeouts);
        # this test is about faults healing or being logged, so the circuit breaker stays out.
        run = SweepRun.prepare(sweep, layout, backend=SIMULATOR_BACKEND)
        run.breaker_failures = 10**6
        async with client(server, concurrency=32, **fast) as api:
            first = await run.execute(api)
        assert run.plan.requests == 300
        catalogue = Catalogue(layout.catalogue)
        df = catalogue.runs()
        ok, failed = df[df["status"] == "ok"], df[df["status"] == "failed"]
        # Every cell is either stored or logged as failed with its reason.
        assert set(df["request_key"]) == {cell.key for cell in run.plan.cells}
        assert len(set(ok["request_key"])) + len(set(failed["request_key"])) == 300
        assert failed["error_class"].notna().all() and failed["error"].str.len().gt(0).all()
        assert 0 < len(failed) < 300 and first.requests_failed == len(failed)
        assert {"TransientError", "MalformedReply"} & set(failed["error_class"])
        # Images on disk = ok rows; no request key stored twice.
        assert len(files_under(layout.images)) == len(ok)
        assert not ok.duplicated(["request_key", "sample_index"]).any()

        # The second run sends the failed cells and nothing else.
        rerun = SweepRun.prepare(sweep, layout, backend=SIMULATOR_BACKEND)
        assert {cell.key for cell in rerun.pending} == set(failed["request_key"])
        rerun.breaker_failures = 10**6
        async with client(server, concurrency=32, **fast) as api:
            second = await rerun.execute(api)
        assert second.requests_sent == len(failed)
        df = catalogue.runs()
        ok = df[df["status"] == "ok"]
        assert not ok.duplicated(["request_key", "sample_index"]).any()
        assert len(files_under(layout.images)) == len(ok)


def closed_port_url() -> str:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


async def test_a_dead_api_trips_the_circuit_breaker(panel_layout):
    sweep = small_sweep(seeds="1-10", concurrency=4, sample_number=1)  # 40 cells
    dead = HeadshotClient(closed_port_url(), KEY, max_concurrency=4, retry=FAST_RETRY)
    run, summary = await execute(sweep, panel_layout, dead)
    assert summary.stopped == "unreachable"
    assert "8 requests in a row could not reach the API" in summary.stop_reason
    assert 8 <= summary.requests_sent <= 8 + 4 and summary.all_failed
    assert summary.not_tried >= 40 - 12


async def test_a_simulator_answering_for_a_real_api_is_not_kept(panel_layout):
    from workbench.contract import SIMULATOR_HEADER

    api = FakeApi()

    async def marked(request: httpx.Request) -> httpx.Response:
        reply = await api(request)
        reply.headers[SIMULATOR_HEADER] = "simulator"
        return reply

    sweep = small_sweep(seeds="1-5", concurrency=2, sample_number=1)
    run = SweepRun.prepare(sweep, panel_layout, backend="http://api.test")
    fake = HeadshotClient(
        "http://api.test", KEY, retry=FAST_RETRY, transport=httpx.MockTransport(marked)
    )
    async with fake:
        summary = await run.execute(fake, backend="http://api.test")
    assert summary.stopped == "simulator" and "not real portraits" in summary.stop_reason
    assert summary.images_stored == 0
    assert Catalogue(panel_layout.catalogue).runs().empty
    with pytest.raises(ValueError, match="prepared for backend 'http://api.test'"):
        await SweepRun.prepare(sweep, panel_layout, backend="http://api.test").execute(
            fake, backend="simulator"
        )


async def test_results_count_as_stored_only_for_the_backend_that_made_them(panel_layout, simulator):
    sweep = small_sweep(seeds="1-2", sample_number=1)  # 8 cells
    _, first = await execute(sweep, panel_layout, client(simulator))
    assert first.images_stored == 8
    real = SweepRun.prepare(sweep, panel_layout, backend="https://api.example.com")
    assert len(real.pending) == 8  # simulator pictures never stand in for real ones
    assert len(SweepRun.prepare(sweep, panel_layout, backend=SIMULATOR_BACKEND).pending) == 0
    assert set(Catalogue(panel_layout.catalogue).runs()["backend"]) == {SIMULATOR_BACKEND}


def test_durations_read_as_a_person_says_them():
    from workbench.run import format_duration

    assert format_duration(4.24) == "4.2 s"
    assert format_duration(185) == "3 min 05 s"
    assert format_duration(2 * 3600 + 7 * 60 + 10) == "2 h 07 min"


def test_no_function_that_keys_or_stores_results_defaults_the_backend():
    # A caller that forgot the backend used to record paid real-API results as simulator rows.
    from workbench.hunt.run import Hunt
    from workbench.run import run_sweep
    from workbench.sweep import plan, request_key
    from workbench.templates.apply import apply_template
    from workbench.templates.drift import check_drift

    for function in (
        SweepRun.__init__,
        SweepRun.prepare,
        run_sweep,
        plan,
        request_key,
        Hunt.run,
        apply_template,
        check_drift,
    ):
        backend = inspect.signature(function).parameters["backend"]
        assert backend.default is inspect.Parameter.empty, function.__qualname__


async def test_a_real_api_run_is_never_stored_under_the_simulators_identity(panel_layout):
    with pytest.raises(TypeError, match="backend"):
        SweepRun.prepare(small_sweep(), panel_layout)  # type: ignore[call-arg]
    # Prepared for the simulator, answered by an API that is not the simulator: nothing kept.
    api = FakeApi()
    sweep = small_sweep(seeds="1-5", concurrency=2, sample_number=1)
    run = SweepRun.prepare(sweep, panel_layout, backend=SIMULATOR_BACKEND)
    async with api.client(concurrency=2) as client:
        summary = await run.execute(client)
    assert summary.stopped == "simulator"
    assert "never stored under the simulator's identity" in summary.stop_reason
    assert summary.images_stored == 0 and api.calls <= 2
    assert Catalogue(panel_layout.catalogue).runs().empty
    assert not panel_layout.images.exists() or not files_under(panel_layout.images)
    # Prepared for its own identity, the same API's pictures are kept, under that identity.
    run = SweepRun.prepare(sweep, panel_layout, backend=FAKE_URL)
    async with api.client(concurrency=2) as client:
        summary = await run.execute(client)
    assert summary.images_stored == 20
    assert set(Catalogue(panel_layout.catalogue).runs()["backend"]) == {FAKE_URL}
