"""`syncbot run` as a real process: serves /healthz and Slack, polls, and stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from support.harness import FakeSlack, Sim
from support.slack import shown_runs

pytestmark = pytest.mark.slow


def test_run_polls_serves_health_and_stops_cleanly_on_sigterm(
    sim: Sim, slack: FakeSlack, settings_env: dict[str, str]
) -> None:
    created = sim.world.add_failures(2, minutes_ago=3)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, **settings_env, "PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(shown_runs(slack)) < 2:
            assert process.poll() is None, "syncbot run exited early"
            assert time.monotonic() < deadline, "no digest posted"
            time.sleep(0.2)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
        assert health["status"] == "ok"
        assert health["mode"] == "http"
        assert health["poller"] is True
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert "everyone in the channel may resync" in stderr  # said at start-up: no allow-list set
    assert sorted(shown_runs(slack)) == sorted(created)
