"""The templates service through its HTTP API, on PostgreSQL and Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from herald import bootstrap
from tests.integration.helpers import ADMIN, running, token
from tests.integration.helpers import settings as make_settings

SENDER = token(scopes=["send"])


@pytest_asyncio.fixture
async def templates(
    postgres_url: str, redis_url: tuple[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    s = make_settings(
        database_url=postgres_url,
        redis_url=redis_url[0],
        key_prefix=redis_url[1],
        max_body_bytes=2 * 1024 * 1024,
    )
    await bootstrap.migrate(s, ["templates"])
    infra = bootstrap.Infra(s)
    app = bootstrap.own(bootstrap.templates_app(infra), infra)
    async with running(app) as client:
        yield client, infra.cache


def email(**overrides: Any) -> dict[str, Any]:
    body = {
        "code": "order_shipped",
        "channel": "email",
        "locale": "en",
        "subject": "Your order is on its way, {{ name }}",
        "text_body": "Hi {{ name }}, track it at {{ link }}",
        "html_body": "<p>Hi {{ name }}, <a href='{{ link }}'>track it</a></p>",
    }
    body.update(overrides)
    return body


async def save(client: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/templates/", json=email(**overrides), headers=ADMIN)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()["data"]
    return data


async def preview(
    client: httpx.AsyncClient, code: str = "order_shipped", **body: Any
) -> httpx.Response:
    body.setdefault("channel", "email")
    return await client.post(f"/api/v1/templates/{code}/preview", json=body, headers=SENDER)


VARS = {"name": "Ada", "link": "https://example.com/t/1"}


class TestVersions:
    async def test_every_save_is_a_new_version_and_old_ones_stay_readable(self, templates) -> None:
        client, _ = templates
        first = await save(client)
        second = await save(client, subject="Shipped: {{ name }}")
        assert (first["version"], second["version"]) == (1, 2)
        latest = (
            await client.get("/api/v1/templates/order_shipped?channel=email", headers=SENDER)
        ).json()["data"]
        assert latest["version"] == 2 and latest["subject"] == "Shipped: {{ name }}"
        pinned = (
            await client.get(
                "/api/v1/templates/order_shipped?channel=email&version=1", headers=SENDER
            )
        ).json()["data"]
        assert pinned["subject"] == "Your order is on its way, {{ name }}"
        versions = (
            await client.get(
                "/api/v1/templates/order_shipped/versions?channel=email", headers=SENDER
            )
        ).json()["data"]
        assert [v["version"] for v in versions] == [2, 1]
        assert all(v["created_at"] for v in versions)

    async def test_preview_renders_latest_or_pinned_version(self, templates) -> None:
        client, _ = templates
        await save(client)
        await save(client, subject="Shipped: {{ name }}")
        latest = (await preview(client, variables=VARS)).json()["data"]
        assert latest["subject"] == "Shipped: Ada" and latest["version"] == 2
        assert latest["text_body"] == "Hi Ada, track it at https://example.com/t/1"
        pinned = (await preview(client, variables=VARS, version=1)).json()["data"]
        assert pinned["subject"] == "Your order is on its way, Ada"
        missing = await preview(client, variables=VARS, version=9)
        assert missing.status_code == 404

    async def test_new_version_is_not_hidden_by_the_render_cache(self, templates) -> None:
        client, _ = templates
        await save(client)
        assert (await preview(client, variables=VARS)).json()["data"]["version"] == 1
        await save(client, subject="v2 {{ name }}")
        again = (await preview(client, variables=VARS)).json()["data"]
        assert again["version"] == 2 and again["subject"] == "v2 Ada"

    async def test_list_templates(self, templates) -> None:
        client, _ = templates
        page = (await client.get("/api/v1/templates/?channel=email&limit=2", headers=SENDER)).json()
        # The seeds: welcome and password_reset, for email, in en and fr.
        assert page["meta"]["total"] == 2
        assert {t["code"] for t in page["data"]} == {"welcome", "password_reset"}
        assert page["data"][0]["locales"] == {"en": 1, "fr": 1}


class TestLocales:
    async def test_fallback_from_region_to_language_to_default(self, templates) -> None:
        client, _ = templates
        await save(client, locale="en")
        await save(client, locale="pt", subject="Pedido enviado, {{ name }}")
        pt_br = (await preview(client, variables=VARS, locale="pt-BR")).json()["data"]
        assert pt_br["locale"] == "pt" and pt_br["subject"] == "Pedido enviado, Ada"
        de = (await preview(client, variables=VARS, locale="de-AT")).json()["data"]
        assert de["locale"] == "en"
        await save(client, locale="pt-BR", subject="Pedido a caminho, {{ name }}")
        exact = (await preview(client, variables=VARS, locale="pt_br")).json()["data"]
        assert exact["locale"] == "pt-BR"

    async def test_seeded_french_welcome(self, templates) -> None:
        client, _ = templates
        fr = (await preview(client, "welcome", variables=VARS, locale="fr-CA")).json()["data"]
        assert fr["subject"] == "Bienvenue, Ada !" and fr["locale"] == "fr"


class TestValidation:
    async def test_missing_variable_is_422_naming_it(self, templates) -> None:
        client, _ = templates
        await save(client)
        response = await preview(client, variables={"name": "Ada"})
        assert response.status_code == 422
        assert "'link' is undefined" in response.json()["error"]

    async def test_syntax_errors_are_422_with_the_line(self, templates) -> None:
        client, _ = templates
        response = await client.post(
            "/api/v1/templates/", headers=ADMIN, json=email(text_body="line one\n{{ name ")
        )
        assert response.status_code == 422
        assert "line 2" in response.json()["error"]

    async def test_fields_must_fit_the_channel(self, templates) -> None:
        client, _ = templates
        for body, named in [
            (email(title="x"), "unknown field 'email.title'"),
            (
                {"code": "p", "channel": "push", "locale": "en", "title": "t"},
                "missing field 'push.body'",
            ),
            (email(code="Bad Code"), "code"),
            (email(channel="pigeon"), "channel"),
        ]:
            response = await client.post("/api/v1/templates/", json=body, headers=ADMIN)
            assert response.status_code == 422, body
            assert named in response.json()["error"]

    async def test_only_admins_save(self, templates) -> None:
        client, _ = templates
        response = await client.post("/api/v1/templates/", json=email(), headers=SENDER)
        assert response.status_code == 403


HOSTILE_TEMPLATES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ name.__class__.__base__.__subclasses__() }}",
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ name['__class__'] }}",
    "{{ lipsum.__globals__ }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
    "{{ 'a' * 100000000 }}",
    "{{ 9 ** 9 ** 9 }}",
    "{{ ((9 ** 99) ** 99) ** 99 }}",
    "{% for x in range(100000000) %}{% endfor %}",
    "{{ config }}{{ self }}{{ request }}",
    "{% macro r() %}{{ r() }}{% endmacro %}{{ r() }}",
    "{{ " + "(" * 600 + "1" + ")" * 600 + " }}",
    "{% include 'secrets.txt' %}",
    "{% extends '/etc/passwd' %}",
]


class TestHostileTemplates:
    @pytest.mark.parametrize("source", HOSTILE_TEMPLATES)
    async def test_each_is_refused_or_rendered_harmlessly(self, templates, source: str) -> None:
        client, _ = templates
        saved = await client.post(
            "/api/v1/templates/", headers=ADMIN, json=email(code="evil", text_body=source)
        )
        assert saved.status_code in (201, 422), saved.text
        if saved.status_code == 422:
            assert saved.json()["error"]
            return
        rendered = await preview(client, "evil", variables=VARS)
        assert rendered.status_code in (200, 422), rendered.text
        assert "uid=" not in rendered.text and "<class" not in rendered.text
        assert "__" not in rendered.text and len(rendered.content) < 10_000

    @pytest.mark.parametrize(
        "source",
        [
            "{{ (('a'*10000)*10000)|length }}",
            "{{ 'a'.ljust(10**8) }}",
            "{{ 'a'|center(10**8) }}",
            "{{ '%0100000000d' % 1 }}",
            "{{ '{:>100000000}'.format(1) }}",
            "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}",
        ],
    )
    async def test_templates_that_would_spend_the_machine_are_refused_when_saved(
        self, templates, source: str
    ) -> None:
        client, _ = templates
        saved = await client.post(
            "/api/v1/templates/", headers=ADMIN, json=email(code="bomb", text_body=source)
        )
        assert saved.status_code == 422, saved.text
        assert "not allowed in templates" in saved.json()["error"]

    async def test_preview_variables_are_capped_like_a_sends(self, templates) -> None:
        client, _ = templates
        await save(client)
        big = {"name": "Ada", "link": "https://e.com", "meta": {"blob": "x" * 70_000}}
        response = await preview(client, variables=big)
        assert response.status_code == 422 and "variables are" in response.json()["error"]

    async def test_crlf_in_a_subject_is_refused(self, templates) -> None:
        client, _ = templates
        await save(client)
        response = await preview(
            client, variables={"name": "Ada\r\nBcc: everyone@example.com", "link": "https://e.com"}
        )
        assert response.status_code == 422
        assert "line break" in response.json()["error"]

    async def test_script_in_a_variable_is_escaped_in_html_only(self, templates) -> None:
        client, _ = templates
        await save(client)
        data = (
            await preview(
                client, variables={"name": "<script>alert(1)</script>", "link": "https://e.com"}
            )
        ).json()["data"]
        assert "<script>" not in data["html_body"]
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in data["html_body"]
        assert "<script>alert(1)</script>" in data["text_body"]

    async def test_a_one_megabyte_variable_is_refused(self, templates) -> None:
        client, _ = templates
        await save(client)
        response = await preview(
            client, variables={"name": "x" * 1_000_000, "link": "https://e.com"}
        )
        assert response.status_code in (413, 422)
        assert response.json()["success"] is False

    async def test_deeply_nested_template_is_refused_cleanly(self, templates) -> None:
        client, _ = templates
        nested = "{% if true %}" * 400 + "x" + "{% endif %}" * 400
        response = await client.post(
            "/api/v1/templates/", headers=ADMIN, json=email(code="deep", text_body=nested)
        )
        if response.status_code == 201:
            response = await preview(client, "deep", variables=VARS)
        assert response.status_code in (200, 422)

    async def test_oversized_request_is_413(self, templates) -> None:
        client, _ = templates
        await save(client)
        response = await preview(client, variables={"name": "x" * 3_000_000, "link": "https://e"})
        assert response.status_code == 413
