"""Web Push: RFC 8030 delivery, RFC 8291 ``aes128gcm`` encryption (http_ece) and
RFC 8292 VAPID (py-vapid), sent with httpx so every answer can be classified."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import http_ece
import httpx
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from herald.adapters.answers import network_error, transient
from herald.adapters.push.http import check_target
from herald.domain.encoding import b64url_decode, b64url_encode
from herald.domain.errors import DeliveryError, DeviceGone
from herald.ports import PushRequest

# 4096 bytes of record minus the aes128gcm header (86), tag (16) and delimiter (1).
MAX_PLAINTEXT = 3993


def encrypt(subscription: Mapping[str, Any], data: bytes) -> bytes:
    """RFC 8291: encrypt ``data`` for the browser's key with a fresh ephemeral key."""
    keys = subscription["keys"]
    encrypted: bytes = http_ece.encrypt(
        data,
        private_key=ec.generate_private_key(ec.SECP256R1()),
        dh=b64url_decode(keys["p256dh"]),
        auth_secret=b64url_decode(keys["auth"]),
        version="aes128gcm",
    )
    return encrypted


def load_vapid(private_key: str) -> Vapid02:
    key = private_key.strip()
    if "BEGIN" in key:
        return Vapid02.from_pem(key.encode())
    return Vapid02.from_raw(key.encode())


def public_key(private_key: str) -> str:
    """The ``applicationServerKey`` browsers subscribe with: the VAPID public key as an
    uncompressed P-256 point, base64url without padding (RFC 8292 §3.2)."""
    from cryptography.hazmat.primitives import serialization

    raw = load_vapid(private_key).public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url_encode(raw)


class WebPushTransport:
    def __init__(
        self, http: httpx.AsyncClient, *, vapid_private_key: str, subject: str, allow_private: bool
    ) -> None:
        self._http = http
        self._vapid = load_vapid(vapid_private_key)
        self._subject = subject
        self._allow_private = allow_private

    def target(self, request: PushRequest) -> str:
        assert request.subscription is not None
        return urlsplit(str(request.subscription["endpoint"])).netloc

    async def close(self) -> None:
        return None  # the HTTP client is shared and closed by its owner

    async def send(self, request: PushRequest) -> str | None:
        subscription = request.subscription
        if subscription is None:
            raise DeliveryError("web push device has no subscription", permanent=True)
        endpoint = str(subscription["endpoint"])
        await check_target(endpoint, allow_private=self._allow_private)
        data = json.dumps(request.payload, separators=(",", ":")).encode()
        if len(data) > MAX_PLAINTEXT:
            raise DeliveryError(
                f"push payload is {len(data)} bytes; Web Push allows {MAX_PLAINTEXT}",
                permanent=True,
            )
        body = encrypt(subscription, data)
        parts = urlsplit(endpoint)
        claims = {
            "aud": f"{parts.scheme}://{parts.netloc}",
            "sub": self._subject,
            "exp": int(time.time()) + 12 * 3600,
        }
        headers = {
            **self._vapid.sign(claims),
            "TTL": str(request.ttl),
            "Urgency": request.urgency,
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
        }
        if request.topic:
            headers["Topic"] = request.topic
        try:
            response = await self._http.post(endpoint, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise network_error(exc, parts.netloc)
        if response.status_code in (200, 201, 202):
            # RFC 8030 §5: the push message resource's URL, in Location.
            location = response.headers.get("location")
            return f"{response.status_code} {location or ''}".strip()[:500]
        if response.status_code in (404, 410):
            raise DeviceGone(f"subscription is gone ({response.status_code})")
        retry = transient(response, parts.netloc)
        if retry is not None:
            raise retry
        raise DeliveryError(
            f"push service refused the message: {response.status_code} {response.text[:200]}",
            permanent=True,
        )
