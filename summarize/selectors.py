"""Reads of summaries; `summary_get` scopes them to a site."""

import uuid

from django.db.models import QuerySet

from chat.models import Conversation
from sites.models import Site
from summarize.models import Summary


def summary_get(*, summary_id: object, site: Site | None) -> Summary | None:
    """The summary, if it belongs to `site` (None: any site, for staff)."""
    try:
        wanted = uuid.UUID(str(summary_id))
    except ValueError:
        return None
    summaries = Summary.objects.select_related("generation")
    if site is not None:
        summaries = summaries.filter(site=site)
    return summaries.filter(id=wanted).first()


def summary_list(*, limit: int = 50) -> QuerySet[Summary]:
    return Summary.objects.select_related("generation", "site").order_by("-created_at")[:limit]


def conversation_summary_latest(conversation: Conversation) -> Summary | None:
    return conversation.summaries.filter(status=Summary.Status.DONE).order_by("-created_at").first()
