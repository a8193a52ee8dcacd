"""Tokens: user JWTs from login, and short-lived service tokens between services.

The gateway checks a client's API key and forwards the call with a service token
naming the key's scopes, so the services behind it verify one kind of credential.

Herald signs and checks one kind of JWT (RFC 7519): HS256 (RFC 7515 §A.1) with fixed
claims, on the standard library's ``hmac``. A general JWT library would do the same
but, with the ``cryptography`` package installed (Web Push needs it), PyJWT imports it
for its RSA and EC algorithms: 9.5 MB in every process. The tests check these tokens
against PyJWT in both directions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from typing import Any

from herald.domain.errors import HeraldError

ALGORITHM = "HS256"
ISSUER = "herald"
# The audience of the tokens in List-Unsubscribe links (RFC 8058).
UNSUBSCRIBE = "unsubscribe"
# The audience of feed tokens: they open one user's in-app feed and nothing else.
FEED = "feed"


# The services that sign service tokens, and the most each one's tokens may claim: a
# worker's calls read templates and contacts, so nothing it signs can be an admin, even
# if its key leaks. The gateway forwards an API key's own scopes, admin among them.
ISSUERS: dict[str, frozenset[str] | None] = {
    "gateway": None,
    "users": frozenset(),
    "templates": frozenset(),
    "email_worker": frozenset({"send"}),
    "push_worker": frozenset({"send"}),
    "in_app_worker": frozenset({"send"}),
}
# Where a token did not come from a service: a user's login.
USER = "user"


class Keys:
    """The signing keys, each derived from ``HERALD_JWT_SECRET`` for one purpose (user
    tokens, unsubscribe links, each service's service tokens), so that no key serves two
    and a token of one kind can never pass for another. HMAC-SHA256 of the purpose
    under the secret: HKDF-Expand for one block, and the extract step is not needed
    for a secret that is already random (RFC 5869 §3.3).

    A worker can be given only the keys it signs with (``only``, from
    ``HERALD_SIGNING_KEYS``, which ``herald keys derive`` prints) instead of the secret."""

    def __init__(self, secret: str | None, *, only: dict[str, str] | None = None) -> None:
        self._secret = secret.encode() if secret is not None else None
        self._only = only
        self._derived: dict[str, str] = {}
        # What signed unsubscribe links before keys were derived.
        self.legacy = secret

    def derive(self, purpose: str) -> str:
        return hmac.new(
            self._secret or b"", b"herald/v1 " + purpose.encode(), hashlib.sha256
        ).hexdigest()

    def key(self, purpose: str) -> str:
        if self._secret is not None:
            if purpose not in self._derived:
                self._derived[purpose] = self.derive(purpose)
            return self._derived[purpose]
        if self._only is None or purpose not in self._only:
            raise HeraldError.unavailable(f"this process holds no key for {purpose}")
        return self._only[purpose]

    @property
    def user(self) -> str:
        return self.key(USER_PURPOSE)

    @property
    def unsubscribe(self) -> str:
        return self.key(UNSUBSCRIBE_PURPOSE)

    def service(self, issuer: str) -> str:
        return self.key(service_purpose(issuer))

    @property
    def services(self) -> dict[str, str]:
        return {issuer: self.service(issuer) for issuer in ISSUERS}

    def credentials(self) -> dict[str, str]:
        """Who may sign a credential a service accepts, and with which key."""
        return {USER: self.user, **self.services}

    def subset(self, purposes: list[str]) -> str:
        """``HERALD_SIGNING_KEYS`` for a process that signs for these purposes only."""
        return ",".join(f"{purpose}={self.key(purpose)}" for purpose in purposes)

    @classmethod
    def parse(cls, value: str) -> Keys:
        only = {}
        for item in value.split(","):
            purpose, _, key = item.strip().rpartition("=")
            if not purpose or not key:
                raise ValueError("HERALD_SIGNING_KEYS must be purpose=key pairs, comma-separated")
            only[purpose] = key
        return cls(None, only=only)


USER_PURPOSE = "user tokens"
UNSUBSCRIBE_PURPOSE = "unsubscribe links"


def service_purpose(issuer: str) -> str:
    return f"service tokens of {issuer}"


# What each worker signs with: the one key to give it instead of the secret.
WORKER_PURPOSES = {
    "email_worker": [service_purpose("email_worker"), UNSUBSCRIBE_PURPOSE],
    "push_worker": [service_purpose("push_worker")],
    "in_app_worker": [service_purpose("in_app_worker")],
}


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    scopes: frozenset[str] = field(default_factory=frozenset)
    user_id: str | None = None
    # The user token's version (kept per user, raised when the password changes).
    version: int = 0
    # What the token was issued about (the notification an unsubscribe link came in).
    reference: str | None = None

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
    version: int = 0,
    reference: str | None = None,
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
    if version:
        claims["ver"] = version
    if audience is not None:
        claims["aud"] = audience
    if reference is not None:
        claims["ref"] = reference
    signing_input = _HEADER + b"." + _encode(json.dumps(claims, separators=(",", ":")).encode())
    return (signing_input + b"." + _encode(_sign(secret, signing_input))).decode("ascii")


def feed_token(keys: Keys, user_id: str, ttl: int) -> str:
    """What a client's backend hands the page that shows a user's feed."""
    return mint(keys.user, subject=f"feed:{user_id}", ttl=ttl, user_id=user_id, audience=FEED)


def verify(secret: str | list[str], token: str, *, audience: str | None = None) -> Principal:
    """Check a token signed with ``secret`` (or any of several). A token minted for an
    audience (an unsubscribe link) is accepted only where that audience is asked for,
    never as a credential."""
    secrets = [secret] if isinstance(secret, str) else secret
    return _principal(_claims(secrets, token)[1], audience)


def verify_credential(keys: Keys, token: str) -> Principal:
    """A user token, or a service token from one of Herald's services, with no more
    scopes than its signer may give (``ISSUERS``)."""
    signers = keys.credentials()
    index, claims = _claims(list(signers.values()), token)
    issuer = list(signers)[index]
    who = _principal(claims, None)
    if issuer == USER:
        if who.scopes or who.user_id is None:
            raise HeraldError.unauthorized("token is not valid")
        return who
    cap = ISSUERS[issuer]
    if cap is None:
        return who
    if who.subject != f"service:{issuer}":
        raise HeraldError.unauthorized("token is not valid")
    return Principal(who.subject, who.scopes & cap)


def _principal(claims: dict[str, Any], audience: str | None) -> Principal:
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= time.time():
        raise HeraldError.unauthorized(
            "token has expired" if isinstance(claims.get("exp"), int) else "token is not valid"
        )
    if (
        claims.get("iss") != ISSUER
        or not isinstance(claims.get("iat"), int)
        or not isinstance(claims.get("sub"), str)
        or claims.get("aud") != audience
        or not isinstance(claims.get("scopes", []), list)
        or not isinstance(claims.get("ver", 0), int)
    ):
        raise HeraldError.unauthorized("token is not valid")
    return Principal(
        subject=claims["sub"],
        scopes=frozenset(str(s) for s in claims.get("scopes", [])),
        user_id=claims.get("uid"),
        version=claims.get("ver", 0),
        reference=ref if isinstance(ref := claims.get("ref"), str) else None,
    )


_HEADER = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")


def _encode(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _decode(part: str) -> bytes:
    # RFC 7515 §2: base64url without padding; anything else is not a JWS part.
    if not part or set(part) - _BASE64URL:
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


_BASE64URL = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _sign(secret: str, signing_input: bytes) -> bytes:
    return hmac.new(secret.encode(), signing_input, hashlib.sha256).digest()


def _claims(secrets: list[str], token: str) -> tuple[int, dict[str, Any]]:
    """Which of ``secrets`` signed the token (HS256), and its claims; or 401."""
    parts = token.split(".")
    if len(parts) != 3:
        raise HeraldError.unauthorized("token is not valid")
    try:
        # The signature first: nothing a stranger wrote is parsed before it is known
        # to come from Herald (a header of a thousand nested arrays is just bytes).
        signature = _decode(parts[2])
        signing_input = f"{parts[0]}.{parts[1]}".encode("ascii")
        index = next(
            (
                i
                for i, secret in enumerate(secrets)
                if hmac.compare_digest(signature, _sign(secret, signing_input))
            ),
            None,
        )
        if index is None:
            raise ValueError("signature")
        header = json.loads(_decode(parts[0]))
        # The algorithm is fixed, whatever the header says: "alg: none" and every other
        # algorithm are refused (RFC 8725 §3.1).
        if not isinstance(header, dict) or header.get("alg") != ALGORITHM:
            raise ValueError("algorithm")
        claims = json.loads(_decode(parts[1]))
    except (ValueError, binascii.Error, UnicodeError, RecursionError) as exc:
        raise HeraldError.unauthorized("token is not valid") from exc
    if not isinstance(claims, dict):
        raise HeraldError.unauthorized("token is not valid")
    return index, claims


def bearer(authorization: str | None) -> str:
    if not authorization:
        raise HeraldError.unauthorized("missing Authorization: Bearer header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HeraldError.unauthorized("Authorization header must be 'Bearer <token>'")
    return token.strip()
