from typing import Any

from django import template
from django.utils.safestring import SafeString, mark_safe

from chat.answers import CITATION
from chat.markdown import markdown_render
from webapp.errors import error_text as error_text_for

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return mark_safe(markdown_render(text))  # noqa: S308  (sanitized by nh3 above)


@register.filter
def citations(html: SafeString, message_id: int) -> SafeString:
    """Link each [n] of a rendered answer to its numbered source below it."""
    return mark_safe(  # noqa: S308  (only digits and our own markup are added)
        CITATION.sub(
            lambda m: f'<a class="cite" href="#source-{int(message_id)}-{m[1]}">[{m[1]}]</a>',
            str(html),
        )
    )


@register.filter
def error_text(code: str) -> str:
    """What the user is told about a failed answer: the fixed text of its code."""
    return str(error_text_for(code or "failed"))


@register.filter
def person(user: Any) -> str:
    """The name visitors see of a staff member (their agent name), "" for nobody."""
    from chat.selectors import person_name

    return person_name(user) if user is not None else ""
