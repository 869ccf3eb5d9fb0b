"""Live translation in a conversation, through the real ASGI app and channel layer: a
Chinese-writing visitor and an English-writing staff member each see their own language,
the originals kept; a failed translation does not block the agent's message."""

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from chat.engine import engine_backend
from chat.models import Generation, Message
from chat.runner import generation_execute
from chat.tokens import conversation_token_issue
from inference.base import BackendError
from tests.factories import ConversationFactory, UserFactory
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


async def sockets():
    conversation = await database_sync_to_async(ConversationFactory.create)()
    token = conversation_token_issue(conversation.id)
    visitor = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.id}/?token={token}"
    )
    assert (await visitor.connect(timeout=5))[0]
    staff = WebsocketCommunicator(application, f"/ws/conversations/{conversation.id}/")
    staff.scope["user"] = await database_sync_to_async(UserFactory.create)(is_staff=True)
    assert (await staff.connect(timeout=5))[0]
    return conversation, visitor, staff


async def next_of(communicator, kind, timeout=10):
    while True:
        event = await communicator.receive_json_from(timeout=timeout)
        if event["type"] == kind:
            return event


async def translations_run(conversation, role="user"):
    """What the chat worker does with the translations queued for this conversation. The
    socket stores a frame's message a moment after it is sent: wait for it without holding
    the one thread the sockets' database calls share."""
    import asyncio

    queued = Generation.objects.filter(
        conversation=conversation, kind="message_translation", status="queued",
        message__role=role,
    )  # fmt: skip
    for _ in range(100):
        if await database_sync_to_async(queued.exists)():
            break
        await asyncio.sleep(0.1)
    for generation_id in await database_sync_to_async(
        lambda: list(queued.values_list("id", flat=True))
    )():
        await database_sync_to_async(generation_execute)(generation_id)


async def test_each_side_reads_its_own_language_and_the_originals_are_kept():
    conversation, visitor, staff = await sockets()
    await visitor.send_json_to({"type": "user.message", "text": "我的包裹还没到，订单号是 4471。"})
    created = await next_of(staff, "message.created")
    assert created["message"]["role"] == "user"
    await translations_run(conversation)
    translated = await next_of(staff, "message.translated")
    assert translated["language"] == "zh" and translated["translation_language"] == "en"
    assert translated["translation"]
    stored = await database_sync_to_async(Message.objects.get)(id=translated["message_id"])
    assert stored.text == "我的包裹还没到，订单号是 4471。"  # the original, as written

    await staff.send_json_to({"type": "agent.message", "text": "Your parcel ships tomorrow."})
    await translations_run(conversation, "agent")
    seen = (await next_of(visitor, "agent.message"))["message"]
    assert seen["role"] == "agent" and seen["language"] == "zh" and seen["text"]
    assert "original" not in seen  # the visitor sees only their language
    staff_view = (await next_of(staff, "agent.message"))["message"]
    assert staff_view["original"] == "Your parcel ships tomorrow."
    seen_types = set()
    while not await visitor.receive_nothing(timeout=1):
        seen_types.add((await visitor.receive_json_from())["type"])
    assert "message.translated" not in seen_types  # never the staff's side of their own
    for communicator in (visitor, staff):
        await communicator.disconnect()


async def test_a_failed_translation_sends_the_agents_message_as_written(monkeypatch):
    conversation, visitor, staff = await sockets()
    await visitor.send_json_to({"type": "user.message", "text": "你好，请问怎么退货？"})
    await next_of(staff, "message.created")

    def broken(*args, **kwargs):
        raise BackendError("backend_unavailable", "down")

    monkeypatch.setattr(type(engine_backend()), "stream", broken)
    await staff.send_json_to(
        {"type": "agent.message", "text": "Print the label from your account."}
    )
    await translations_run(conversation, "agent")
    seen = (await next_of(visitor, "agent.message"))["message"]
    assert seen["text"] == "Print the label from your account."
    for communicator in (visitor, staff):
        await communicator.disconnect()


async def test_a_visitor_cannot_write_as_an_agent():
    _, visitor, staff = await sockets()
    await visitor.send_json_to({"type": "agent.message", "text": "I am staff."})
    assert (await next_of(visitor, "error"))["code"] == "forbidden"
    for communicator in (visitor, staff):
        await communicator.disconnect()
