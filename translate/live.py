"""Live translation inside a conversation: a visitor writes their language, staff read and
write theirs (the site's staff_language), each side sees its own.

- A visitor's message is stored as written with its detected language; when that is not
  the staff's language and staff take part (a staff socket opened the conversation, or an
  agent wrote in it), its translation is made on the chat queue (ahead of batch work) and
  sent to staff views as `message.translated`. The visitor never sees it.
- An agent's message written in another language than the visitor's is translated before
  it is sent: the visitor gets `agent.message` with the translation, staff views with the
  original as well. A failed translation never blocks it: the original is sent.
- Translations are kinds of generation (translate.kinds.MessageTranslationKind), stored
  with the message, never computed twice.
"""

from typing import Any

from django.db import transaction

from chat.models import Conversation, Generation, Message
from chat.notify import agent_message_announce, group_send
from chat.services import generation_schedule
from translate.languages import language_detect
from webapp.redis import redis_key, redis_sync

STAFF_WATCH_SECONDS = 3600
KINDS = ("message_translation", "message_backfill")  # translate.kinds


def visitor_language(conversation: Conversation) -> str:
    """The language of the visitor's latest message that has one ("" if none)."""
    return (
        conversation.messages.filter(role=Message.Role.USER)
        .exclude(language="")
        .order_by("-id")
        .values_list("language", flat=True)
        .first()
        or ""
    )


def staff_watch(conversation: Conversation) -> None:
    """A staff view opened the conversation: translate its visitor messages from now on,
    and the older ones as back-fill (newest first, behind any fresh work of the chat
    queue: the agent's reply must not wait for them)."""
    redis_sync().set(redis_key("staff_watch", conversation.id), "1", ex=STAFF_WATCH_SECONDS)
    older = conversation.messages.filter(role=Message.Role.USER, translation="").order_by("-id")
    for message in older:
        message_translation_ensure(message, backfill=True)


def staff_engaged(conversation: Conversation) -> bool:
    if conversation.messages.filter(role=Message.Role.AGENT).exists():
        return True
    return bool(redis_sync().exists(redis_key("staff_watch", conversation.id)))


def visitor_message_seen(message: Message) -> None:
    """A visitor's new message: its language, and its translation when staff take part."""
    message_language_set(message)
    conversation = message.conversation
    if message.language != conversation.site.staff_language and staff_engaged(conversation):
        message_translation_ensure(message)


def message_language_set(message: Message) -> None:
    """Detect and store the language of a visitor's message."""
    message.language = language_detect(message.text).language
    Message.objects.filter(id=message.id).update(language=message.language)


def message_translation_ensure(message: Message, *, backfill: bool = False) -> Generation | None:
    """Queue the translation of a visitor's message into the staff's language, once;
    `backfill`: an older message, translated after fresh work (MessageBackfillKind)."""
    conversation = message.conversation
    staff = conversation.site.staff_language
    if not message.language:
        message_language_set(message)
    if message.language == staff or message.translation:
        return None
    if Generation.objects.filter(message=message, kind__in=KINDS).exists():
        return None  # queued or made already
    kind = "message_backfill" if backfill else "message_translation"
    return _translation_queue(message, source=message.language, target=staff, kind=kind)


def _translation_queue(
    message: Message, *, source: str, target: str, kind: str = "message_translation"
) -> Generation:
    with transaction.atomic():
        generation = Generation.objects.create(
            kind=kind,
            conversation=message.conversation,
            message=message,
            context={"source": source, "target": target},
        )
        transaction.on_commit(lambda: generation_schedule(generation.id, kind), robust=True)
    return generation


def agent_message_translated(*, conversation: Conversation, author: Any, text: str) -> Message:
    """Store a staff member's (clean) message; translate it first when the visitor writes
    another language, else announce it at once (chat.services.agent_message_post)."""
    written = language_detect(text).language
    target = visitor_language(conversation) or written
    if target == written:
        message = Message.objects.create(
            conversation=conversation, role=Message.Role.AGENT, text=text, language=written,
            author=author if getattr(author, "is_authenticated", False) else None,
        )  # fmt: skip
        transaction.on_commit(lambda: agent_message_announce(message.id), robust=True)
        return message
    message = Message.objects.create(
        conversation=conversation,
        role=Message.Role.AGENT,
        status=Message.Status.QUEUED,
        original=text,
        language=target,
        translation_language=written,
        author=author if getattr(author, "is_authenticated", False) else None,
    )
    _translation_queue(message, source=written, target=target)
    return message


def translation_announce(message_id: int) -> None:
    message = Message.objects.get(id=message_id)
    group_send(
        message.conversation_id,
        {
            "type": "message.translated",
            "message_id": message.id,
            "translation": message.translation,
            "translation_language": message.translation_language,
            "language": message.language,
        },
    )
