"""A topic's page of contacts, read as plain rows, says what the one-user read says for
each user: the fan-out and a single send route alike."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from herald.adapters.db.engine import create_engine
from herald.bootstrap import migrate
from herald.config import Settings
from herald.services.users import handlers
from herald.services.users.models import Device, User
from tests.contract.test_database import database_url  # noqa: F401 (a fixture)


async def test_a_page_of_contacts_matches_each_users_own(database_url: str) -> None:  # noqa: F811
    await migrate(Settings(database_url=database_url, jwt_secret="x" * 40), ["users"])
    engine = create_engine(database_url)
    users = [User(name=f"User {i}", email=f"u{i}@example.com", password_hash="x") for i in range(3)]
    ada, bob, cy = users
    ada.quiet_hours = {"start": "22:00", "end": "07:00"}
    ada.timezone, ada.locale, ada.phone, ada.push_enabled = (
        "Europe/Paris",
        "fr",
        "+33612345678",
        False,
    )
    bob.email_bounce = "550 no such user"
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
            session.add_all(users)
            await session.flush()
            session.add_all(
                [
                    Device(user_id=ada.id, kind="fcm", address="token-1"),
                    Device(
                        user_id=ada.id,
                        kind="webpush",
                        address="https://push.example.com/1",
                        p256dh="key",
                        auth="secret",
                    ),
                    Device(user_id=ada.id, kind="fcm", address="gone", valid=False),
                    Device(user_id=bob.id, kind="slack", address="https://hooks.example.com/b"),
                ]
            )
        ids = [u.id for u in users]
        async with AsyncSession(engine) as session:
            page = await handlers.contacts(session, [*ids, uuid.uuid4()])  # one unknown
            each = [await handlers.contact(session, i) for i in ids]
        assert sorted(page, key=lambda c: c["user_id"]) == sorted(each, key=lambda c: c["user_id"])
        by_id = {c["user_id"]: c for c in page}
        assert [d["kind"] for d in by_id[str(ada.id)]["devices"]] == ["fcm", "webpush"]
        assert by_id[str(ada.id)]["quiet_hours"] == {"start": "22:00", "end": "07:00"}
        assert by_id[str(ada.id)]["preferences"]["push"] is False
        assert by_id[str(bob.id)]["email_bounce"] == "550 no such user"
        assert by_id[str(cy.id)]["devices"] == []
    finally:
        await engine.dispose()
