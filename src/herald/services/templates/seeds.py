"""Templates a new installation starts with, so that something can be sent right away."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from herald.domain.errors import HeraldError
from herald.kit.db import unit_of_work
from herald.services.templates import handlers, schemas
from herald.services.templates.repositories import TemplateRepository

_HTML = '<p>{greeting}</p><p><a href="{{{{ link }}}}">{action}</a></p>'

SEEDS: list[dict[str, str]] = [
    {
        "code": "welcome",
        "channel": "email",
        "locale": "en",
        "subject": "Welcome, {{ name }}!",
        "text_body": "Hello {{ name }},\n\nWelcome aboard. Get started here: {{ link }}\n",
        "html_body": _HTML.format(
            greeting="Hello {{ name }}, welcome aboard.", action="Get started"
        ),
    },
    {
        "code": "welcome",
        "channel": "email",
        "locale": "fr",
        "subject": "Bienvenue, {{ name }} !",
        "text_body": "Bonjour {{ name }},\n\nBienvenue. Pour commencer : {{ link }}\n",
        "html_body": _HTML.format(greeting="Bonjour {{ name }}, bienvenue.", action="Commencer"),
    },
    {
        "code": "password_reset",
        "channel": "email",
        "locale": "en",
        "subject": "Reset your password",
        "text_body": "Hello {{ name }},\n\nReset your password here: {{ link }}\n"
        "If you did not ask for this, ignore this email.\n",
        "html_body": _HTML.format(
            greeting="Hello {{ name }}, someone asked to reset your password.",
            action="Reset my password",
        ),
    },
    {
        "code": "password_reset",
        "channel": "email",
        "locale": "fr",
        "subject": "Réinitialisez votre mot de passe",
        "text_body": "Bonjour {{ name }},\n\nRéinitialisez votre mot de passe ici : {{ link }}\n"
        "Si vous n'avez rien demandé, ignorez ce message.\n",
        "html_body": _HTML.format(
            greeting="Bonjour {{ name }}, une réinitialisation a été demandée.",
            action="Réinitialiser",
        ),
    },
    {
        "code": "welcome",
        "channel": "push",
        "locale": "en",
        "title": "Welcome, {{ name }}!",
        "body": "Tap to get started.",
        "link": "{{ link }}",
    },
    {
        "code": "welcome",
        "channel": "push",
        "locale": "fr",
        "title": "Bienvenue, {{ name }} !",
        "body": "Touchez pour commencer.",
        "link": "{{ link }}",
    },
    {
        "code": "password_reset",
        "channel": "push",
        "locale": "en",
        "title": "Password reset",
        "body": "Tap to reset your password.",
        "link": "{{ link }}",
    },
    {
        "code": "password_reset",
        "channel": "push",
        "locale": "fr",
        "title": "Mot de passe",
        "body": "Touchez pour le réinitialiser.",
        "link": "{{ link }}",
    },
    {
        "code": "welcome",
        "channel": "sms",
        "locale": "en",
        "body": "Welcome, {{ name }}! Get started: {{ link }}",
    },
    {
        "code": "welcome",
        "channel": "sms",
        "locale": "fr",
        "body": "Bienvenue, {{ name }} ! Pour commencer : {{ link }}",
    },
    {
        "code": "password_reset",
        "channel": "sms",
        "locale": "en",
        "body": "Reset your password: {{ link }}",
    },
    {
        "code": "password_reset",
        "channel": "sms",
        "locale": "fr",
        "body": "Réinitialisez votre mot de passe : {{ link }}",
    },
    {
        "code": "welcome",
        "channel": "in_app",
        "locale": "en",
        "title": "Welcome, {{ name }}!",
        "body": "Your account is ready. Start here.",
        "link": "{{ link }}",
    },
    {
        "code": "welcome",
        "channel": "in_app",
        "locale": "fr",
        "title": "Bienvenue, {{ name }} !",
        "body": "Votre compte est prêt. Commencez ici.",
        "link": "{{ link }}",
    },
]


async def seed(session: AsyncSession, ctx: handlers.TemplatesContext) -> int:
    """Add the seed templates to an installation that has none; return how many."""
    if await TemplateRepository(session).count() > 0:
        return 0
    for entry in SEEDS:
        body = schemas.TEMPLATE_IN.validate_python({**entry, "default_locale": "en"})
        await handlers.save(session, ctx, body)
    return len(SEEDS)


async def seed_once(
    sessions: async_sessionmaker[AsyncSession], ctx: handlers.TemplatesContext
) -> int:
    """``seed`` in its own transaction, as the templates service does at start.
    Replicas starting together may both find no templates and both add them: the one
    that loses the race (a duplicate template, or a version the other one saved first:
    409) finds the winner's on its second look."""
    for attempt in (1, 2):
        try:
            async with unit_of_work(sessions) as session:
                return await seed(session, ctx)
        except (IntegrityError, HeraldError) as exc:
            if attempt == 2 or (isinstance(exc, HeraldError) and exc.status_code != 409):
                raise
    return 0
