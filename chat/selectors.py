"""Reads. `conversation_access` is the one place that decides who may open a conversation."""

import uuid
from typing import Any

from django.db.models import QuerySet

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
            conversations = conversations.filter(owner=user)
        return conversations.first()
    return None


def conversation_list_for_user(user: Any) -> QuerySet[Conversation]:
    return Conversation.objects.filter(owner=user).order_by("-updated_at")


def message_list(conversation: Conversation) -> QuerySet[Message]:
    return conversation.messages.select_related("generation").order_by("created_at", "id")


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
