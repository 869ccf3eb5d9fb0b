"""Writes of the console: private notes and suggested replies (the handoff's state
changes are console.handoff's)."""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from chat.answers import answer_plan
from chat.models import Conversation, Generation, Message
from chat.services import generation_schedule
from console.models import ConversationNote

NOTE_MAX_CHARS = 4000


def note_add(*, conversation: Conversation, author: Any, text: str) -> ConversationNote:
    """A private note: staff see it in the console, the visitor never does (it is not a
    message and goes to no socket of the conversation)."""
    text = text.strip()
    if not text:
        raise ValidationError(_("The note is empty."), code="empty_note")
    if len(text) > NOTE_MAX_CHARS:
        raise ValidationError(
            _("Notes are limited to %(limit)d characters.") % {"limit": NOTE_MAX_CHARS},
            code="note_too_long",
        )
    return ConversationNote.objects.create(conversation=conversation, author=author, text=text)


def reply_suggest(*, conversation: Conversation) -> Generation:
    """Queue a draft of the agent's next reply, from the conversation and the knowledge that
    answers the visitor's latest message (retrieved here, where the index lives)."""
    # The visitor's last few messages: the last alone is often "yes please".
    recent = conversation.messages.filter(role=Message.Role.USER).order_by("-id")[:3]
    question = " ".join(reversed([m.translation or m.text for m in recent]))
    sources = answer_plan(site=conversation.site, question=question).sources if question else []
    with transaction.atomic():
        generation = Generation.objects.create(
            kind="reply_suggestion",
            conversation=conversation,
            context={"sources": sources, "language": conversation.site.staff_language},
        )
        transaction.on_commit(
            lambda: generation_schedule(generation.id, "reply_suggestion"), robust=True
        )
    return generation
