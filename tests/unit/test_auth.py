"""Herald's HS256 tokens, held to PyJWT (an independent implementation) both ways,
and the forgeries a token check must refuse."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import jwt
import pytest

from herald.domain.errors import HeraldError
from herald.kit import auth

SECRET = "unit-test-secret-" + "s" * 48


def _refused(token: str, **kwargs: Any) -> str:
    with pytest.raises(HeraldError) as refused:
        auth.verify(SECRET, token, **kwargs)
    assert refused.value.status_code == 401
    return refused.value.error


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {"sub": "user:1", "iss": "herald", "iat": now, "exp": now + 60}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


class TestTokens:
    def test_a_minted_token_verifies_with_its_claims(self) -> None:
        token = auth.mint(SECRET, subject="user:1", ttl=60, scopes=["send"], user_id="u1")
        who = auth.verify(SECRET, token)
        assert (who.subject, who.scopes, who.user_id) == ("user:1", frozenset({"send"}), "u1")

    def test_pyjwt_reads_what_herald_mints(self) -> None:
        token = auth.mint(SECRET, subject="s", ttl=60, audience=auth.UNSUBSCRIBE)
        claims = jwt.decode(
            token, SECRET, algorithms=["HS256"], issuer="herald", audience=auth.UNSUBSCRIBE
        )
        assert claims["sub"] == "s" and claims["exp"] - claims["iat"] == 60
        assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}

    def test_herald_reads_what_pyjwt_mints(self) -> None:
        # Links in mail already sent were signed by PyJWT: they must keep working.
        token = jwt.encode(_claims(aud=auth.UNSUBSCRIBE, scopes=[]), SECRET, algorithm="HS256")
        assert auth.verify(SECRET, token, audience=auth.UNSUBSCRIBE).subject == "user:1"

    def test_an_audience_token_is_no_credential_and_the_reverse(self) -> None:
        link = auth.mint(SECRET, subject="s", ttl=60, audience=auth.UNSUBSCRIBE)
        credential = auth.mint(SECRET, subject="s", ttl=60)
        assert _refused(link) == "token is not valid"
        assert _refused(credential, audience=auth.UNSUBSCRIBE) == "token is not valid"

    def test_an_expired_token_says_so(self) -> None:
        token = jwt.encode(_claims(exp=int(time.time()) - 1), SECRET, algorithm="HS256")
        assert _refused(token) == "token has expired"

    @pytest.mark.parametrize(
        "forgery",
        ["alg none", "wrong key", "HS512", "no exp", "no sub", "other issuer", "exp as text"],
    )
    def test_forgeries_are_refused(self, forgery: str) -> None:
        token = {
            "alg none": lambda: jwt.encode(_claims(), key="", algorithm="none"),
            "wrong key": lambda: jwt.encode(_claims(), "another-" + "k" * 32, algorithm="HS256"),
            "HS512": lambda: jwt.encode(_claims(), SECRET, algorithm="HS512"),
            "no exp": lambda: jwt.encode(_claims(exp=None), SECRET, algorithm="HS256"),
            "no sub": lambda: jwt.encode(_claims(sub=None), SECRET, algorithm="HS256"),
            "other issuer": lambda: jwt.encode(_claims(iss="x"), SECRET, algorithm="HS256"),
            "exp as text": lambda: jwt.encode(_claims(exp="9999999999"), SECRET, algorithm="HS256"),
        }[forgery]()
        assert _refused(token) == "token is not valid"

    def test_a_changed_payload_breaks_the_signature(self) -> None:
        header, _, signature = auth.mint(SECRET, subject="user:1", ttl=60).split(".")
        forged = base64.urlsafe_b64encode(json.dumps(_claims(scopes=["admin"])).encode()).rstrip(
            b"="
        )
        assert _refused(f"{header}.{forged.decode()}.{signature}") == "token is not valid"

    @pytest.mark.parametrize(
        "garbage", ["", "a.b", "a.b.c.d", "!!.??.**", "e30.e30.", "bm90IGpzb24.e30.AA", "é.é.é"]
    )
    def test_malformed_tokens_are_refused_not_crashed_on(self, garbage: str) -> None:
        assert _refused(garbage) == "token is not valid"

    def test_a_header_nested_past_the_recursion_limit_is_refused_unread(self) -> None:
        # Signature first: a stranger's header is never parsed, however deep it nests.
        nested = base64.urlsafe_b64encode(b"[" * 100_000 + b"]" * 100_000).rstrip(b"=")
        assert _refused(f"{nested.decode()}.e30.AAAA") == "token is not valid"


class TestKeys:
    keys = auth.Keys(SECRET)

    def test_each_purpose_has_its_own_key(self) -> None:
        derived = [self.keys.user, self.keys.unsubscribe, *self.keys.services.values()]
        assert len(set(derived)) == len(derived) and SECRET not in derived
        assert auth.Keys(SECRET).user == self.keys.user  # derived, not random

    def test_a_workers_token_cannot_be_an_admin(self) -> None:
        # Given a token an email worker signed claiming every scope
        key = self.keys.services["email_worker"]
        claimed = auth.mint(key, subject="service:email_worker", ttl=60, scopes=["admin", "send"])
        # Then it carries only what an email worker may have
        assert auth.verify_credential(self.keys, claimed).scopes == frozenset({"send"})
        # ... and it cannot pass for the gateway's
        posing = auth.mint(key, subject="service:gateway", ttl=60, scopes=["admin"])
        with pytest.raises(HeraldError):
            auth.verify_credential(self.keys, posing)

    def test_the_gateway_forwards_an_api_keys_scopes(self) -> None:
        forwarded = auth.mint(
            self.keys.services["gateway"], subject="apikey:1", ttl=60, scopes=["admin"]
        )
        assert auth.verify_credential(self.keys, forwarded).is_admin

    def test_a_user_token_carries_no_scopes_and_other_keys_sign_no_user(self) -> None:
        user = auth.mint(self.keys.user, subject="user:1", ttl=60, user_id="1", version=3)
        who = auth.verify_credential(self.keys, user)
        assert (who.user_id, who.version, who.scopes) == ("1", 3, frozenset())
        elevated = auth.mint(
            self.keys.user, subject="user:1", ttl=60, user_id="1", scopes=["admin"]
        )
        link = auth.mint(self.keys.unsubscribe, subject="1:email", ttl=60, user_id="1")
        for token in (elevated, link, auth.mint(SECRET, subject="user:1", ttl=60, user_id="1")):
            with pytest.raises(HeraldError):
                auth.verify_credential(self.keys, token)

    def test_a_worker_can_hold_only_the_keys_it_signs_with(self) -> None:
        # Given the keys `herald keys derive email_worker` prints for it
        only = auth.Keys.parse(self.keys.subset(auth.WORKER_PURPOSES["email_worker"]))
        # Then what it signs verifies where the secret is held
        token = auth.mint(
            only.service("email_worker"), subject="service:email_worker", ttl=60, scopes=["send"]
        )
        assert auth.verify_credential(self.keys, token).scopes == frozenset({"send"})
        assert only.unsubscribe == self.keys.unsubscribe
        # ... and it cannot sign anything else
        for other in (lambda: only.user, lambda: only.service("gateway")):
            with pytest.raises(HeraldError):
                other()
