"""Alembic, run per owning service with its own version table.

In dev mode every service shares one SQLite file; separate version tables
(``alembic_version_users``…) keep their histories apart.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine


def config_for(migrations: Path, url: str, service: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.attributes["url"] = url
    cfg.attributes["version_table"] = f"alembic_version_{service}"
    return cfg


def upgrade(migrations: Path, url: str, service: str) -> None:
    """Bring one service's database to the latest schema (blocking: run it in a thread)."""
    command.upgrade(config_for(migrations, url, service), "head")


def run_env(metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py``."""
    cfg = context.config
    url: str = cfg.attributes["url"]
    version_table: str = cfg.attributes["version_table"]

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=True,  # SQLite can only alter tables by copying them
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    asyncio.run(main())
