"""Templates API (SPEC.md §3 "Templates")."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status

from herald.domain.locales import Locale
from herald.kit.deps import PrincipalDep, SessionDep, service_context
from herald.kit.envelope import ERROR_RESPONSES, Envelope, Page, PaginationMeta, ok
from herald.services.templates import handlers, schemas
from herald.services.templates.handlers import TemplatesContext
from herald.services.templates.repositories import TemplateRepository

router = APIRouter(prefix="/api/v1/templates", tags=["templates"], responses=ERROR_RESPONSES)
internal = APIRouter(prefix="/internal/templates", tags=["internal"], include_in_schema=False)

Code = Annotated[str, Path(pattern=schemas.CODE_PATTERN)]
ChannelQ = Annotated[schemas.Channel, Query()]
ChannelFilter = Annotated[schemas.Channel | None, Query()]
LocaleQ = Annotated[Locale | None, Query()]
VersionQ = Annotated[int | None, Query(ge=1, le=schemas.MAX_VERSION)]


Ctx = Annotated[TemplatesContext, Depends(service_context)]


@router.post(
    "/",
    status_code=status.HTTP_201_CREATED,
    summary="Create a template, or a new version of one",
    response_model=Envelope[schemas.TemplateVersionOut],
)
async def save(
    body: schemas.TemplateIn, session: SessionDep, who: PrincipalDep, ctx: Ctx
) -> dict[str, Any]:
    who.require("admin")
    data = await handlers.save(session, ctx, body)
    return ok(data, f"template {data['code']} version {data['version']} saved")


@router.get("/", summary="List templates", response_model=Envelope[list[schemas.TemplateSummary]])
async def list_templates(
    session: SessionDep,
    who: PrincipalDep,
    channel: ChannelFilter = None,
    page: Annotated[Page, Query()] = Page(),
) -> dict[str, Any]:
    who.require("send")
    repo = TemplateRepository(session)
    templates, total = await repo.page(channel=channel, offset=page.offset, limit=page.limit)
    data = [
        {
            "code": t.code,
            "channel": t.channel,
            "default_locale": t.default_locale,
            "description": t.description,
            "locales": await repo.heads(t),
        }
        for t in templates
    ]
    return ok(data, "templates", PaginationMeta.of(total=total, page=page.page, limit=page.limit))


@router.get(
    "/{code}",
    summary="Read the active version of a template (of every channel without ?channel=)",
    response_model=Envelope[schemas.TemplateVersionOut | list[schemas.TemplateVersionOut]],
)
async def get_template(
    code: Code,
    session: SessionDep,
    who: PrincipalDep,
    channel: ChannelFilter = None,
    locale: LocaleQ = None,
    version: VersionQ = None,
) -> dict[str, Any]:
    who.require("send")
    if channel is None:
        return ok(await handlers.every_channel(session, code, locale, version))
    template = await handlers.find(session, code, channel)
    found = await handlers.resolve(session, template, locale, version)
    return ok(handlers.version_out(template, found))


@router.get(
    "/{code}/versions",
    summary="List the versions of a template, newest first",
    response_model=Envelope[list[schemas.TemplateVersionOut]],
)
async def versions(
    code: Code,
    session: SessionDep,
    who: PrincipalDep,
    channel: ChannelQ,
    locale: LocaleQ = None,
) -> dict[str, Any]:
    who.require("send")
    template = await handlers.find(session, code, channel)
    chosen = (await handlers.resolve(session, template, locale)).locale
    rows = await TemplateRepository(session).versions(template, chosen)
    return ok([handlers.version_out(template, v) for v in rows])


@router.post(
    "/render",
    summary="Render a template that is not saved (version 0): an editor's live preview",
    response_model=Envelope[schemas.Rendered],
)
async def render_draft(body: schemas.DraftIn, who: PrincipalDep) -> dict[str, Any]:
    who.require("send")
    return ok(await handlers.render_draft(body), "rendered")


@router.post(
    "/{code}/preview",
    summary="Render a template without sending anything",
    response_model=Envelope[schemas.Rendered],
)
async def preview(
    code: Code, body: schemas.PreviewIn, session: SessionDep, who: PrincipalDep, ctx: Ctx
) -> dict[str, Any]:
    who.require("send")
    return ok(await handlers.preview(session, ctx, code, body), "rendered")


@internal.get("/{code}/heads")
async def heads(
    code: Code, session: SessionDep, who: PrincipalDep, channel: schemas.Channel
) -> dict[str, Any]:
    who.require("send")
    return ok(await handlers.heads(session, code, channel))


@internal.get("/{code}/versions/{version}")
async def version(
    code: Code,
    version: Annotated[int, Path(ge=1, le=schemas.MAX_VERSION)],
    session: SessionDep,
    who: PrincipalDep,
    channel: schemas.Channel,
    locale: str,
) -> dict[str, Any]:
    who.require("send")
    template = await handlers.find(session, code, channel)
    return ok(
        handlers.version_out(template, await handlers.resolve(session, template, locale, version))
    )
