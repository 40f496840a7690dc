"""The `syncbot` command: run, poll, check, audit."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import unquote

from bot.clock import parse_duration, utcnow
from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.textsafe import for_terminal

if TYPE_CHECKING:
    from bot.services import Services

__all__ = ["event_loop_factory", "main", "run_on_event_loop"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed, else None: asyncio's own (e.g. on Windows)."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run_on_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to the end, as asyncio.run does, on the loop `event_loop_factory` gives."""
    with asyncio.Runner(loop_factory=event_loop_factory()) as runner:
        return runner.run(main)


def _loop_name() -> str:
    kind = type(asyncio.get_running_loop())
    return f"{kind.__module__}.{kind.__qualname__}"


def _secrets(settings: Settings) -> list[str]:
    """Every credential in the settings, for the log filter to remove wherever it shows up."""
    values = (
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token,
        settings.patchworks_api_key,
        settings.syncbot_hook_secret,
    )
    found = [value.get_secret_value() for value in values if value is not None]
    # The password of any URL setting (up to the URL's last "@", as mask_url reads it), also in
    # its percent-decoded form, which is what a driver's error would quote.
    for name, field in type(settings).model_fields.items():
        value = getattr(settings, name)
        if field.annotation is str and isinstance(value, str):
            password = re.search(r"://[^:/@\s]*:(\S+)@", value)
            if password:
                found += [password.group(1), unquote(password.group(1))]
    return found


def _duration(raw: str) -> timedelta:
    since = parse_duration(raw)
    if since is None:
        raise argparse.ArgumentTypeError("expected a duration like 30m, 12h or 7d")
    return since


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="syncbot", description="Failed Patchworks syncs in Slack.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="serve Slack (HTTP or Socket Mode) and poll on a schedule")
    sub.add_parser("poll", help="run exactly one poll cycle and exit (for cron)")
    sub.add_parser("check", help="validate settings and reach Slack and Patchworks once")
    audit = sub.add_parser("audit", help="print the resync audit log")
    audit.add_argument(
        "--since", type=_duration, default=timedelta(days=7), help="e.g. 12h or 7d (default 7d)"
    )
    return parser


async def _poll_once(settings: Settings) -> int:
    from bot.services import build_services

    services = await build_services(settings)
    try:
        result = await services.poller.run_once()
    finally:
        await services.aclose()
    if result.error:
        print(f"syncbot: Patchworks error: {for_terminal(result.error)}", file=sys.stderr)
        return 1
    return 0


async def _run(settings: Settings) -> int:
    from bot.runtime import PortInUse, serve
    from bot.services import build_services

    log.info("event loop: %s", _loop_name())
    services = await build_services(settings)
    try:
        await serve(services)
    except PortInUse as exc:
        print(f"syncbot: {exc}; set PORT to a free one", file=sys.stderr)
        return 1
    return 0


async def _check(settings: Settings) -> int:
    from bot.patchworks.errors import PatchworksError
    from bot.services import build_services
    from bot.slack import SlackError

    services = await build_services(settings)
    ok = True
    try:
        try:
            bot_user = await services.slack.auth_test()
            print(f"Slack: token accepted (bot user {bot_user})")
        except SlackError as exc:
            ok = False
            print(f"Slack: {for_terminal(exc.error)}")
        try:
            async for _ in services.report.failed_pages(utcnow() - timedelta(hours=1)):
                break
            print("Patchworks: API key accepted")
        except PatchworksError as exc:
            ok = False
            print(f"Patchworks: {for_terminal(str(exc))}")
        await _print_routes(services, settings)
    finally:
        await services.aclose()
    return 0 if ok else 1


async def _print_routes(services: Services, settings: Settings) -> None:
    """Where each flow syncbot has seen fail goes (SYNCBOT_ROUTES, else SYNCBOT_CHANNEL)."""
    from bot.patchworks.models import RunStatus
    from bot.services import router_of

    router = router_of(settings)
    source = str(settings.syncbot_routes) if settings.syncbot_routes else "no SYNCBOT_ROUTES"
    print(f"Routes ({source}; the rest to {router.default}):")
    async with services.store.unit_of_work() as uow:
        flows = await uow.entries.known_flows()
    if not flows:
        print("  no failed flows seen yet")
    for flow_name, systems in flows:
        shown = for_terminal(flow_name)
        failed = router.channel_of(flow_name, systems, RunStatus.FAILURE)
        partly = router.channel_of(flow_name, systems, RunStatus.PARTIAL_SUCCESS)
        where = failed if failed == partly else f"{failed} (failures), {partly} (partial successes)"
        print(f"  {shown} → {where}")


async def _audit(settings: Settings, since: timedelta) -> int:
    from bot.store import Store

    store = await Store.open(settings.database_url)
    try:
        async with store.unit_of_work() as uow:
            rows = await uow.audit.since(utcnow() - since)
    finally:
        await store.close()
    if not rows:
        print("no resync attempts in that window")
    for row in rows:
        # Every field may hold remote text (Patchworks' refusal reasons) or a forged user id:
        # each row stays one line and no escape sequence reaches the terminal.
        user, action, result = (for_terminal(field) for field in (row.user_id, row.action, row.result))
        runs = ",".join(str(run) for run in row.run_ids) or "-"
        detail = f"  {for_terminal(row.detail)}" if row.detail else ""
        when = f"{row.at:%Y-%m-%d %H:%M:%S}Z"
        print(f"{when}  {user:<12} {action:<12} {result:<22} runs {runs}{detail}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `syncbot` console script."""
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "run":
            settings.require_for_run()
        elif args.command in ("poll", "check"):
            settings.require_for_poll()
    except ConfigError as exc:
        print(f"syncbot: {for_terminal(str(exc))}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, _secrets(settings), fmt=settings.log_format)
    if args.command == "audit":
        return run_on_event_loop(_audit(settings, args.since))
    runner = {"run": _run, "poll": _poll_once, "check": _check}[args.command]
    try:
        return run_on_event_loop(runner(settings))
    except ConfigError as exc:
        print(f"syncbot: {for_terminal(str(exc))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception:
        # Through logging rather than Python's own traceback print: secrets scrubbed, one header line.
        logging.getLogger("bot.cli").exception("syncbot %s failed", args.command)
        return 1
