"""Versioned prompt templates of a site: create a version, activate it (or roll back), preview.

The chat uses the active version of each kind, or the default below when a site has none.
A grounded answer's system message is the system prompt, a blank line, and the grounded
template with its `{sources}` placeholder replaced by the numbered sources.
"""

import re
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from inference.base import ChatMessage
from knowledge.models import PromptTemplate
from sites.models import Site

SOURCES_PLACEHOLDER = "{sources}"
SYSTEM_PROMPT_DEFAULT: str = settings.SYSTEM_PROMPT
GROUNDED_PROMPT_DEFAULT = """\
Answer the customer's question using only the numbered sources below; do not use other \
knowledge and do not guess. Cite each source you use by its number in square brackets, \
like [1] or [2], right after the sentence it supports. Answer in the language the customer \
writes in, even when the sources are in another language. If the sources do not contain \
the answer, say so plainly and offer to connect the customer with a human agent.

Sources:
{sources}"""
PROMPT_MAX_CHARS = 8000
_PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")


def prompt_default(kind: str) -> str:
    """The built-in text of a kind, used while a site has no active version of it."""
    if kind == PromptTemplate.Kind.GROUNDED:
        return GROUNDED_PROMPT_DEFAULT
    return str(settings.SYSTEM_PROMPT)


def sources_numbered(sources: list[str]) -> str:
    """Sources as the model sees them: `[1] text`, one block each."""
    return "\n\n".join(f"[{n}] {text.strip()}" for n, text in enumerate(sources, start=1))


def grounded_render(template: str, sources_block: str) -> str:
    """The grounded template with the numbered sources put in its placeholder."""
    return template.replace(SOURCES_PLACEHOLDER, sources_block)


def prompt_text_validate(*, kind: str, text: str) -> str:
    """The cleaned text of a template; ValidationError says what is wrong with it."""
    text = text.strip().replace("\r\n", "\n")
    if kind not in PromptTemplate.Kind.values:
        raise ValidationError(f"Unknown prompt kind “{kind}”.")
    if not text:
        raise ValidationError("The prompt is empty.")
    if len(text) > PROMPT_MAX_CHARS:
        raise ValidationError(f"The prompt is longer than {PROMPT_MAX_CHARS} characters.")
    count = text.count(SOURCES_PLACEHOLDER)
    if kind == PromptTemplate.Kind.GROUNDED and count != 1:
        found = "does not contain it" if count == 0 else f"contains it {count} times"
        raise ValidationError(
            f"A grounded prompt must contain {SOURCES_PLACEHOLDER} exactly once, where the "
            f"numbered sources go; this one {found}."
        )
    if kind == PromptTemplate.Kind.SYSTEM and count:
        raise ValidationError(
            f"{SOURCES_PLACEHOLDER} belongs in the grounded prompt, not the system prompt."
        )
    # A trial render: any other {name} left would reach the model as a literal typo.
    leftover = _PLACEHOLDER.findall(grounded_render(text, "[1] source"))
    if leftover:
        raise ValidationError(
            f"Unknown placeholder {leftover[0]}: only {SOURCES_PLACEHOLDER} is filled in."
        )
    return text


def prompt_version_create(
    *,
    site: Site,
    kind: str,
    text: str,
    note: str = "",
    user: Any = None,
    activate: bool = False,
) -> PromptTemplate:
    """Store `text` as the next version of the site's prompt of `kind` (validated first)."""
    text = prompt_text_validate(kind=kind, text=text)
    with transaction.atomic():
        # Locking the site row numbers concurrent versions one after the other.
        Site.objects.select_for_update().filter(id=site.id).exists()
        last = PromptTemplate.objects.filter(site=site, kind=kind).aggregate(v=Max("version"))
        template = PromptTemplate(
            site=site,
            kind=kind,
            version=(last["v"] or 0) + 1,
            text=text,
            note=note.strip()[:200],
            created_by=user if getattr(user, "is_authenticated", False) else None,
        )
        template.full_clean()
        template.save()
        if activate:
            prompt_activate(template=template)
    return template


def prompt_activate(*, template: PromptTemplate) -> PromptTemplate:
    """Make `template` the one in use for its site and kind; activating an older version
    is the rollback."""
    with transaction.atomic():
        PromptTemplate.objects.filter(
            site_id=template.site_id, kind=template.kind, active=True
        ).exclude(id=template.id).update(active=False)
        PromptTemplate.objects.filter(id=template.id).update(active=True)
    template.active = True
    return template


def prompt_deactivate(*, site: Site, kind: str) -> None:
    """Stop using every version of `kind`: the site falls back to the built-in default."""
    PromptTemplate.objects.filter(site=site, kind=kind, active=True).update(active=False)


def prompt_active_text(*, site: Site, kind: str) -> str:
    """The text the chat uses now: the active version's, or the built-in default."""
    active = (
        PromptTemplate.objects.filter(site=site, kind=kind, active=True)
        .values_list("text", flat=True)
        .first()
    )
    return active if active is not None else prompt_default(kind)


def prompt_preview(
    *, site: Site, kind: str, text: str, question: str, sources: list[str]
) -> list[ChatMessage]:
    """The messages the model would get for `question` if `text` were the active `kind`.

    With sources, the message is a grounded answer's; without, a plain chat's.
    """
    text = prompt_text_validate(kind=kind, text=text)
    system = text if kind == PromptTemplate.Kind.SYSTEM else None
    grounded = text if kind == PromptTemplate.Kind.GROUNDED else None
    system = system or prompt_active_text(site=site, kind=PromptTemplate.Kind.SYSTEM)
    sources = [s for s in sources if s.strip()]
    if sources:
        grounded = grounded or prompt_active_text(site=site, kind=PromptTemplate.Kind.GROUNDED)
        system = f"{system}\n\n{grounded_render(grounded, sources_numbered(sources))}"
    return [{"role": "system", "content": system}, {"role": "user", "content": question}]
