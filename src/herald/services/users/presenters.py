"""What the users API answers, built from stored rows."""

from __future__ import annotations

from typing import Any

from herald.services.users import schemas
from herald.services.users.handlers import device_contact
from herald.services.users.models import Device, Suppression, User


def user_out(user: User) -> dict[str, Any]:
    return schemas.UserOut(
        id=user.id,
        name=user.name,
        email=user.email,
        locale=user.locale,
        timezone=user.timezone,
        email_bouncing=user.email_bounce is not None,
        role=user.role,
        phone=user.phone,
        preferences=schemas.Preferences(
            email=user.email_enabled,
            push=user.push_enabled,
            sms=user.sms_enabled,
            chat=user.chat_enabled,
            in_app=user.in_app_enabled,
            quiet_hours=None
            if user.quiet_hours is None
            else schemas.QuietHoursIn(**user.quiet_hours),
        ),
        created_at=user.created_at,
        updated_at=user.updated_at,
    ).model_dump(mode="json")


def device_out(device: Device) -> dict[str, Any]:
    return schemas.DeviceOut(
        **{k: v for k, v in device_contact(device).items() if k != "kind"},
        kind=device.kind,
        valid=device.valid,
        invalid_reason=device.invalid_reason,
        created_at=device.created_at,
    ).model_dump(mode="json")


def suppression_out(entry: Suppression) -> dict[str, Any]:
    return schemas.SuppressionOut(
        id=entry.id,
        channel=entry.channel,
        address=entry.address,
        reason=entry.reason,
        created_at=entry.created_at,
    ).model_dump(mode="json")
