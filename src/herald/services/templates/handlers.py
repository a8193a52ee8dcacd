"""What the templates service does. Handlers never commit: the request scope does."""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from herald.domain import cachekeys, locales, sms, templating
from herald.domain.errors import HeraldError
from herald.domain.template_fields import CHANNEL_FIELDS, HTML_FIELDS
from herald.kit import rendering
from herald.kit.db import after_commit
from herald.ports import Cache
from herald.services.templates import schemas
from herald.services.templates.models import Template, TemplateVersion
from herald.services.templates.repositories import TemplateRepository

# Previews larger than this are rendered again rather than kept.
MAX_CACHED_PREVIEW = 16 * 1024


@dataclass
class TemplatesContext:
    cache: Cache
    render_ttl: float = 300.0


def version_out(t: Template, v: TemplateVersion) -> dict[str, Any]:
    fields = {f: getattr(v, f) for f in CHANNEL_FIELDS[t.channel]}
    return {
        "code": t.code,
        "channel": t.channel,
        "locale": v.locale,
        "version": v.version,
        "default_locale": t.default_locale,
        "description": t.description,
        "created_at": v.created_at.isoformat(),
        **fields,
    }


def _validate(fields: dict[str, str | None]) -> None:
    for name, source in fields.items():
        if source is not None:
            templating.validate(name, source, html=name in HTML_FIELDS)


async def save(
    session: AsyncSession, ctx: TemplatesContext, body: schemas.TemplateIn
) -> dict[str, Any]:
    """Create a template, or the next version of one of its locales."""
    fields = body.fields()
    # Off the event loop: a trial render may take up to the sandbox's time budget.
    await asyncio.to_thread(_validate, fields)
    repo = TemplateRepository(session)
    template = await repo.get(body.code, body.channel)
    if template is None:
        template = Template(
            code=body.code,
            channel=body.channel,
            default_locale=body.default_locale or body.locale,
            description=body.description,
        )
        repo.add(template)
    else:
        if body.default_locale is not None:
            template.default_locale = body.default_locale
        if body.description is not None:
            template.description = body.description
    latest = await repo.version(template, body.locale) if template.id else None
    version = TemplateVersion(
        template_id=template.id,
        locale=body.locale,
        version=(latest.version + 1) if latest else 1,
        **fields,
    )
    try:
        await session.flush()
        version.template_id = template.id
        repo.add(version)
        await session.flush()
    except IntegrityError:
        raise HeraldError.conflict("the template was changed concurrently; send it again")
    key = cachekeys.template_head(template.code, template.channel)

    async def forget() -> None:
        await ctx.cache.delete(key)

    after_commit(session, forget)
    return version_out(template, version)


async def find(session: AsyncSession, code: str, channel: str) -> Template:
    template = await TemplateRepository(session).get(code, channel)
    if template is None:
        raise HeraldError.not_found(f"template '{code}' for channel {channel}")
    return template


async def every_channel(
    session: AsyncSession, code: str, locale: str | None, number: int | None
) -> list[dict[str, Any]]:
    """The active version of ``code`` in each channel that has it; 404 if none does."""
    found = []
    for channel in CHANNEL_FIELDS:
        template = await TemplateRepository(session).get(code, channel)
        if template is not None:
            version = await resolve(session, template, locale, number)
            found.append(version_out(template, version))
    if not found:
        raise HeraldError.not_found(f"template '{code}'")
    return found


async def resolve(
    session: AsyncSession, template: Template, locale: str | None, number: int | None = None
) -> TemplateVersion:
    """The version to use for ``locale``, falling back ``pt-BR`` → ``pt`` → default."""
    repo = TemplateRepository(session)
    for candidate in locales.fallback_chain(locale, template.default_locale):
        version = await repo.version(template, candidate, number)
        if version is not None:
            return version
    pinned = f" version {number}" if number is not None else ""
    raise HeraldError.not_found(
        f"template '{template.code}'{pinned} in locale {locale or template.default_locale}"
    )


async def heads(session: AsyncSession, code: str, channel: str) -> dict[str, Any]:
    """What the gateway needs to accept a notification: each locale's latest version
    and the variables that version uses, so a request that lacks one is refused at
    once rather than failing in the worker."""
    template = await find(session, code, channel)
    repo = TemplateRepository(session)
    latest = await repo.heads(template)
    needs = {}
    for locale, number in latest.items():
        version = await repo.version(template, locale, number)
        if version is not None:
            fields = {f: getattr(version, f) for f in CHANNEL_FIELDS[channel]}
            needs[locale] = templating.needs(channel, fields)
    return {
        "code": template.code,
        "channel": template.channel,
        "default_locale": template.default_locale,
        "locales": latest,
        "needs": needs,
    }


def _render_key(t: Template, v: TemplateVersion, variables: dict[str, Any]) -> str:
    # Versions never change, so a key that names the version needs no invalidation:
    # a new version is simply a new key.
    digest = hashlib.sha256(json.dumps(variables, sort_keys=True, default=str).encode()).hexdigest()
    return f"templates:render:{t.channel}:{t.code}:{v.locale}:{v.version}:{digest}"


def _parts(channel: str, rendered: dict[str, str | None]) -> dict[str, Any]:
    """A text's encoding and parts, shown beside it: each part is a message billed."""
    if channel != "sms":
        return {}
    found = sms.segments(rendered.get("body") or "")
    return {"sms": {"encoding": found.encoding, "units": found.units, "parts": found.parts}}


async def render_draft(body: schemas.DraftIn) -> dict[str, Any]:
    """What a template would render before it is saved: checked as saving checks it."""
    fields = body.template.fields()
    await asyncio.to_thread(_validate, fields)
    rendered = await rendering.render_channel(body.template.channel, fields, body.variables)
    return {
        **rendered,
        **_parts(body.template.channel, rendered),
        "code": body.template.code,
        "channel": body.template.channel,
        "locale": body.template.locale,
        "version": 0,
    }


async def preview(
    session: AsyncSession, ctx: TemplatesContext, code: str, body: schemas.PreviewIn
) -> dict[str, Any]:
    template = await find(session, code, body.channel)
    version = await resolve(session, template, body.locale, body.version)
    key = _render_key(template, version, body.variables)
    cached = await ctx.cache.get(key)
    if cached is not None:
        result: dict[str, Any] = json.loads(cached)
        return result
    fields = {f: getattr(version, f) for f in CHANNEL_FIELDS[template.channel]}
    rendered = await rendering.render_channel(template.channel, fields, body.variables)
    result = {
        **rendered,
        **_parts(template.channel, rendered),
        "code": template.code,
        "channel": template.channel,
        "locale": version.locale,
        "version": version.version,
    }
    encoded = json.dumps(result).encode()
    if len(encoded) <= MAX_CACHED_PREVIEW:  # a large one costs less to render again
        await ctx.cache.set(key, encoded, ttl=ctx.render_ttl)
    return result
