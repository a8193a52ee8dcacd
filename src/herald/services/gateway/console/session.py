"""Console sign-ins: a random id in an HttpOnly, SameSite=Strict cookie, the session
itself in the cache (shared by every gateway replica), and a CSRF token derived from
the id for every form.

A session lasts ``ttl`` seconds after its last use; signing out removes it at once."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass

from herald.ports import Cache

COOKIE = "herald_console"
# Before sign-in: the value the sign-in form must post back (double submit), so that
# another site cannot sign a browser in to an account of its choosing.
LOGIN_COOKIE = "herald_console_login"


@dataclass(frozen=True, slots=True)
class ConsoleSession:
    user_id: str
    email: str
    name: str
    csrf: str


class ConsoleSessions:
    def __init__(self, cache: Cache, secret: str, *, ttl: int) -> None:
        self._cache = cache
        self._secret = secret.encode()
        self.ttl = ttl

    def _key(self, sid: str) -> str:
        # The cache holds a hash of the id: reading the cache gives no cookie to replay.
        return "console:session:" + hashlib.sha256(sid.encode()).hexdigest()

    def csrf_for(self, sid: str) -> str:
        return hmac.new(self._secret, b"csrf " + sid.encode(), hashlib.sha256).hexdigest()

    async def open(self, *, user_id: str, email: str, name: str) -> tuple[str, ConsoleSession]:
        sid = secrets.token_urlsafe(32)
        session = ConsoleSession(user_id, email, name, self.csrf_for(sid))
        await self._store(sid, session)
        return sid, session

    async def find(self, sid: str | None) -> ConsoleSession | None:
        """The session of this cookie, its life extended; None when absent or over."""
        if not sid or len(sid) > 100:
            return None
        raw = await self._cache.get(self._key(sid))
        if raw is None:
            return None
        try:
            session = ConsoleSession(**json.loads(raw))
        except (ValueError, TypeError):
            return None
        await self._store(sid, session)
        return session

    async def close(self, sid: str) -> None:
        await self._cache.delete(self._key(sid))

    async def _store(self, sid: str, session: ConsoleSession) -> None:
        await self._cache.set(self._key(sid), json.dumps(asdict(session)).encode(), ttl=self.ttl)


def same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())
