"""What the users service does. Handlers never commit: the request scope does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.domain import cachekeys, suppressions
from herald.domain.errors import HeraldError
from herald.domain.ratelimits import Rule
from herald.kit import auth
from herald.kit.db import after_commit
from herald.kit.ratelimit import too_many
from herald.ports import Cache, RateLimit, RateLimiter
from herald.services.users import schemas
from herald.services.users.models import Device, Suppression, User
from herald.services.users.repositories import SuppressionRepository, UserRepository

password_hasher = PasswordHasher()
_hasher = password_hasher
# Verified against when the email is unknown, so that login takes as long either way.
_DUMMY_HASH = _hasher.hash("herald-timing-equaliser")


@dataclass
class UsersContext:
    cache: Cache
    keys: auth.Keys
    jwt_ttl: int
    allow_private_targets: bool
    limiter: RateLimiter
    login_per_account: Rule
    login_per_address: Rule
    # Argon2 takes ~50 ms of a core and 64 MiB per hash, in a thread: on two cores, two
    # at a time is all that can run without starving every other request.
    hashing: asyncio.Semaphore = field(default_factory=lambda: asyncio.Semaphore(2))


async def _argon2(ctx: UsersContext, work: Callable[..., Any], *args: str) -> Any:
    async with ctx.hashing:
        return await asyncio.to_thread(work, *args)


async def _hash(ctx: UsersContext, password: str) -> str:
    # Argon2 is deliberately slow: keep it off the event loop.
    return str(await _argon2(ctx, _hasher.hash, password))


def _forget(session: AsyncSession, ctx: UsersContext, user_id: uuid.UUID) -> None:
    _drop_cached(session, ctx, cachekeys.user_contact(str(user_id)))


async def suppressed_many(
    session: AsyncSession, channel: str, addresses: list[str]
) -> dict[str, str]:
    """Of ``addresses``, those suppressed and why, by the address as given."""
    ids = {a: suppressions.suppression_id(channel, a) for a in addresses}
    found = await SuppressionRepository(session).many(list(set(ids.values())))
    reasons = {entry.id: entry.reason for entry in found}
    return {a: reasons[i] for a, i in ids.items() if i in reasons}


def _drop_cached(session: AsyncSession, ctx: UsersContext, key: str) -> None:
    """Drop ``key`` from the gateway's cache once the change is committed."""

    async def drop() -> None:
        await ctx.cache.delete(key)

    after_commit(session, drop)


