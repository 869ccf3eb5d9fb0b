"""Events to every socket of a conversation from outside its consumers (a worker, a
service): one event per message, never one per token."""

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from chat.models import Message
from chat.selectors import person_name


def group_send(conversation_id: object, event: dict[str, Any]) -> None:
    from chat.consumers import group_name

    layer_send(group_name(conversation_id), event)


def layer_send(group: str, event: dict[str, Any]) -> None:
    """An event to a channel-layer group (a conversation's, a site's consoles)."""
    layer = get_channel_layer()
    if layer is not None:
        async_to_sync(layer.group_send)(group, event)


def agent_message_json(message: Message, *, staff: bool) -> dict[str, Any]:
    """An agent's message as a side sees it: staff also get what the agent wrote."""
    data: dict[str, Any] = {
        "id": message.id,
        "role": message.role,
        "text": message.text,
        "language": message.language,
        "status": message.status,
        "created_at": message.created_at.isoformat(),
        "author": person_name(message.author) if message.author else "",
    }
    if staff:
        data["original"] = message.original or message.text
    return data


def agent_message_announce(message_id: int) -> None:
    """`agent.message` to the conversation's sockets (each consumer renders its side)."""
    conversation_id = Message.objects.values_list("conversation_id", flat=True).get(id=message_id)
    group_send(conversation_id, {"type": "agent.message", "message_id": message_id})
