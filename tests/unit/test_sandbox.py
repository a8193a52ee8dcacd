"""Templates that would spend the machine are refused, when saved and when rendered;
templates that only look busy still render, and long ones render off the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from herald.adapters.cache.memory import MemoryCache
from herald.domain import templating
from herald.domain.errors import HeraldError
from herald.kit import rendering

BOMBS = {
    "repeat a repeat": "{{ (('a'*10000)*10000)|length }}",
    "ljust": "{{ 'a'.ljust(10**8) }}",
    "center filter": "{{ 'a'|center(10**8) }}",
    "percent width": "{{ '%0100000000d' % 1 }}",
    "format width": "{{ '{:>100000000}'.format(1) }}",
    "nested format width": "{{ '{:>{}}'.format(1, 10**8) }}",
    "nested loops": (
        "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}"
    ),
    "doubling macro": (
        "{% macro f(s, n) %}{% if n %}{{ f(s ~ s, n - 1) }}{% else %}{{ s|length }}"
        "{% endif %}{% endmacro %}{{ f('a', 40) }}"
    ),
    "doubling namespace": (
        "{% set ns = namespace(s='a') %}{% for i in range(40) %}"
        "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}"
    ),
    "squaring number": (
        "{% set ns = namespace(x=3) %}{% for i in range(40) %}"
        "{% set ns.x = ns.x * ns.x %}{% endfor %}{{ ns.x > 1 }}"
    ),
    "filter chain": "{{ 'a'" + "|tojson" * 30 + " }}",
    "replace": "{{ ('a'*10000)|replace('a', 'b'*10000)|length }}",
    "join": "{{ (['a'*100000]*100)|join|length }}",
    "indent": "{{ ('\n'*100000)|indent(1000)|length }}",
    "output": "{% for i in range(100000) %}{{ 'x' * 100 }}{% endfor %}",
}


class TestLimits:
    @pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
    def test_refused_when_saved(self, source: str) -> None:
        started = time.perf_counter()
        with pytest.raises(HeraldError) as refused:
            templating.validate("text_body", source)
        assert refused.value.status_code == 422
        assert time.perf_counter() - started < 10

    @pytest.mark.parametrize("source", BOMBS.values(), ids=BOMBS.keys())
    def test_refused_when_rendered(self, source: str) -> None:
        with pytest.raises(HeraldError) as refused:
            templating.render({"text_body": source}, {})
        assert refused.value.status_code == 422

    def test_a_bomb_built_from_variables_is_refused_at_render(self) -> None:
        source = "{{ text.ljust(width) }}"
        assert templating.validate("text_body", source) == {"text", "width"}
        with pytest.raises(HeraldError):
            templating.render({"text_body": source}, {"text": "a", "width": 10**8})

    def test_ordinary_templates_still_render(self) -> None:
        source = (
            "Hi {{ name }}: {% for i in items %}{{ i }} {% endfor %}{{ range(3)|list|length }}"
            " {{ '%5d' % 3 }}|{{ 'x'.ljust(3) }}|{{ 'a,b'|replace(',', ';') }}"
            " {{ [1, 2]|join('-') }} {{ '{:>4}'.format(7) }} {{ name|center(7) }}"
        )
        assert templating.validate("text_body", source) == {"name", "items"}
        out = templating.render({"text_body": source}, {"name": "Ada", "items": [1, 2]})
        assert out["text_body"] == "Hi Ada: 1 2 3     3|x  |a;b 1-2    7   Ada  "


class TestOffTheLoop:
    async def test_a_long_render_leaves_the_event_loop_free(self) -> None:
        # Given a template that loops for a good part of its budget
        fields = {
            "subject": "s",
            "text_body": (
                "{% for a in range(900) %}{% for b in range(1000) %}{% endfor %}{% endfor %}"
            ),
        }
        assert templating.may_run_long("email", fields)
        gaps: list[float] = []
        done = asyncio.Event()

        async def heartbeat() -> None:
            last = time.perf_counter()
            while not done.is_set():
                await asyncio.sleep(0.005)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        beating = asyncio.create_task(heartbeat())
        started = time.perf_counter()
        await rendering.render_channel("email", fields, {})
        took = time.perf_counter() - started
        done.set()
        await beating
        # Then the loop kept turning while it rendered
        assert max(gaps) < max(took / 2, 0.05), (max(gaps), took)

    def test_a_template_without_loops_renders_in_place(self) -> None:
        assert not templating.may_run_long("email", {"subject": "{{ a }}", "text_body": "b"})


class TestMemoryCacheBytes:
    async def test_values_past_the_byte_bound_push_out_the_oldest(self) -> None:
        cache = MemoryCache(max_bytes=1000)
        for n in range(5):
            await cache.set(f"k{n}", b"x" * 300, ttl=60)
        assert [await cache.get(f"k{n}") is not None for n in range(5)] == [
            False,
            False,
            True,
            True,
            True,
        ]
        await cache.set("huge", b"x" * 2000, ttl=60)  # larger than the whole bound
        assert await cache.get("huge") is None and await cache.get("k4") is not None


def test_a_variables_key_comes_before_a_dicts_method() -> None:
    # A digest's ``items`` is its members' variables, not dict.items.
    source = "{{ digest.count }}:{% for i in digest.items %} {{ i.name }}{% endfor %}"
    out = templating.render(
        {"text_body": source}, {"digest": {"count": 2, "items": [{"name": "a"}, {"name": "b"}]}}
    )
    assert out["text_body"] == "2: a b"
