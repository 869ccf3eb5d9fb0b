"""Messages and answers to HTML that is safe to show: Markdown rendered, an answer written
in HTML (a help-centre export) taken as it is; sanitized with an allow-list either way."""

import nh3
from markdown_it import MarkdownIt

from knowledge.text import answer_format

_md = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")
# Markdown with <br> or <strong> in it: those tags are kept (then sanitized), not shown.
_md_html = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table")
_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "b",
    "i",
    "code",
    "pre",
    "ul",
    "ol",
    "li",
    "blockquote",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
}
# Dropped with their content (the other tags outside _TAGS keep their text).
_DROPPED = {"script", "style", "iframe", "noscript", "template", "object", "svg", "math"}


def markdown_render(text: str) -> str:
    """Safe HTML of a message: an answer written in HTML keeps its own markup (allowed tags
    only), Markdown is rendered; scripts, event handlers, styles and javascript: go."""
    kind = answer_format(text)
    if kind == "html":
        html = text
    elif kind == "inline_html":
        html = _md_html.render(text)
    else:
        html = _md.render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_DROPPED,
        attributes={"a": {"href", "title"}},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer nofollow",
    )
