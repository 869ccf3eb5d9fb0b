"""Translations of a conversation's older messages, made when staff open it, wait behind
the fresh work of the chat queue: an agent's reply and a visitor's new message go first.
The order is read back from the real Redis broker, as the chat worker takes its tasks."""

import uuid

import pytest
from kombu import Queue

from chat.models import Generation, Message
from chat.services import agent_message_post, conversation_create, message_post
from tests.conftest import broker_lists
from tests.factories import SiteFactory
from translate.live import staff_watch
from webapp.celery import app
from webapp.redis import redis_sync


def broker_drain(queue: str) -> list[str]:
    """The generation ids of the queue's tasks in the order a worker takes them."""
    taken = []
    with app.connection_for_read() as connection:
        bound = Queue(queue).bind(connection.default_channel)
        while (message := bound.get(no_ack=True)) is not None:
            args, _kwargs, _embed = message.decode()
            taken.append(args[0])
    return taken


@pytest.fixture
def chat_queue(settings):
    """A chat queue of this test only, on the real broker; its keys removed afterwards."""
    settings.CHAT_QUEUE = f"{settings.CHAT_QUEUE}-order-{uuid.uuid4().hex[:8]}"
    yield settings.CHAT_QUEUE
    prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"]
    names = [*broker_lists(settings.CHAT_QUEUE), f"_kombu.binding.{settings.CHAT_QUEUE}"]
    redis_sync().delete(*(f"{prefix}{name}" for name in names))


@pytest.mark.django_db
def test_an_agents_reply_and_a_new_message_go_ahead_of_the_older_messages(
    chat_queue, django_capture_on_commit_callbacks
):
    conversation = conversation_create(site=SiteFactory.create(staff_language="en"))
    older = [
        Message.objects.create(
            conversation=conversation, role=Message.Role.USER, text=text, language="zh"
        )
        for text in ("你好", "我的订单还没到。", "订单号是 4471。")
    ]
    with django_capture_on_commit_callbacks(execute=True):
        staff_watch(conversation)  # an agent opens it: its three messages to back-fill
        reply = agent_message_post(
            conversation=conversation, author=None, text="Your parcel ships tomorrow."
        )
        posted = message_post(conversation=conversation, text="谢谢！明天几点到？")
    generations = {
        str(g.id): g for g in Generation.objects.filter(conversation=conversation)
    }  # fmt: skip
    taken = [generations[i] for i in broker_drain(chat_queue)]
    assert posted.reply is not None  # no handoff here: the assistant still answers
    assert [(g.kind, g.message_id) for g in taken] == [
        ("message_translation", reply.id),  # the agent's reply, into the visitor's Chinese
        ("message_translation", posted.user_message.id),  # the visitor's new message
        ("chat", posted.reply.id),  # the assistant's answer to it
        # then the older messages, newest first: staff read a conversation from its end
        *(("message_backfill", message.id) for message in reversed(older)),
    ]
    assert all(g.status == Generation.Status.QUEUED for g in taken)
