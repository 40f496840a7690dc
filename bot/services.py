"""Everything the handlers, the poller and the scheduler share, built once from settings."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.authz import Authorizer
from bot.bulk import BulkJobs
from bot.config import Settings
from bot.digests import DigestPublisher
from bot.effects import EffectOutbox
from bot.follow import ResyncFollower, stranded_after
from bot.inflight import InFlight
from bot.listing import Lister
from bot.metrics import Metrics
from bot.patchworks.core_api import CoreApiReport
from bot.patchworks.report import SyncReport
from bot.poller import Poller
from bot.resync import Resyncer
from bot.routes import Router, load_routes
from bot.slack import SlackClient, build_web_client
from bot.store import Store

__all__ = ["Services", "build_services", "router_of"]

log = logging.getLogger(__name__)


@dataclass
class Services:
    """The bot's collaborators; handlers receive this, never settings or globals."""

    settings: Settings
    report: SyncReport
    store: Store
    slack: SlackClient
    digests: DigestPublisher
    effects: EffectOutbox
    follower: ResyncFollower
    poller: Poller
    resyncer: Resyncer
    lister: Lister
    authz: Authorizer
    jobs: BulkJobs
    inflight: InFlight = field(default_factory=InFlight)
    metrics: Metrics = field(default_factory=Metrics)
    last_poll_at: datetime | None = None
    last_poll_error: str | None = None
    is_poller: bool = False

    def __post_init__(self) -> None:
        self.metrics.watch(self.report, self.slack)  # GET /metrics counts their calls

    async def aclose(self) -> None:
        """Close connections to Patchworks, Slack and the database."""
        await self.report.aclose()
        await self.store.close()
        session = getattr(self.slack.web, "session", None)
        if session is not None and not session.closed:
            await session.close()


def router_of(settings: Settings) -> Router:
    """SYNCBOT_ROUTES read (checked already when the settings loaded), with SYNCBOT_CHANNEL for the rest."""
    assert settings.syncbot_channel is not None
    routes = load_routes(settings.syncbot_routes) if settings.syncbot_routes is not None else ()
    return Router(routes=routes, default=settings.syncbot_channel)


async def build_services(
    settings: Settings, *, report: SyncReport | None = None, post_interval: float = 1.0
) -> Services:
    """Connect to the database and build every collaborator from settings."""
    settings.require_for_poll()
    assert settings.slack_bot_token is not None
    assert settings.syncbot_channel is not None
    assert settings.patchworks_api_key is not None
    store = await Store.open(settings.database_url)
    if report is None:
        api_key = settings.patchworks_api_key.get_secret_value()
        report = CoreApiReport(
            settings.patchworks_api_url,
            api_key,
            app_url=settings.patchworks_app_url,
            requests_per_minute=settings.patchworks_requests_per_minute,
            timeout=settings.patchworks_timeout_seconds,
            # Replicas on PostgreSQL share the account's budget through a locked row. On SQLite
            # (one process) each send would queue behind every other writer for the file lock.
            shared_window=store.patchworks_budget(api_key) if store.is_postgres else None,
        )
    web = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    slack = SlackClient(web, post_interval=post_interval)
    digests = DigestPublisher(store, slack, settings.syncbot_channel)
    effects = EffectOutbox(store, digests)
    follower = ResyncFollower(
        report, store, effects, stranded=stranded_after(settings.patchworks_timeout_seconds)
    )
    poller = Poller(
        report,
        store,
        slack,
        digests,
        follower,
        effects,
        lookback=timedelta(hours=settings.syncbot_lookback_hours),
        overlap=timedelta(seconds=settings.syncbot_overlap_seconds),
        max_messages=settings.syncbot_digest_max_messages,
        reopen=timedelta(hours=settings.syncbot_reopen_hours),
        router=router_of(settings),
    )
    authz = Authorizer(
        slack,
        settings.syncbot_resync_users,
        settings.syncbot_resync_groups,
        ttl=settings.syncbot_group_cache_seconds,
    )
    resyncer = Resyncer(report, store, effects)
    jobs = BulkJobs(report, store, resyncer, follower, effects, slack)
    return Services(
        settings=settings,
        report=report,
        store=store,
        slack=slack,
        digests=digests,
        poller=poller,
        effects=effects,
        follower=follower,
        resyncer=resyncer,
        lister=Lister(report, store),
        authz=authz,
        jobs=jobs,
    )
