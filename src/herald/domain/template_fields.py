"""Which fields a template of each channel has: known without loading the template
engine, by those who only show or edit templates."""

from __future__ import annotations

CHANNEL_FIELDS = {
    "email": ("subject", "text_body", "html_body"),
    "push": ("title", "body", "image", "link"),
    "sms": ("body",),
    # ``blocks``: Slack's Block Kit, a template that renders to a JSON array.
    "chat": ("text", "blocks"),
    # A feed item: ``link`` opens when it is clicked, ``avatar`` is an image URL.
    "in_app": ("title", "body", "link", "avatar"),
}
HTML_FIELDS = frozenset({"html_body"})
# A line break in one of these would break a header or a notification's title.
SINGLE_LINE_FIELDS = frozenset({"subject", "title", "image", "link", "avatar"})
