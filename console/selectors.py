"""Reads of the console, each scoped to the sites the user answers for: the one place
that decides what an agent sees (a superuser sees every site)."""

import uuid
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from chat.models import Conversation
from console.models import AgentProfile, CannedResponse, ConversationNote
from sites.models import Site

INBOX_TABS = ("waiting", "mine", "all", "resolved")


def agent_sites(user: Any) -> QuerySet[Site]:
    if user is None or not user.is_authenticated or not user.is_active:
        return Site.objects.none()
    if user.is_superuser:
        return Site.objects.all()
    return Site.objects.filter(agents__user=user)


def is_agent(user: Any) -> bool:
    """The agent role: an AgentProfile (or a superuser)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    return bool(user.is_superuser or AgentProfile.objects.filter(user=user).exists())


def inbox(user: Any, tab: str) -> QuerySet[Conversation]:
    conversations = Conversation.objects.filter(site__in=agent_sites(user)).select_related(
        "site", "assignee"
    )
    if tab == "waiting":
        return conversations.filter(state=Conversation.State.WAITING).order_by("state_changed_at")
    if tab == "mine":
        return conversations.filter(state=Conversation.State.ASSIGNED, assignee=user).order_by(
            "-updated_at"
        )
    if tab == "resolved":
        return conversations.filter(state=Conversation.State.RESOLVED).order_by("-updated_at")
    return conversations.exclude(state=Conversation.State.BOT).order_by("-updated_at")


def inbox_counts(user: Any) -> dict[str, int]:
    return {tab: inbox(user, tab).count() for tab in INBOX_TABS}


def queue_age_seconds(user: Any) -> int:
    """How long the oldest waiting conversation has waited."""
    oldest = inbox(user, "waiting").values_list("state_changed_at", flat=True).first()
    return int((timezone.now() - oldest).total_seconds()) if oldest else 0


def console_conversation(user: Any, conversation_id: uuid.UUID | str) -> Conversation | None:
    try:
        wanted = uuid.UUID(str(conversation_id))
    except ValueError:
        return None
    return (
        Conversation.objects.select_related("site", "assignee")
        .filter(id=wanted, site__in=agent_sites(user))
        .first()
    )


def notes(conversation: Conversation) -> QuerySet[ConversationNote]:
    return conversation.notes.select_related("author")


def canned_search(conversation: Conversation, query: str) -> QuerySet[CannedResponse]:
    found = CannedResponse.objects.filter(site_id=conversation.site_id)
    query = query.strip().lstrip("/")
    if query:
        found = found.filter(shortcut__istartswith=query) | found.filter(text__icontains=query)
    return found.order_by("shortcut")[:10]


def site_agents(site: Site) -> QuerySet[AgentProfile]:
    """Who may be given the site's conversations (a superuser's profile answers every site)."""
    return (
        AgentProfile.objects.filter(Q(sites=site) | Q(user__is_superuser=True))
        .distinct()
        .select_related("user")
        .order_by("user__username")
    )
