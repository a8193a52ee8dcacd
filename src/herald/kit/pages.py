"""Server-rendered pages (the console, the dev inbox): Jinja2 templates kept in a
package's ``templates`` folder, escaped by default."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jinja2 import Environment


@functools.cache
def environment(package: str) -> Environment:
    """Made on the first page a process shows: one that shows none never loads Jinja2
    (every module costs memory in every container)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader(package, "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
