"""A Patchworks Core API simulator (docs/core-api-dialect.md) for tests, benches and the demo."""

from __future__ import annotations

from syncbot_sandbox.simulator.app import create_app, serve
from syncbot_sandbox.simulator.world import Burst, SimulatorConfig, World

__all__ = ["Burst", "SimulatorConfig", "World", "create_app", "serve"]
