"""Rendering templates in Jinja2's sandbox.

A template reaches only the variables it is given (SandboxedEnvironment refuses
``__class__``-style attribute walks), a missing variable is an error rather than an
empty string (StrictUndefined), HTML fields autoescape what they interpolate, and
arithmetic that would build huge strings is refused before it allocates.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from herald.domain.errors import HeraldError

MAX_SOURCE_CHARS = 64 * 1024
MAX_OUTPUT_CHARS = 1024 * 1024
MAX_REPEAT = 10_000
MAX_EXPONENT = 100
MAX_POWER_BITS = 4096


class _GuardedSandbox(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_: str, left: Any, right: Any) -> Any:
        # ``'a' * 10**9`` would allocate a gigabyte inside the worker: refuse it.
        if operator_ == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError("exponent too large in template")
            # Chained powers grow without bound: ((9**99)**99)**99 is a CPU sink.
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise SecurityError("number too large in template")
            return operator.pow(left, right)
        if isinstance(left, str | list | tuple) and isinstance(right, int) and right > MAX_REPEAT:
            raise SecurityError("repetition too large in template")
        if isinstance(right, str | list | tuple) and isinstance(left, int) and left > MAX_REPEAT:
            raise SecurityError("repetition too large in template")
        return operator.mul(left, right)


_text_env = _GuardedSandbox(undefined=StrictUndefined, autoescape=False)
_html_env = _GuardedSandbox(undefined=StrictUndefined, autoescape=True)


def _env(html: bool) -> SandboxedEnvironment:
    return _html_env if html else _text_env


@functools.lru_cache(maxsize=2048)
def _compiled(source: str, html: bool) -> Template:
    # Template versions never change, so a compiled template never goes stale; compiling
    # was the largest single cost of rendering a notification.
    return _env(html).from_string(source)


def _private_attribute(tree: nodes.Template) -> str | None:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        name = node.attr if isinstance(node, nodes.Getattr) else None
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value if isinstance(node.arg.value, str) else None
        if name is not None and name.startswith("_"):
            return name
    return None


def validate(field: str, source: str, *, html: bool = False) -> set[str]:
    """Check one template field when it is saved; return the variables it uses."""
    if len(source) > MAX_SOURCE_CHARS:
        raise HeraldError.invalid(f"{field} is longer than {MAX_SOURCE_CHARS} characters")
    env = _env(html)
    try:
        tree = env.parse(source)
    except TemplateSyntaxError as exc:
        raise HeraldError.invalid(
            f"{field}: template syntax error on line {exc.lineno}: {exc.message}"
        )
    except RecursionError:
        raise HeraldError.invalid(f"{field}: template is nested too deeply")
    private = _private_attribute(tree)
    if private is not None:
        raise HeraldError.invalid(f"{field}: access to '{private}' is not allowed in templates")
    from jinja2 import meta

    return set(meta.find_undeclared_variables(tree))


def render(
    fields: Mapping[str, str | None],
    variables: Mapping[str, Any],
    *,
    html_fields: Iterable[str] = (),
    single_line: Iterable[str] = (),
) -> dict[str, str | None]:
    """Render every non-empty field; raise a 422 naming what went wrong."""
    html = set(html_fields)
    one_line = set(single_line)
    out: dict[str, str | None] = {}
    for name, source in fields.items():
        if source is None:
            out[name] = None
            continue
        try:
            text = _compiled(source, name in html).render(**variables)
        except UndefinedError as exc:
            raise HeraldError.invalid(f"{name}: missing template variable ({exc.message})")
        except SecurityError as exc:
            raise HeraldError.invalid(f"{name}: not allowed in templates ({exc})")
        except TemplateSyntaxError as exc:
            raise HeraldError.invalid(f"{name}: template syntax error on line {exc.lineno}")
        except RecursionError:
            raise HeraldError.invalid(f"{name}: template is nested too deeply")
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise HeraldError.invalid(f"{name}: template could not be rendered ({exc})")
        if len(text) > MAX_OUTPUT_CHARS:
            raise HeraldError.invalid(
                f"{name}: rendered text is longer than {MAX_OUTPUT_CHARS} characters"
            )
        # A line break in a header would let a variable inject headers (RFC 5322 §2.2).
        if name in one_line and ("\r" in text or "\n" in text):
            raise HeraldError.invalid(f"{name} must not contain a line break")
        out[name] = text
    return out


CHANNEL_FIELDS = {
    "email": ("subject", "text_body", "html_body"),
    "push": ("title", "body", "image", "link"),
}
REQUIRED_FIELDS = {"email": ("subject", "text_body"), "push": ("title", "body")}
HTML_FIELDS = frozenset({"html_body"})
SINGLE_LINE_FIELDS = frozenset({"subject", "title", "image", "link"})


def render_channel(
    channel: str, fields: Mapping[str, str | None], variables: Mapping[str, Any]
) -> dict[str, str | None]:
    """Render the fields of one template version of ``channel``."""
    wanted = {name: fields.get(name) for name in CHANNEL_FIELDS[channel]}
    return render(wanted, variables, html_fields=HTML_FIELDS, single_line=SINGLE_LINE_FIELDS)
