"""The Jinja2 sandbox templates render in, with limits on what one render may cost.

SandboxedEnvironment keeps a template from reaching Python's internals, but not from
spending a machine: ``'a'.ljust(10**8)``, ``'%0100000000d' % 1``, a macro that doubles a
string forty times, or two nested loops of 100,000 each. Every operation that can make
a value larger than its inputs is checked here, before it allocates where the size can
be known in advance (widths, repetition, replace, join) and after it where it cannot
(filters, concatenation); every loop draws on one budget of iterations and time per
render. A template past a limit raises ``TemplateLimit``.
"""

from __future__ import annotations

import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

# Every string or list a render makes, whether or not it is output.
MAX_VALUE_CHARS = 1024 * 1024
# A padding or field width: no notification needs a line wider than this.
MAX_WIDTH = 10_000
MAX_REPEAT = 10_000
MAX_EXPONENT = 100
MAX_POWER_BITS = 4096
# Loop iterations (and range items) of one render, and its time.
MAX_ITERATIONS = 1_000_000
MAX_RENDER_SECONDS = 1.0


class TemplateLimit(SecurityError):
    """A template asked for more than one render may spend."""


@dataclass
class Budget:
    deadline: float
    iterations: int = field(default=0)

    def tick(self, count: int = 1) -> None:
        self.iterations += count
        if self.iterations > MAX_ITERATIONS:
            raise TemplateLimit(f"more than {MAX_ITERATIONS} loop iterations")
        if self.iterations % 1024 < count and time.monotonic() > self.deadline:
            raise TemplateLimit(f"rendering took longer than {MAX_RENDER_SECONDS} s")

    def check_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise TemplateLimit(f"rendering took longer than {MAX_RENDER_SECONDS} s")


_BUDGET: ContextVar[Budget | None] = ContextVar("herald_template_budget", default=None)


def start_budget() -> Budget:
    budget = Budget(deadline=time.monotonic() + MAX_RENDER_SECONDS)
    _BUDGET.set(budget)
    return budget


def _tick(count: int = 1) -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.tick(count)


def sized(value: Any) -> Any:
    """``value``, unless it is a string or list past MAX_VALUE_CHARS."""
    if isinstance(value, str | list | tuple) and len(value) > MAX_VALUE_CHARS:
        raise TemplateLimit(f"a value of more than {MAX_VALUE_CHARS} characters or items")
    return value


def _iterate(iterable: Iterable[Any]) -> Iterator[Any]:
    for item in iterable:
        _tick()
        yield item


_PERCENT = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_NUMBER = re.compile(r"\d+")


def _check_percent(template: str) -> None:
    """``'%0100000000d' % 1`` and the ``format`` filter: refuse wide fields."""
    for width, precision in _PERCENT.findall(template):
        for part in (width, precision):
            if part == "*" or (part and int(part) > MAX_WIDTH):
                raise TemplateLimit(f"a field wider than {MAX_WIDTH} characters")


def _check_format(template: str) -> None:
    """``'{:>100000000}'.format(1)``: refuse wide fields and nested specs."""
    for _, _, spec, _ in string.Formatter().parse(template):
        if spec and ("{" in spec or any(int(n) > MAX_WIDTH for n in _NUMBER.findall(spec))):
            raise TemplateLimit(f"a field wider than {MAX_WIDTH} characters")


