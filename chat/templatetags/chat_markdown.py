from django import template
from django.utils.safestring import SafeString, mark_safe

from chat.markdown import markdown_render

register = template.Library()


@register.filter
def markdown(text: str) -> SafeString:
    return mark_safe(markdown_render(text))  # noqa: S308  (sanitized by nh3 above)