async def _flush_unique(session: AsyncSession, what: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        raise HeraldError.conflict(what)


async def create_user(session: AsyncSession, ctx: UsersContext, body: schemas.UserCreate) -> User:
    repo = UserRepository(session)
    email = body.email.lower()
    if await repo.by_email(email) is not None:
        raise HeraldError.conflict(f"a user with email {email} already exists")
    user = User(
        name=body.name,
        email=email,
        password_hash=await _hash(ctx, body.password),
        locale=body.locale,
        timezone=body.timezone,
        email_enabled=body.preferences.email,
        push_enabled=body.preferences.push,
        sms_enabled=body.preferences.sms,
        chat_enabled=body.preferences.chat,
        in_app_enabled=body.preferences.in_app,
        phone=body.phone,
        quiet_hours=_quiet_hours(body.preferences),
        role=body.role,
    )
    repo.add(user)
    await _flush_unique(session, f"a user with email {email} already exists")
    if body.push_token:
        repo.add(Device(user_id=user.id, kind="fcm", address=body.push_token))
        await session.flush()
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await UserRepository(session).get(user_id)
    if user is None:
        raise HeraldError.not_found(f"user {user_id}")
    return user


async def update_user(
    session: AsyncSession, ctx: UsersContext, user_id: uuid.UUID, body: schemas.UserUpdate
) -> User:
    user = await get_user(session, user_id)
    fields = body.model_dump(exclude_unset=True)
    if fields.get("name") is not None:
        user.name = fields["name"]
    if fields.get("email") is not None and fields["email"].lower() != user.email:
        user.email = fields["email"].lower()
        user.email_bounce = None  # a new address starts with a clean record
    if fields.get("password") is not None:
        user.password_hash = await _hash(ctx, fields["password"])
        user.token_version += 1  # every token signed before is revoked
    if fields.get("locale") is not None:
        user.locale = fields["locale"]
    if fields.get("timezone") is not None:
        user.timezone = fields["timezone"]
    if fields.get("role") is not None:
        user.role = fields["role"]
    if "phone" in fields:  # null takes the number away
        user.phone = fields["phone"]
    if body.preferences is not None:
        _prefer(user, body.preferences)
    await _flush_unique(session, f"a user with email {user.email} already exists")
    if body.push_token:
        await add_device(
            session, ctx, user_id, schemas.FcmDeviceIn(kind="fcm", token=body.push_token)
        )
    _forget(session, ctx, user_id)
    return user


async def delete_user(session: AsyncSession, ctx: UsersContext, user_id: uuid.UUID) -> None:
    user = await get_user(session, user_id)
    await UserRepository(session).delete(user)
    _forget(session, ctx, user_id)


async def set_preferences(
    session: AsyncSession, ctx: UsersContext, user_id: uuid.UUID, body: schemas.Preferences
) -> User:
    user = await get_user(session, user_id)
    _prefer(user, body)
    _forget(session, ctx, user_id)
    return user


def _prefer(user: User, preferences: schemas.Preferences) -> None:
    user.email_enabled, user.push_enabled = preferences.email, preferences.push
    user.sms_enabled, user.chat_enabled = preferences.sms, preferences.chat
    user.in_app_enabled = preferences.in_app
    if "quiet_hours" in preferences.model_fields_set:  # omitted: left as they are
        user.quiet_hours = _quiet_hours(preferences)


def _quiet_hours(preferences: schemas.Preferences) -> dict[str, str] | None:
    q = preferences.quiet_hours
    return None if q is None else {"start": q.start, "end": q.end}


async def add_device(
    session: AsyncSession,
    ctx: UsersContext,
    user_id: uuid.UUID,
    body: schemas.FcmDeviceIn | schemas.WebPushDeviceIn | schemas.ChatDeviceIn,
) -> Device:
    await get_user(session, user_id)
    repo = UserRepository(session)
    p256dh = auth_secret = None
    why = body.refused(allow_private=ctx.allow_private_targets)
    if why is not None:
        raise HeraldError.invalid(why)
    if isinstance(body, schemas.WebPushDeviceIn):
        p256dh, auth_secret = body.subscription.keys.p256dh, body.subscription.keys.auth
    address = body.address
    device = await repo.device_by_address(user_id, address)
    if device is None:
        device = Device(user_id=user_id, kind=body.kind, address=address)
        repo.add(device)
    # Registering a known device again refreshes its keys and makes it usable again.
    device.p256dh, device.auth, device.valid, device.invalid_reason = (
        p256dh,
        auth_secret,
        True,
        None,
    )
    await _flush_unique(session, "this device is already registered")
    _forget(session, ctx, user_id)
    return device


async def remove_device(
    session: AsyncSession, ctx: UsersContext, user_id: uuid.UUID, device_id: uuid.UUID
) -> None:
    device = await UserRepository(session).device(device_id)
    if device is None or device.user_id != user_id:
        raise HeraldError.not_found(f"device {device_id}")
    await session.delete(device)
    _forget(session, ctx, user_id)


async def invalidate_device(
    session: AsyncSession, ctx: UsersContext, device_id: uuid.UUID, reason: str
) -> None:
    device = await UserRepository(session).device(device_id)
    if device is None:
        raise HeraldError.not_found(f"device {device_id}")
    device.valid, device.invalid_reason = False, reason
    _forget(session, ctx, device.user_id)
    # Gone for its user is gone for anyone who names it directly.
    await suppress(session, ctx, "push", device.address, f"device gone: {reason}")


async def unsubscribe(
    session: AsyncSession, ctx: UsersContext, user_id: uuid.UUID, channel: str
) -> User:
    user = await get_user(session, user_id)
    if channel == "email":
        user.email_enabled = False
    else:
        user.push_enabled = False
    _forget(session, ctx, user_id)
    return user


async def record_bounce(
    session: AsyncSession, ctx: UsersContext, email: str, reason: str
) -> User | None:
    user = await UserRepository(session).by_email(email.lower())
    if user is not None:
        user.email_bounce = reason
        _forget(session, ctx, user.id)
    await suppress(session, ctx, "email", email, f"hard bounce: {reason}")
    return user


async def suppress(
    session: AsyncSession, ctx: UsersContext, channel: str, address: str, reason: str
) -> Suppression:
    """Put an address on the suppression list; one already there keeps its first reason."""
    entry_id = suppressions.suppression_id(channel, address)
    repo = SuppressionRepository(session)
    entry = await repo.get(entry_id)
    if entry is None:
        entry = Suppression(
            id=entry_id,
            channel=channel,
            address=suppressions.normalized(channel, address),
            reason=reason[:2000],
        )
        repo.add(entry)
        await session.flush()
        _drop_cached(session, ctx, cachekeys.suppression(entry_id))
    return entry


async def unsuppress(session: AsyncSession, ctx: UsersContext, entry_id: str) -> None:
    repo = SuppressionRepository(session)
    entry = await repo.get(entry_id)
    if entry is None:
        raise HeraldError.not_found(f"suppression {entry_id}")
    await repo.delete(entry)
    _drop_cached(session, ctx, cachekeys.suppression(entry_id))


async def suppressed(session: AsyncSession, channel: str, address: str) -> str | None:
    """Why ``address`` is suppressed, or None when it is not."""
    entry = await SuppressionRepository(session).get(suppressions.suppression_id(channel, address))
    return None if entry is None else entry.reason


async def login(
    session: AsyncSession, ctx: UsersContext, body: schemas.Login, *, client: str
) -> dict[str, Any]:
    email = body.email.lower()
    # Every attempt is counted first and a successful one given back: only failures
    # spend the limits, and guessing stops at them however fast it comes.
    limits = (
        RateLimit(ctx.login_per_account, f"login:account:{email}"),
        RateLimit(ctx.login_per_address, f"login:address:{client}"),
    )
    decisions = await ctx.limiter.hit(*limits)
    for scope, decision in zip(("account", "client address"), decisions, strict=True):
        if not decision.allowed:
            raise too_many(f"{scope}'s failed logins", decision)
    user = await UserRepository(session).by_email(email)
    stored = user.password_hash if user is not None else _DUMMY_HASH
    try:
        await _argon2(ctx, _hasher.verify, stored, body.password)
        matched = user is not None
    except (VerifyMismatchError, InvalidHashError):
        matched = False
    if not matched or user is None:
        raise HeraldError.unauthorized("email or password is wrong")
    await ctx.limiter.refund(*limits)
    token = auth.mint(
        ctx.keys.user,
        subject=f"user:{user.id}",
        ttl=ctx.jwt_ttl,
        user_id=str(user.id),
        version=user.token_version,
    )
    return schemas.TokenOut(access_token=token, expires_in=ctx.jwt_ttl).model_dump()


async def contact(session: AsyncSession, user_id: uuid.UUID) -> dict[str, Any]:
    """Everything the gateway needs to route one notification, in one read."""
    user = await UserRepository(session).get(user_id, with_devices=True)
    if user is None:
        raise HeraldError.not_found(f"user {user_id}")
    return _contact(user, [device_contact(d) for d in user.devices if d.valid])


async def contacts(session: AsyncSession, user_ids: list[uuid.UUID]) -> list[dict[str, Any]]:
    """The contacts of those of ``user_ids`` that exist, in one read (a topic's page)."""
    users, devices = await UserRepository(session).contacts(user_ids)
    return [_contact(u, [device_contact(d) for d in devices.get(u.id, ())]) for u in users]


def device_contact(d: Device | Row[Any]) -> dict[str, Any]:
    """A device as the workers see it: the address each kind is sent to."""
    found: dict[str, Any] = {"id": str(d.id), "kind": d.kind}
    if d.kind == "fcm":
        found["token"] = d.address
    elif d.kind == "webpush":
        found["subscription"] = {
            "endpoint": d.address,
            "keys": {"p256dh": d.p256dh, "auth": d.auth},
        }
    else:
        found["webhook_url"] = d.address
    return found


def _contact(user: User | Row[Any], devices: list[dict[str, Any]]) -> dict[str, Any]:
    """A user (or a row of its columns) and its valid devices as the gateway routes
    to them."""
    return {
        "user_id": str(user.id),
        "name": user.name,
        "email": user.email,
        "locale": user.locale,
        "timezone": user.timezone,
        "preferences": {
            "email": user.email_enabled,
            "push": user.push_enabled,
            "sms": user.sms_enabled,
            "chat": user.chat_enabled,
            "in_app": user.in_app_enabled,
        },
        "phone": user.phone,
        "quiet_hours": user.quiet_hours,
        "email_bounce": user.email_bounce,
        "devices": devices,
    }
