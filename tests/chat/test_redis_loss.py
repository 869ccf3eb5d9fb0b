"""Redis goes away or restarts empty: nothing stored is lost, nothing waits forever."""

import asyncio
import base64
import json
from datetime import timedelta
from typing import cast

import pytest
import redis.asyncio as aioredis
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError

from chat import relay as relay_module
from chat import streams
from chat.models import Generation
from chat.relay import StreamRelay
from chat.runner import generation_claim, generation_execute
from chat.services import generation_finish, generation_requeue, message_post
from chat.tokens import conversation_token_issue
from tests.factories import ConversationFactory
from webapp.asgi import application
from webapp.redis import redis_sync


def broker_messages(queue: str) -> list[dict]:
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    raw = cast(list[str], redis_sync().lrange(f"{prefix}{queue}", 0, -1))
    return [json.loads(item) for item in raw]


def task_ids_for(queue: str, generation_id: object) -> list[str]:
    """The ids of the tasks in `queue` that run this generation."""
    return [
        m["headers"]["id"]
        for m in broker_messages(queue)
        if json.loads(base64.b64decode(m["body"]))[0] == [str(generation_id)]
    ]


@pytest.mark.django_db
def test_a_queued_generation_the_broker_lost_is_sent_again_once():
    lost = message_post(conversation=ConversationFactory.create(), text="hi").generation
    fresh = message_post(conversation=ConversationFactory.create(), text="hi").generation
    Generation.objects.filter(id=lost.id).update(sent_at=timezone.now() - timedelta(minutes=2))
    assert task_ids_for(settings.CHAT_QUEUE, lost.id) == []  # on_commit never ran: "lost"
    assert generation_requeue() == 1
    assert len(task_ids_for(settings.CHAT_QUEUE, lost.id)) == 1
    assert task_ids_for(settings.CHAT_QUEUE, fresh.id) == []  # waited less than the limit
    assert generation_requeue() == 0  # sent just now: not again at the next beat
    generation_claim(lost.id)
    Generation.objects.filter(id=lost.id).update(sent_at=timezone.now() - timedelta(minutes=5))
    assert generation_requeue() == 0  # claimed: a worker has it


@pytest.mark.django_db
def test_a_stream_lost_mid_answer_fails_it_with_the_whole_partial_text(monkeypatch, settings):
    settings.COALESCE_TOKENS = 2  # many small deltas
    generation = message_post(
        conversation=ConversationFactory.create(), text="Count from one to fifty in words."
    ).generation
    original = streams.StreamWriter.delta
    written: list[str] = []

    def delta_then_restart(self: streams.StreamWriter, text: str) -> int:
        if len(written) == 2:  # Redis restarts empty between two appends
            redis_sync().delete(streams.stream_key(self.generation_id))
        written.append(text)
        return original(self, text)

    monkeypatch.setattr(streams.StreamWriter, "delta", delta_then_restart)
    generation_execute(generation.id)
    generation.refresh_from_db()
    assert generation.message is not None
    generation.message.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "stream_lost"
    assert len(written) == 3  # it stopped at the first append that found the stream gone
    assert generation.message.text.startswith("".join(written))  # nothing written is lost
    # No new stream was started: it would number its entries from 1 again.
    assert not redis_sync().exists(streams.stream_key(generation.id))


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_relay_without_redis_replays_the_stored_answer(monkeypatch):
    def settled() -> str:
        generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
        generation_claim(generation.id)
        generation_finish(
            generation=generation,
            status=Generation.Status.FAILED,
            text="Partial answer",
            error_code="stream_lost",
            error_detail="Error 111 connecting to 127.0.0.1:6379. Connection refused.",
        )
        return str(generation.id)

    generation_id = await database_sync_to_async(settled)()
    dead = aioredis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=0.5)
    monkeypatch.setattr(relay_module, "redis_async", lambda: dead)
    sent: list[dict] = []

    async def send(event: dict) -> None:
        sent.append(event)

    await asyncio.wait_for(StreamRelay(generation_id, 3, send, "zh-hans").run(), 10)
    assert len(sent) == 1
    (event,) = sent
    assert event["type"] == "generation.error" and event["code"] == "stream_lost"
    assert event["text"] == "Partial answer"
    assert event["detail"] == "服务器重启中断了回答，请重新提问。"  # fixed text, client's language
    assert "127.0.0.1" not in json.dumps(event)


async def open_socket(headers=None):
    conversation = await database_sync_to_async(ConversationFactory.create)()
    token = conversation_token_issue(conversation.id)
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.id}/?token={token}", headers=headers or []
    )
    return communicator


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_a_handshake_while_redis_is_down_is_accepted_then_closed_4503(monkeypatch):
    async def down(*args, **kwargs):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(RedisChannelLayer, "group_add", down)
    communicator = await open_socket()
    connected, _ = await communicator.connect(timeout=5)
    assert connected  # never an HTTP error
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4503}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_redis_lost_under_an_open_socket_closes_it_4503_not_1011(monkeypatch):
    async def lost(self, channel):
        await asyncio.sleep(0.3)
        raise RedisConnectionError("Connection reset by peer")

    monkeypatch.setattr(RedisChannelLayer, "receive", lost)
    communicator = await open_socket()
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4503}


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_frame_errors_are_told_in_the_clients_language():
    communicator = await open_socket(headers=[(b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.8")])
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    await communicator.send_to(text_data="{not json")
    reply = await communicator.receive_json_from(timeout=5)
    assert reply == {"type": "error", "code": "invalid_json", "detail": "消息帧必须是 JSON 对象。"}
    await communicator.disconnect()
