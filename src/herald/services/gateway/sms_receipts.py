"""Twilio's delivery receipts: ``POST /api/v1/sms/status/twilio?notification_id=…``,
form-encoded, signed with the account's auth token (``X-Twilio-Signature``) over the
URL Herald gave it. A text Twilio could not deliver (``failed``, ``undelivered``)
becomes ``failed`` with Twilio's error code, as a provider's report would make it; the
other statuses say it is on its way or arrived, which ``delivered`` already says.

A provider of another kind reports through ``POST /api/v1/sms/status/`` with an API
key that has the ``status`` scope, like any provider."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Query, Request, status

from herald.domain.clock import utcnow
from herald.domain.errors import HeraldError
from herald.kit.auth import Principal
from herald.kit.envelope import ERROR_RESPONSES, ok
from herald.services.gateway import reports, schemas
from herald.services.gateway.security import Ctx

router = APIRouter(prefix="/api/v1/sms/status", tags=["status"], responses=ERROR_RESPONSES)
# The receipt is signed; what it may do is what a provider's report may.
_TWILIO = Principal(subject="provider:twilio", scopes=frozenset({"admin"}))


@router.post(
    "/twilio",
    summary="Twilio's delivery receipts (signed with the account's auth token)",
    status_code=status.HTTP_200_OK,
)
async def twilio(
    request: Request, ctx: Ctx, notification_id: uuid.UUID = Query()
) -> dict[str, Any]:
    receipts = ctx.sms_receipts
    if receipts is None:
        raise HeraldError(404, "Twilio is not this installation's SMS provider")
    try:
        fields = parse_qs((await request.body()).decode(), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        raise HeraldError(400, "the receipt is not a form")
    form = {k: v[0] for k, v in fields.items()}
    # Twilio signs the URL it was given: Herald's public one, with its query.
    url = f"{ctx.public_url.rstrip('/')}{request.url.path}?{request.url.query}"
    receipt = receipts.read(url, form, request.headers.get("x-twilio-signature"))
    if not receipt.failed:
        return ok(None, f"{receipt.detail}: nothing to record")
    body = schemas.StatusReport(
        notification_id=str(notification_id),
        status="failed",
        timestamp=utcnow(),
        error=receipt.detail,
    )
    return ok(await reports.report(ctx, _TWILIO, "sms", body), "status recorded")
