"""Tokens: user JWTs from login, and short-lived service tokens between services.

The gateway checks a client's API key and forwards the call with a service token
naming the key's scopes, so the services behind it verify one kind of credential.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt

from herald.domain.errors import HeraldError

ALGORITHM = "HS256"
ISSUER = "herald"
# The audience of the tokens in List-Unsubscribe links (RFC 8058).
UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    user_id: str | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.scopes

    def require(self, scope: str) -> None:
        if not self.is_admin and scope not in self.scopes:
            raise HeraldError.forbidden(f"this credential lacks the '{scope}' scope")

    def require_self_or_admin(self, user_id: str) -> None:
        if not self.is_admin and self.user_id != user_id:
            raise HeraldError.forbidden("a user may only see or change their own data")


def mint(
    secret: str,
    *,
    subject: str,
    ttl: int,
    scopes: list[str] | None = None,
    user_id: str | None = None,
    audience: str | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iss": ISSUER,
        "iat": now,
        "exp": now + ttl,
        "scopes": scopes or [],
    }
    if user_id is not None:
        claims["uid"] = user_id
    if audience is not None:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str, *, audience: str | None = None) -> Principal:
    """Check a token. A token minted for an audience (an unsubscribe link) is accepted
    only where that audience is asked for, never as a credential."""
    try:
        # The algorithm list is fixed: "alg: none" and other algorithms are refused.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            audience=audience,
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise HeraldError.unauthorized("token has expired")
    except jwt.PyJWTError:
        raise HeraldError.unauthorized("token is not valid")
    return Principal(
        subject=str(claims["sub"]),
        scopes=frozenset(claims.get("scopes", [])),
        user_id=claims.get("uid"),
    )


def bearer(authorization: str | None) -> str:
    if not authorization:
        raise HeraldError.unauthorized("missing Authorization: Bearer header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HeraldError.unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()
