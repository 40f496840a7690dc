"""The `syncbot-sandbox` command: demo, simulator."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bot.config import ConfigError, load_settings
from bot.logs import setup_logging
from bot.textsafe import for_terminal

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncbot-sandbox", description="syncbot on this machine, with no Slack or Patchworks account."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="the whole bot against a local Slack sandbox and the simulator")
    demo.add_argument("--port", type=int, default=0, help="sandbox page port (default: a free one)")
    demo.add_argument("--data-dir", default="./demo-data")
    sim = sub.add_parser("simulator", help="serve a Patchworks Core API simulator")
    sim.add_argument("--host", default="127.0.0.1")
    sim.add_argument("--port", type=int, default=8700)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--api-key", default="sim-key")
    sim.add_argument("--initial-failures", type=int, default=30)
    sim.add_argument("--failures-every", type=float, default=None, help="seconds between new failures")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `syncbot-sandbox` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(f"syncbot-sandbox: {for_terminal(str(exc))}", file=sys.stderr)
        return 2
    # Nothing here uses the shell's credentials (the demo makes up its own), so none to scrub;
    # LOG_LEVEL and the one log format are the bot's.
    setup_logging(settings.log_level)
    if args.command == "simulator":
        from syncbot_sandbox.simulator import SimulatorConfig, serve

        config = SimulatorConfig(
            seed=args.seed,
            api_key=args.api_key,
            initial_failures=args.initial_failures,
            failures_every_s=args.failures_every,
        )
        print(f"Patchworks simulator on http://{args.host}:{args.port}/api/v1 (API key {args.api_key!r})")
        serve(config, args.host, args.port)
        return 0
    from syncbot_sandbox.demo import run_demo

    return run_demo(port=args.port, data_dir=args.data_dir)
