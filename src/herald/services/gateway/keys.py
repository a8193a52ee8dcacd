"""API keys: created by the CLI or bootstrapped from settings, stored hashed."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.config import API_KEY_PREFIX
from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.kit.auth import Principal
from herald.kit.db import unit_of_work
from herald.services.gateway.models import ApiKey
from herald.services.gateway.repositories import ApiKeyRepository


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def prefix(key: str) -> str:
    """The start of a key that tells keys apart where the key itself is never shown."""
    return key[:10]


def generate() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


async def create(
    session: AsyncSession, *, name: str, scopes: list[str], key: str | None = None
) -> tuple[ApiKey, str]:
    key = key or generate()
    row = ApiKey(name=name, prefix=prefix(key), key_hash=digest(key), scopes=sorted(set(scopes)))
    ApiKeyRepository(session).add(row)
    await session.flush()
    return row, key


async def ensure(session: AsyncSession, key: str, *, name: str = "bootstrap") -> ApiKey:
    """Make sure an admin key with this exact value exists (HERALD_BOOTSTRAP_API_KEY)."""
    repo = ApiKeyRepository(session)
    row = await repo.by_hash(digest(key))
    if row is None:
        row, _ = await create(session, name=name, scopes=["admin"], key=key)
    elif row.revoked_at is not None or "admin" not in row.scopes:
        row.revoked_at, row.scopes = None, sorted({*row.scopes, "admin"})
    return row


async def bootstrap(
    sessions: async_sessionmaker[AsyncSession], key: str, *, name: str = "bootstrap"
) -> None:
    """``ensure`` in its own transaction, as a service does at start.

    Replicas starting together may both find no key and both insert it: the one that
    loses the race finds the winner's row on its second look.
    """
    for attempt in (1, 2):
        try:
            async with unit_of_work(sessions) as session:
                await ensure(session, key, name=name)
            return
        except IntegrityError:
            if attempt == 2:
                raise


async def revoke(session: AsyncSession, key_id: uuid.UUID) -> ApiKey:
    row = await session.get(ApiKey, key_id)
    if row is None:
        raise HeraldError.not_found(f"API key {key_id}")
    row.revoked_at = utcnow()
    return row


class KeyAdmin:
    """What ``herald keys`` does, in one session: answers as the command prints them."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def create(self, *, name: str, scopes: list[str]) -> dict[str, object]:
        row, key = await create(self._session, name=name, scopes=scopes)
        return {"id": str(row.id), "key": key, "scopes": row.scopes}

    async def revoke(self, key_id: uuid.UUID) -> dict[str, object]:
        row = await revoke(self._session, key_id)
        return {"id": str(row.id), "revoked_at": str(row.revoked_at)}

    async def listing(self) -> list[dict[str, object]]:
        """Every key, never its value: only the prefix that tells keys apart."""
        return [
            {
                "id": str(k.id),
                "name": k.name,
                "prefix": k.prefix,
                "scopes": k.scopes,
                "revoked": k.revoked_at is not None,
            }
            for k in await ApiKeyRepository(self._session).all()
        ]


class KeyVerifier:
    """Checks a presented key. Answers are kept a few seconds so the hot path does not
    read the keys table on every request; a revocation takes effect within that time."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], *, ttl: float = 10.0) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._seen: dict[str, tuple[float, Principal | None]] = {}

    async def verify(self, key: str) -> Principal:
        hashed = digest(key)
        now = time.monotonic()
        cached = self._seen.get(hashed)
        if cached is not None and cached[0] > now:
            principal = cached[1]
        else:
            async with unit_of_work(self._sessions) as session:
                row = await ApiKeyRepository(session).by_hash(hashed)
                principal = (
                    None
                    if row is None or row.revoked_at is not None
                    else Principal(subject=f"apikey:{row.id}", scopes=frozenset(row.scopes))
                )
            if len(self._seen) > 10_000:
                self._seen.clear()
            self._seen[hashed] = (now + self._ttl, principal)
        if principal is None:
            raise HeraldError.unauthorized("API key is not valid or has been revoked")
        return principal
