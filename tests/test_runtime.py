"""The runtime `syncbot run` and the demo share: it says where it listens, serves /healthz and
Slack, and stops in order (stop accepting, drain acked work, hand the lease over, close)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from support.harness import FakeSlack, Sim, make_services

from bot.config import Settings
from bot.inflight import InFlight
from bot.runtime import PortInUse, running


async def test_running_serves_on_a_free_port_and_stops_in_order(
    settings: Settings, sim: Sim, slack: FakeSlack
) -> None:
    services = await make_services(settings)
    steps: list[str] = []
    drain, aclose = services.inflight.drain, services.aclose

    async def drained(grace: float, **options: float) -> int:
        steps.append("drain")
        return await drain(grace, **options)

    async def closed() -> None:
        steps.append(f"close (poller: {services.is_poller})")
        await aclose()

    async def acked_work() -> None:
        services.inflight.track_current()
        await asyncio.sleep(0.3)
        steps.append("acked work done")

    services.inflight.drain, services.aclose = drained, closed  # type: ignore[method-assign]
    async with running(services, host="127.0.0.1", port=0) as runtime:
        assert runtime.port != 0
        assert runtime.url == f"http://127.0.0.1:{runtime.port}"
        async with httpx.AsyncClient(base_url=runtime.url) as client:
            assert (await client.get("/healthz")).json()["mode"] == "http"
            unsigned = await client.post("/slack/events", content=b"{}")
        assert unsigned.status_code == 401  # the edge checks signatures, as in production
        work = asyncio.create_task(acked_work())
        await asyncio.sleep(0)
        runtime.stop()
        await asyncio.wait_for(runtime.wait(), 10)
        steps.append("server stopped")
    assert work.done()
    assert steps == ["server stopped", "drain", "acked work done", "close (poller: False)"]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{runtime.url}/healthz", timeout=2)


async def test_a_taken_port_fails_before_anything_starts(settings: Settings) -> None:
    services = await make_services(settings)
    aclose, closed = services.aclose, asyncio.Event()

    async def closing() -> None:
        closed.set()
        await aclose()

    services.aclose = closing  # type: ignore[method-assign]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse, match=f"port {port} on 127.0.0.1 is not available"):
            async with running(services, host="127.0.0.1", port=port):
                raise AssertionError("the block must not run")
    await asyncio.sleep(0.2)
    assert services.last_poll_at is None  # no poll was scheduled
    assert closed.is_set()  # the runtime owns the services, however it ends


async def test_a_shutdown_interrupts_a_slow_poll_but_lets_acked_work_finish() -> None:
    """A poll cycle (kill-safe) stuck behind Patchworks' budget is cancelled after its short
    grace; a person's resync in flight runs to its end."""
    inflight = InFlight()
    finished: list[str] = []

    async def poll() -> None:
        inflight.track_current(interruptible=True)
        await asyncio.sleep(3600)  # waiting for budget that will not come before the shutdown
        finished.append("poll")

    async def resync() -> None:
        inflight.track_current()
        await asyncio.sleep(0.5)
        finished.append("resync")

    tasks = [asyncio.create_task(poll()), asyncio.create_task(resync())]
    await asyncio.sleep(0)
    assert await inflight.drain(60, interrupt_after=0.05) == 0
    assert finished == ["resync"]
    assert tasks[0].cancelled()
    assert len(inflight) == 0
