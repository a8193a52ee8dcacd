from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from herald.services.users.models import Device, Suppression, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID, *, with_devices: bool = False) -> User | None:
        stmt = select(User).where(User.id == user_id)
        if with_devices:
            stmt = stmt.options(selectinload(User.devices))
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def token_version(self, user_id: uuid.UUID) -> int | None:
        stmt = select(User.token_version).where(User.id == user_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def by_email(self, email: str) -> User | None:
        stmt = select(User).where(User.email == email)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self, *, offset: int, limit: int, search: str | None = None
    ) -> tuple[list[User], int]:
        """Oldest first; ``search``: a part of the name or the email, any case."""
        stmt = select(User)
        if search:
            pattern = (
                "%"
                + search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                + "%"
            )
            stmt = stmt.where(
                or_(
                    func.lower(User.name).like(pattern, escape="\\"),
                    User.email.like(pattern, escape="\\"),
                )
            )
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = await self.session.scalars(
            stmt.order_by(User.created_at, User.id).offset(offset).limit(limit)
        )
        return list(rows), int(total)

    def add(self, entity: User | Device) -> None:
        self.session.add(entity)

    async def delete(self, user: User) -> None:
        await self.session.delete(user)

    async def contacts(
        self, user_ids: list[uuid.UUID]
    ) -> tuple[list[Any], dict[uuid.UUID, list[Any]]]:
        """The users ``user_ids`` names that exist, and their valid devices by user, as
        plain rows: a topic's page reads a thousand, and as ORM objects they took nearly
        twice the CPU (25 against 14 ms per thousand)."""
        users = (
            await self.session.execute(select(*_CONTACT_COLUMNS).where(User.id.in_(user_ids)))
        ).all()
        devices: dict[uuid.UUID, list[Any]] = {}
        found = await self.session.execute(
            select(*_DEVICE_COLUMNS)
            .where(Device.user_id.in_(user_ids), Device.valid)
            .order_by(Device.created_at)
        )
        for d in found:
            devices.setdefault(d.user_id, []).append(d)
        return list(users), devices

    async def known(self, user_ids: list[uuid.UUID]) -> set[uuid.UUID]:
        return set(await self.session.scalars(select(User.id).where(User.id.in_(user_ids))))

    async def devices(self, user_id: uuid.UUID) -> list[Device]:
        rows = await self.session.scalars(
            select(Device).where(Device.user_id == user_id).order_by(Device.created_at)
        )
        return list(rows)

    async def device(self, device_id: uuid.UUID) -> Device | None:
        return await self.session.get(Device, device_id)

    async def device_by_address(self, user_id: uuid.UUID, address: str) -> Device | None:
        stmt = select(Device).where(Device.user_id == user_id, Device.address == address)
        return (await self.session.execute(stmt)).scalar_one_or_none()


class SuppressionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, suppression_id: str) -> Suppression | None:
        return await self.session.get(Suppression, suppression_id)

    async def many(self, ids: list[str]) -> list[Suppression]:
        return list(await self.session.scalars(select(Suppression).where(Suppression.id.in_(ids))))

    def add(self, entry: Suppression) -> None:
        self.session.add(entry)

    async def delete(self, entry: Suppression) -> None:
        await self.session.delete(entry)

    async def page(
        self, *, channel: str | None, offset: int, limit: int
    ) -> tuple[list[Suppression], int]:
        stmt = select(Suppression)
        if channel is not None:
            stmt = stmt.where(Suppression.channel == channel)
        total = await self.session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = await self.session.scalars(
            stmt.order_by(Suppression.created_at.desc(), Suppression.id).offset(offset).limit(limit)
        )
        return list(rows), int(total)


# What a contact is made of (handlers._contact, handlers.device_contact).
_CONTACT_COLUMNS = (
    User.id,
    User.name,
    User.email,
    User.locale,
    User.timezone,
    User.email_enabled,
    User.push_enabled,
    User.sms_enabled,
    User.chat_enabled,
    User.in_app_enabled,
    User.phone,
    User.quiet_hours,
    User.email_bounce,
)
_DEVICE_COLUMNS = (
    Device.id,
    Device.user_id,
    Device.kind,
    Device.address,
    Device.p256dh,
    Device.auth,
)
