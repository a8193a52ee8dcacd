"""Rendering templates in Jinja2's sandbox.

A template reaches only the variables it is given (SandboxedEnvironment refuses
``__class__``-style attribute walks), a missing variable is an error rather than an
empty string (StrictUndefined), HTML fields autoescape what they interpolate, and
arithmetic that would build huge strings is refused before it allocates.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import (
    ChainableUndefined,
    StrictUndefined,
    Template,
    TemplateSyntaxError,
    UndefinedError,
    nodes,
)
from jinja2.exceptions import SecurityError

from herald.domain.errors import HeraldError
from herald.domain.sandbox import GuardedSandbox, TemplateLimit, start_budget
from herald.domain.template_fields import (
    CHANNEL_FIELDS,
    HTML_FIELDS,
    SINGLE_LINE_FIELDS,
)

MAX_SOURCE_CHARS = 64 * 1024
MAX_OUTPUT_CHARS = 1024 * 1024


_text_env = GuardedSandbox(undefined=StrictUndefined, autoescape=False)
_html_env = GuardedSandbox(undefined=StrictUndefined, autoescape=True)
# For the trial render when a template is saved: its variables are not known yet.
_trial_envs = {
    html: GuardedSandbox(undefined=ChainableUndefined, autoescape=html) for html in (False, True)
}
# What makes a render's cost depend on more than its source's length.
_REPEATING = (nodes.For, nodes.Macro, nodes.CallBlock)


def _env(html: bool) -> GuardedSandbox:
    return _html_env if html else _text_env


@dataclass(frozen=True, slots=True)
class _Compiled:
    template: Template
    # Loops or macros: the render may take up to the sandbox's time budget.
    repeats: bool


@functools.lru_cache(maxsize=2048)
def _compiled(source: str, html: bool) -> _Compiled:
    # Template versions never change, so a compiled template never goes stale; compiling
    # was the largest single cost of rendering a notification.
    env = _env(html)
    tree = env.parse(source)
    template = env.template_class.from_code(env, env.compile(tree), env.make_globals(None), None)
    return _Compiled(template, any(True for _ in tree.find_all(_REPEATING)))


def _generate(template: Template, variables: Mapping[str, Any]) -> str:
    """The template's output, within the output limit and the render budget."""
    budget = start_budget()
    out: list[str] = []
    size = 0
    for chunk in template.generate(**variables):
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise TemplateLimit(f"rendered text is longer than {MAX_OUTPUT_CHARS} characters")
        budget.check_time()
        out.append(chunk)
    return "".join(out)


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

    names = set(meta.find_undeclared_variables(tree))
    _trial(field, source, html, names)
    return names


def _trial(field: str, source: str, html: bool, names: set[str]) -> None:
    """Render once with stand-ins for the variables: a template whose own constants
    break the limits (``'a'.ljust(10**8)``) is refused when saved, not at send time.
    Anything else a stand-in trips over is the real variables' business."""
    env = _trial_envs[html]
    try:
        template = env.from_string(source)
        _generate(template, {name: ChainableUndefined(name=name) for name in names})
    except TemplateLimit as exc:
        raise HeraldError.invalid(f"{field}: not allowed in templates ({exc})")
    except RecursionError:
        raise HeraldError.invalid(f"{field}: template is nested too deeply")
    except Exception:  # a stand-in is not the real value: its errors say nothing
        return


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
            text = _generate(_compiled(source, name in html).template, variables)
        except UndefinedError as exc:
            raise HeraldError.invalid(f"{name}: missing template variable ({exc.message})")
        except SecurityError as exc:  # TemplateLimit among them
            raise HeraldError.invalid(f"{name}: not allowed in templates ({exc})")
        except TemplateSyntaxError as exc:
            raise HeraldError.invalid(f"{name}: template syntax error on line {exc.lineno}")
        except RecursionError:
            raise HeraldError.invalid(f"{name}: template is nested too deeply")
        except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
            raise HeraldError.invalid(f"{name}: template could not be rendered ({exc})")
        # A line break in a header would let a variable inject headers (RFC 5322 §2.2).
        if name in one_line and ("\r" in text or "\n" in text):
            raise HeraldError.invalid(f"{name} must not contain a line break")
        out[name] = text
    return out


def render_channel(
    channel: str, fields: Mapping[str, str | None], variables: Mapping[str, Any]
) -> dict[str, str | None]:
    """Render the fields of one template version of ``channel``."""
    wanted = {name: fields.get(name) for name in CHANNEL_FIELDS[channel]}
    return render(wanted, variables, html_fields=HTML_FIELDS, single_line=SINGLE_LINE_FIELDS)


def may_run_long(channel: str, fields: Mapping[str, str | None]) -> bool:
    """Whether rendering these fields can take more than a moment (loops or macros, up
    to the sandbox's time budget): callers on an event loop render those in a thread."""
    return any(
        _compiled(source, name in HTML_FIELDS).repeats
        for name in CHANNEL_FIELDS[channel]
        if (source := fields.get(name))
    )


def needs(channel: str, fields: Mapping[str, str | None]) -> dict[str, list[str]]:
    """The variables one version of ``channel`` uses: all of them, and those its
    single-line fields use (which may hold no line break)."""
    from jinja2 import meta

    used: set[str] = set()
    single: set[str] = set()
    for name in CHANNEL_FIELDS[channel]:
        source = fields.get(name)
        if not source:
            continue
        env = _env(name in HTML_FIELDS)
        names = set(meta.find_undeclared_variables(env.parse(source))) - set(env.globals)
        used |= names
        if name in SINGLE_LINE_FIELDS:
            single |= names
    return {"all": sorted(used), "single_line": sorted(single)}
