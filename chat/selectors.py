"""Reads. `conversation_access` is the one place that decides who may open a conversation."""

import uuid
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Q, QuerySet

from chat.models import Conversation, Generation, Message
from chat.tokens import conversation_token_read
from sites.models import Site


def conversation_access(
    *, conversation_id: uuid.UUID | str, token: str | None = None, user: Any = None
) -> Conversation | None:
    """The conversation if the token opens it, the user owns it or is staff; else None."""
    try:
        wanted = uuid.UUID(str(conversation_id))
    except ValueError:
        return None
    if token:
        if conversation_token_read(token) != wanted:
            return None
        return Conversation.objects.select_related("site").filter(id=wanted).first()
    if user is not None and user.is_authenticated:
        conversations = Conversation.objects.select_related("site").filter(id=wanted)
        if not user.is_staff:  # staff open any conversation (reply, follow it live)
            # its owner, or an agent of its site (console.models.AgentProfile)
            conversations = conversations.filter(Q(owner=user) | Q(site__agents__user=user))
        return conversations.distinct().first()
    return None


def staff_side(user: Any, conversation: Conversation) -> bool:
    """Whether a session user reads and writes the conversation as staff (both sides, agent
    messages): staff, or an agent of its site."""
    if user is None or not user.is_authenticated:
        return False
    return bool(user.is_staff or conversation.site.agents.filter(user=user).exists())


def person_name(user: Any) -> str:
    """The name a visitor sees of a staff member: their agent name, else their username."""
    try:
        return str(user.agent.name)
    except (AttributeError, ObjectDoesNotExist):
        return str(user.get_username())


def conversation_list_for_user(user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated_at")


def message_list(conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.select_related("generation", "author__agent").order_by(
        "created_at", "id"
    )


def generation_active(conversation: Conversation) -> Generation | None:
    """The assistant's answer being written, if any (translations do not count)."""
    return (
        conversation.generations.filter(
            kind="chat", status__in=[Generation.Status.QUEUED, Generation.Status.STREAMING]
        )
        .order_by("queued_at")
        .first()
    )


def generation_get(*, conversation: Conversation, generation_id: str) -> Generation | None:
    try:
        wanted = uuid.UUID(str(generation_id))
    except ValueError:
        return None
    return conversation.generations.select_related("message").filter(id=wanted).first()


def generation_queue_position(generation: Generation) -> int:
    """How many generations will run before this one (0: it is next or running)."""
    if generation.status != Generation.Status.QUEUED:
        return 0
    return Generation.objects.filter(
        status__in=[Generation.Status.QUEUED, Generation.Status.STREAMING],
        queued_at__lt=generation.queued_at,
    ).count()


def conversation_latest(*, site: Site, visitor_id: str) -> Conversation | None:
    """A verified visitor's latest conversation on a site."""
    return (
        Conversation.objects.filter(site=site, visitor_id=visitor_id)
        .order_by("-created_at")
        .first()
    )
