from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from herald.services.templates.models import Template, TemplateVersion


class TemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, code: str, channel: str) -> Template | None:
        stmt = select(Template).where(Template.code == code, Template.channel == channel)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def page(
        self, *, channel: str | None, offset: int, limit: int
    ) -> tuple[list[Template], int]:
        base = select(Template)
        if channel:
            base = base.where(Template.channel == channel)
        total = await self.session.scalar(select(func.count()).select_from(base.subquery())) or 0
        rows = await self.session.scalars(
            base.order_by(Template.code, Template.channel).offset(offset).limit(limit)
        )
        return list(rows), int(total)

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count()).select_from(Template)) or 0)

    async def heads(self, template: Template) -> dict[str, int]:
        """The latest version number of every locale of a template."""
        rows = await self.session.execute(
            select(TemplateVersion.locale, func.max(TemplateVersion.version))
            .where(TemplateVersion.template_id == template.id)
            .group_by(TemplateVersion.locale)
        )
        return {locale: int(v) for locale, v in rows.all()}

    async def version(
        self, template: Template, locale: str, number: int | None = None
    ) -> TemplateVersion | None:
        stmt = select(TemplateVersion).where(
            TemplateVersion.template_id == template.id, TemplateVersion.locale == locale
        )
        if number is None:
            stmt = stmt.order_by(TemplateVersion.version.desc()).limit(1)
        else:
            stmt = stmt.where(TemplateVersion.version == number)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def versions(self, template: Template, locale: str) -> list[TemplateVersion]:
        rows = await self.session.scalars(
            select(TemplateVersion)
            .where(TemplateVersion.template_id == template.id, TemplateVersion.locale == locale)
            .order_by(TemplateVersion.version.desc())
        )
        return list(rows)

    def add(self, entity: Template | TemplateVersion) -> None:
        self.session.add(entity)
