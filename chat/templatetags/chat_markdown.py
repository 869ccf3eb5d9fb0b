from django import template
from django.utils.safestring import SafeString, mark_safe

from chat.answers import CITATION
from chat.markdown import markdown_render

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