def _check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Before a string method that can grow its string runs."""
    owner = getattr(obj, "__self__", None)
    if not isinstance(owner, str):
        return
    name = getattr(obj, "__name__", "")
    if name in ("ljust", "rjust", "center", "zfill", "expandtabs"):
        width = args[0] if args else next(iter(kwargs.values()), 0)
        limit = 64 if name == "expandtabs" else MAX_WIDTH
        if isinstance(width, int) and width > limit:
            raise TemplateLimit(f"{name}() wider than {limit}")
    elif name == "replace" and len(args) >= 2:
        _check_replace(owner, args[0], args[1])
    elif name == "join" and args:
        _check_join(owner, args[0])


def _check_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        count = text.count(old) if old else len(text) + 1
        sized_len = len(text) + count * (len(new) - len(old))
        if sized_len > MAX_VALUE_CHARS:
            raise TemplateLimit(f"a value of more than {MAX_VALUE_CHARS} characters")


def _check_join(separator: str, items: Any) -> None:
    if isinstance(items, list | tuple):
        total = len(separator) * len(items) + sum(
            len(i) if isinstance(i, str) else 0 for i in items
        )
        if total > MAX_VALUE_CHARS:
            raise TemplateLimit(f"a value of more than {MAX_VALUE_CHARS} characters")


# The filter every loop's iterable passes through, put in when a template is parsed (a
# filter, since Jinja allows no node types of one's own); harmless where a template
# names it itself.
_ITERATE = "_herald_iterate"


class _Generator(CodeGenerator):
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.sized(")
        super().visit_Concat(node, frame)
        self.write(")")


def _guarded_filter(
    name: str, func: Callable[..., Any], before: Callable[..., None] | None
) -> Callable[..., Any]:
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if before is not None:
            before(*args, **kwargs)
        return sized(func(*args, **kwargs))

    # Jinja reads how to pass the context or environment from the function's marks.
    for mark in ("jinja_pass_arg",):
        if hasattr(func, mark):
            setattr(guarded, mark, getattr(func, mark))
    guarded.__name__ = name
    return guarded


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _wide(*args: Any, **kwargs: Any) -> None:
    # center(value, width) / wordwrap(environment, value, width)
    for value in (*args[1:3], *kwargs.values()):
        if _whole(value) and value > MAX_WIDTH:
            raise TemplateLimit(f"a width of more than {MAX_WIDTH}")


def _indent(text: Any, width: Any = 4, *args: Any, **kwargs: Any) -> None:
    # Every line gains the width: a string of newlines multiplies by it.
    if isinstance(text, str):
        pad = len(width) if isinstance(width, str) else width if _whole(width) else 0
        if pad > MAX_WIDTH or pad * (text.count("\n") + 1) > MAX_VALUE_CHARS:
            raise TemplateLimit(f"a value of more than {MAX_VALUE_CHARS} characters")


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> None:
    if isinstance(value, str):
        _check_percent(value)


def _replace_filter(*args: Any, **kwargs: Any) -> None:
    strings = [a for a in args if isinstance(a, str)]
    if len(strings) >= 3:
        _check_replace(*strings[-3:])


def _join_filter(*args: Any, **kwargs: Any) -> None:
    items = next((a for a in args if isinstance(a, list | tuple)), None)
    separator = next((a for a in args[2:] if isinstance(a, str)), "")
    if items is not None:
        _check_join(separator, items)


_BEFORE: dict[str, Callable[..., None]] = {
    "center": _wide,
    "indent": _indent,
    "wordwrap": _wide,
    "format": _format_filter,
    "replace": _replace_filter,
    "join": _join_filter,
}


class GuardedSandbox(SandboxedEnvironment):
    """The sandbox with Herald's limits (module docstring)."""

    code_generator_class = _Generator
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {
            name: _guarded_filter(name, func, _BEFORE.get(name))
            for name, func in self.filters.items()
        }
        self.filters[_ITERATE] = _iterate
        self.sized = sized

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, _ITERATE, [], [], None, None, lineno=loop.lineno)
        return tree

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise TemplateLimit("exponent too large in template")
            # Chained powers grow without bound: ((9**99)**99)**99 is a CPU sink.
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise TemplateLimit("number too large in template")
            return left**right
        if operator_ == "*":
            if _whole(left) and _whole(right) and left.bit_length() + right.bit_length() > 65536:
                raise TemplateLimit("number too large in template")
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and (times > MAX_REPEAT or len(seq) * times > MAX_VALUE_CHARS)
                ):
                    raise TemplateLimit("repetition too large in template")
            return left * right
        if operator_ == "%":
            if isinstance(left, str):
                _check_percent(left)
            return sized(left % right)
        return sized(left + right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Variables are JSON objects: their keys come before a dict's methods, so that
        # ``digest.items`` is the list a digest carries, not ``dict.items``.
        if isinstance(obj, dict) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_call(__obj, args, kwargs)
        return sized(super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        _check_format(value.__self__)
        return wrapped
