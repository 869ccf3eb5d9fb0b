"""The socket on the real ASGI app (Channels' communicator, real Redis channel layer)."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import override_settings

from chat import streams
from chat.models import Message
from chat.services import message_post
from chat.tokens import conversation_token_issue
from tests.factories import ConversationFactory, SiteFactory, UserFactory
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def connect(conversation_id, token=None, headers=None, user=None):
    path = f"/ws/conversations/{conversation_id}/" + (f"?token={token}" if token else "")
    communicator = WebsocketCommunicator(application, path, headers=headers or [])
    if user is not None:
        communicator.scope["user"] = user
    connected, code = await communicator.connect(timeout=5)
    return communicator, connected, code


async def open_conversation(**kwargs):
    from channels.db import database_sync_to_async

    conversation = await database_sync_to_async(ConversationFactory.create)(**kwargs)
    token = conversation_token_issue(conversation.id)
    communicator, connected, _ = await connect(conversation.id, token)
    assert connected
    return conversation, token, communicator


async def test_a_forged_token_is_refused_at_the_handshake():
    conversation, token, ok = await open_conversation()
    await ok.disconnect()
    _, connected, code = await connect(conversation.id, token[:-3] + "xyz")
    assert not connected and code == 4401


async def test_a_token_opens_only_its_own_conversation():
    from channels.db import database_sync_to_async

    _, token, ok = await open_conversation()
    await ok.disconnect()
    third = await database_sync_to_async(ConversationFactory.create)()
    _, connected, _ = await connect(third.id, token)
    assert not connected


async def test_origins_other_than_this_host_or_the_sites_are_refused():
    from channels.db import database_sync_to_async

    site = await database_sync_to_async(SiteFactory.create)(allowed_origins="https://shop.example")
    conversation = await database_sync_to_async(ConversationFactory.create)(site=site)
    token = conversation_token_issue(conversation.id)

    def headers(origin):
        return [(b"origin", origin.encode()), (b"host", b"help.example:8000")]

    for origin, allowed in [
        ("https://evil.example", False),
        ("https://shop.example", True),
        ("http://help.example:8000", True),
    ]:
        communicator, connected, code = await connect(conversation.id, token, headers(origin))
        assert connected is allowed, origin
        if allowed:
            await communicator.disconnect()
        else:
            assert code == 4403


async def test_the_owner_opens_the_socket_with_the_session_and_others_cannot():
    from channels.db import database_sync_to_async

    owner, stranger = await database_sync_to_async(UserFactory.create_batch)(2)
    conversation = await database_sync_to_async(ConversationFactory.create)(owner=owner)
    communicator, connected, _ = await connect(conversation.id, user=owner)
    assert connected
    await communicator.disconnect()
    _, connected, _ = await connect(conversation.id, user=stranger)
    assert not connected


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_json"),
        ("[1, 2]", "invalid_event"),
        ('{"type": "dance"}', "unknown_type"),
        ('{"type": "user.message"}', "missing_field"),
        ('{"type": "user.message", "text": 42}', "invalid_field"),
        ('{"type": "resume", "generation_id": "x", "after_seq": -1}', "not_found"),
        (
            '{"type": "cancel", "generation_id": "00000000-0000-0000-0000-000000000000"}',
            "not_found",
        ),
    ],
)
async def test_bad_frames_get_a_clear_error_and_the_socket_stays_open(frame, code):
    _, _, communicator = await open_conversation()
    await communicator.send_to(text_data=frame)
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["type"] == "error" and reply["code"] == code and reply["detail"]
    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.disconnect()


async def test_an_overlong_message_is_refused_and_nothing_is_stored():
    from channels.db import database_sync_to_async

    conversation, _, communicator = await open_conversation()
    await communicator.send_json_to({"type": "user.message", "text": "x" * 8001})
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["code"] == "message_too_long"
    assert await database_sync_to_async(conversation.messages.count)() == 0
    await communicator.disconnect()


@override_settings(WS_MAX_FRAME_BYTES=1000)
async def test_an_oversize_frame_is_refused_with_4009():
    _, _, communicator = await open_conversation()
    await communicator.send_to(text_data=json.dumps({"type": "user.message", "text": "y" * 2000}))
    reply = await communicator.receive_json_from(timeout=5)
    assert reply["code"] == "frame_too_large"
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4009}


async def test_a_message_is_announced_with_its_queued_answer():
    from channels.db import database_sync_to_async

    conversation, _, communicator = await open_conversation()
    await communicator.send_json_to({"type": "user.message", "text": "Hi there", "client_id": "k1"})
    user = await communicator.receive_json_from(timeout=5)
    assistant = await communicator.receive_json_from(timeout=5)
    assert user["message"]["role"] == "user" and user["message"]["client_id"] == "k1"
    assert assistant["message"]["role"] == "assistant"
    assert assistant["message"]["status"] == "queued" and assistant["message"]["generation_id"]
    await communicator.send_json_to({"type": "user.message", "text": "again", "client_id": "k2"})
    busy = await communicator.receive_json_from(timeout=5)
    assert busy["code"] == "generation_in_progress"
    roles = await database_sync_to_async(
        lambda: list(conversation.messages.values_list("role", flat=True))
    )()
    assert roles == [Message.Role.USER, Message.Role.ASSISTANT]
    await communicator.disconnect()


async def test_resume_replays_exactly_what_was_missed():
    from channels.db import database_sync_to_async

    conversation, _, communicator = await open_conversation()
    posted = await database_sync_to_async(message_post)(conversation=conversation, text="hi")
    generation_id = str(posted.generation.id)
    stream = streams.StreamWriter(generation_id)
    for piece in ["Hel", "lo ", "wor", "ld"]:
        await database_sync_to_async(stream.delta)(piece)
    await database_sync_to_async(stream.done)("done", {})
    await communicator.send_json_to(
        {"type": "resume", "generation_id": generation_id, "after_seq": 2}
    )
    events = [await communicator.receive_json_from(timeout=5) for _ in range(3)]
    assert [(e["type"], e["seq"]) for e in events] == [
        ("generation.delta", 3),
        ("generation.delta", 4),
        ("generation.done", 5),
    ]
    assert "".join(e.get("text", "") for e in events) == "world"
    await communicator.disconnect()
