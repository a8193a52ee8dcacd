from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.domain.clock import Clock, SystemClock
from herald.domain.ratelimits import Rule
from herald.kit.auth import Keys
from herald.ports import Broker, RateLimiter, SmsReceipts, TargetCheck
from herald.services.gateway.clients import Directory
from herald.services.gateway.fanout import Fanout
from herald.services.gateway.feed.hub import FeedHub
from herald.services.gateway.feed.store import FeedStore
from herald.services.gateway.intake import Intake
from herald.services.gateway.keys import KeyVerifier
from herald.services.gateway.relay import OutboxRelay
from herald.services.gateway.retention import Retention
from herald.services.gateway.scheduler import Scheduler
from herald.services.gateway.status_events import StatusApplier


@dataclass
class GatewayContext:
    sessions: async_sessionmaker[AsyncSession]
    broker: Broker
    directory: Directory
    limiter: RateLimiter
    keys: KeyVerifier
    relay: OutboxRelay
    intake: Intake
    statuses: StatusApplier
    fanout: Fanout
    scheduler: Scheduler
    signing: Keys
    # Users' in-app feeds, and the streams open on this process.
    feeds: FeedStore
    hub: FeedHub
    rate_limit_per_key: Rule
    rate_limit_per_recipient: Rule
    public_url: str
    # Why a webhook URL may not be called (its form, a host not allowed, or a name
    # resolving to a private address), or None.
    webhook_target_check: TargetCheck
    vapid_public_key: str | None = None
    # Reads Twilio's signed delivery receipts, when Twilio sends the texts.
    sms_receipts: SmsReceipts | None = None
    # Whether a Web Push endpoint given directly (``to.device``) may be private.
    allow_private_targets: bool = False
    # Removes old notifications (HERALD_RETENTION_DAYS), or None to keep them.
    retention: Retention | None = None
    # The sites whose pages may read feeds from the browser (CORS).
    feed_origins: list[str] = field(default_factory=list)
    # How long a console sign-in lasts without use.
    console_session_seconds: int = 8 * 3600
    # What decides when scheduled work is due; tests move it by hand.
    clock: Clock = field(default_factory=SystemClock)
