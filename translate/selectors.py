"""Reads of translations; `translation_get` scopes them to a site."""

import uuid

from django.db.models import QuerySet

from sites.models import Site
from translate.models import Translation


def translation_get(*, translation_id: object, site: Site | None) -> Translation | None:
    """The translation, if it belongs to `site` (None: any site, for staff)."""
    try:
        wanted = uuid.UUID(str(translation_id))
    except ValueError:
        return None
    translations = Translation.objects.select_related("generation")
    if site is not None:
        translations = translations.filter(site=site)
    return translations.filter(id=wanted).first()


def translation_list(*, limit: int = 50) -> QuerySet[Translation]:
    return Translation.objects.select_related("generation").order_by("-created_at")[:limit]
