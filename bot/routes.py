"""Routing: which channel a failure's digest goes to (SYNCBOT_ROUTES, a YAML file).

    routes:
      - channel: C0SHOP            # channel ID
        flows: ["Shopify*"]        # optional: case-insensitive globs on the flow name
        systems: ["Shopify"]       # optional: any of the run's systems
        statuses: [failure]        # optional: failure | partial

The first route whose every given condition matches wins; anything unmatched goes to
SYNCBOT_CHANNEL. A file that cannot be used is refused whole, naming the file, line and field:
a half-read routing table would send failures to the wrong people without anyone noticing.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.patchworks.models import RunStatus, SyncEntry

__all__ = ["Route", "Router", "RoutesError", "load_routes"]

_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]{2,31}")
_STATUSES = {"failure": RunStatus.FAILURE, "partial": RunStatus.PARTIAL_SUCCESS}
_FIELDS = frozenset({"channel", "flows", "systems", "statuses"})
# A routing table longer than this is a mistake (or an attack on start-up time), not a config.
_MAX_ROUTES = 500
_MAX_BYTES = 256 * 1024


class RoutesError(ValueError):
    """A routes file that cannot be used: where and why."""


@dataclass(frozen=True)
class Route:
    """One rule: failures matching it go to `channel`."""

    channel: str
    flows: tuple[str, ...] = ()  # lower-cased globs
    systems: tuple[str, ...] = ()  # lower-cased names
    statuses: frozenset[RunStatus] = frozenset()

    def matches(self, flow_name: str, systems: Sequence[str], status: RunStatus | None) -> bool:
        """Whether every condition this route sets holds."""
        if self.flows and not any(fnmatch.fnmatchcase(flow_name.casefold(), glob) for glob in self.flows):
            return False
        if self.systems and not {system.casefold() for system in systems} & set(self.systems):
            return False
        return not (self.statuses and status not in self.statuses)


@dataclass(frozen=True)
class Router:
    """The routing table and the channel for what it does not match."""

    routes: tuple[Route, ...]
    default: str

    def channel_for(self, entry: SyncEntry) -> str:
        """The channel whose digests show this failure."""
        return self.channel_of(entry.flow_name, entry.systems, entry.status)

    def channel_of(self, flow_name: str, systems: Sequence[str], status: RunStatus | None = None) -> str:
        """The channel for a flow with these systems (and, when known, this status)."""
        for route in self.routes:
            if route.matches(flow_name, systems, status):
                return route.channel
        return self.default

    @property
    def channels(self) -> tuple[str, ...]:
        """Every channel digests may go to, the default first."""
        return tuple(dict.fromkeys([self.default, *(route.channel for route in self.routes)]))


def load_routes(path: Path) -> tuple[Route, ...]:
    """The routes of a file; raises RoutesError naming the file, line and field of a problem."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RoutesError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > _MAX_BYTES:
        raise RoutesError(f"{path}: larger than {_MAX_BYTES // 1024} KiB")
    try:
        root = yaml.compose(raw.decode("utf-8"), Loader=yaml.SafeLoader)
    except UnicodeDecodeError:
        raise RoutesError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise RoutesError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(root, yaml.MappingNode):
        raise RoutesError(f"{path}:{_line(root)}: expected a mapping with a `routes:` list")
    routes_node = _get(root, "routes")
    if routes_node is None or not isinstance(routes_node, yaml.SequenceNode):
        raise RoutesError(f"{path}:{_line(routes_node or root)}: routes: expected a list of routes")
    if len(routes_node.value) > _MAX_ROUTES:
        raise RoutesError(f"{path}:{_line(routes_node)}: routes: more than {_MAX_ROUTES} routes")
    return tuple(_route(path, index, node) for index, node in enumerate(routes_node.value))


def _route(path: Path, index: int, node: yaml.Node) -> Route:
    here = f"routes[{index}]"
    if not isinstance(node, yaml.MappingNode):
        raise RoutesError(f"{path}:{_line(node)}: {here}: expected a mapping with `channel:`")
    for key, _ in node.value:
        if key.value not in _FIELDS:
            names = ", ".join(sorted(_FIELDS))
            raise RoutesError(f"{path}:{_line(key)}: {here}.{key.value}: unknown field (expected {names})")
    channel_node = _get(node, "channel")
    if channel_node is None:
        raise RoutesError(f"{path}:{_line(node)}: {here}.channel: missing")
    channel = _scalar(path, f"{here}.channel", channel_node)
    if not _CHANNEL_ID.fullmatch(channel):
        raise RoutesError(
            f"{path}:{_line(channel_node)}: {here}.channel: {channel!r} is not a channel ID (like C0123ABCD)"
        )
    flows = _strings(path, f"{here}.flows", _get(node, "flows"))
    systems = _strings(path, f"{here}.systems", _get(node, "systems"))
    statuses: set[RunStatus] = set()
    status_node = _get(node, "statuses")
    for status in _strings(path, f"{here}.statuses", status_node):
        if status.lower() not in _STATUSES:
            assert status_node is not None
            raise RoutesError(
                f"{path}:{_line(status_node)}: {here}.statuses: {status!r} is not failure or partial"
            )
        statuses.add(_STATUSES[status.lower()])
    return Route(
        channel=channel,
        flows=tuple(flow.casefold() for flow in flows),
        systems=tuple(system.casefold() for system in systems),
        statuses=frozenset(statuses),
    )


def _get(node: yaml.MappingNode, name: str) -> yaml.Node | None:
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode) and key.value == name:
            return value  # type: ignore[no-any-return]
    return None


def _scalar(path: Path, field: str, node: yaml.Node) -> str:
    if not isinstance(node, yaml.ScalarNode) or not str(node.value).strip():
        raise RoutesError(f"{path}:{_line(node)}: {field}: expected a non-empty text")
    return str(node.value).strip()


def _strings(path: Path, field: str, node: yaml.Node | None) -> tuple[str, ...]:
    if node is None:
        return ()
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        raise RoutesError(f"{path}:{_line(node)}: {field}: expected a non-empty list")
    return tuple(_scalar(path, field, item) for item in node.value)


def _line(node: Any) -> int:
    mark = getattr(node, "start_mark", None)
    return int(mark.line) + 1 if mark is not None else 1
