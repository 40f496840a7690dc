"""`syncbot-sandbox demo` as a real process: one URL, free ports (two at once do not collide), a clear line
for a taken port, and a clean stop on Ctrl-C or SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow

START_TIMEOUT = 30.0


def _start(data_dir: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "syncbot_sandbox", "demo", "--data-dir", str(data_dir), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _url(process: subprocess.Popen[str]) -> str:
    """The one URL the demo prints once everything listens."""
    lines: list[str] = []
    assert process.stdout is not None
    stdout = process.stdout
    reader = threading.Thread(target=lambda: lines.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_TIMEOUT)
    assert lines, "the demo printed nothing"
    assert lines[0], "the demo printed an empty line"
    urls = re.findall(r"http://\S+", lines[0])
    assert len(urls) == 1, lines[0]
    return str(urls[0]).rstrip("/")


def _stop(process: subprocess.Popen[str], sig: signal.Signals) -> tuple[int, str]:
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)  # within the runtime's shutdown grace (25 s) and some
    return process.returncode, stderr


def test_two_demos_run_side_by_side_and_stop_cleanly(tmp_path: Path) -> None:
    data = tmp_path / "demo-data"  # shared on purpose: each run keeps its own database
    first, second = _start(data), _start(data)
    try:
        urls = [_url(first), _url(second)]
        assert urls[0] != urls[1]
        for url in urls:
            page = httpx.get(f"{url}/", timeout=5)
            assert page.status_code == 200
            assert "failed-syncs" in page.text
            state = httpx.get(f"{url}/_sandbox/state", timeout=5).json()
            assert [channel["name"] for channel in state["channels"]] == ["failed-syncs"]
    finally:
        results = [_stop(first, signal.SIGINT), _stop(second, signal.SIGTERM)]
    for code, stderr in results:
        assert code == 0, stderr
        assert "Traceback" not in stderr
    assert not list(data.glob("*.db*")), "a demo left its database behind"


def test_a_taken_port_is_named_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = _start(tmp_path / "demo-data", "--port", str(port))
        stdout, stderr = process.communicate(timeout=START_TIMEOUT)
    assert process.returncode == 1
    assert stdout == ""
    [line] = stderr.strip().splitlines()
    assert f"port {port}" in line
    assert "--port" in line
