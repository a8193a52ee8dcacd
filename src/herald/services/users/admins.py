"""Console admins (SPEC.md §6.4): users with the ``admin`` role, made at start from
``HERALD_BOOTSTRAP_ADMIN_EMAIL``/``_PASSWORD``, by ``herald users create-admin``, or by
an admin through the API (``role``)."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.kit.db import unit_of_work
from herald.services.users import schemas
from herald.services.users.handlers import password_hasher
from herald.services.users.models import User
from herald.services.users.repositories import UserRepository


async def ensure(session: AsyncSession, body: schemas.UserCreate) -> tuple[User, bool]:
    """The admin with this email, made if missing; an existing user is given the role
    and keeps their password. True when the user was made."""
    repo = UserRepository(session)
    email = body.email.lower()
    user = await repo.by_email(email)
    if user is not None:
        user.role = "admin"
        return user, False
    hashed = await asyncio.to_thread(password_hasher.hash, body.password)
    user = User(name=body.name, email=email, password_hash=hashed, role="admin")
    repo.add(user)
    await session.flush()
    return user, True


def admin_body(email: str, password: str, name: str = "Admin") -> schemas.UserCreate:
    """Raises pydantic's ValidationError, naming the field, for a bad email or password."""
    return schemas.UserCreate(name=name, email=email, password=password, role="admin")


async def bootstrap(sessions: async_sessionmaker[AsyncSession], body: schemas.UserCreate) -> None:
    """``ensure`` in its own transaction, as the users service does at start. Replicas
    starting together may both make the user: the loser finds the winner's row."""
    for attempt in (1, 2):
        try:
            async with unit_of_work(sessions) as session:
                await ensure(session, body)
            return
        except IntegrityError:
            if attempt == 2:
                raise
