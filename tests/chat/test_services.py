from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from chat import streams
from chat.models import Generation, Message
from chat.runner import generation_claim
from chat.services import (
    ConversationBusy,
    generation_cancel,
    generation_finish,
    generation_reap,
    message_post,
)
from tests.factories import ConversationFactory

pytestmark = pytest.mark.django_db


def test_posting_stores_the_message_and_queues_one_answer(django_capture_on_commit_callbacks):
    conversation = ConversationFactory.create()
    with django_capture_on_commit_callbacks() as callbacks:
        posted = message_post(
            conversation=conversation, text="  Where is my order?  ", client_id="c1"
        )
    assert posted.created
    assert posted.user_message.text == "Where is my order?"
    assert posted.assistant_message.status == Message.Status.QUEUED
    assert posted.generation.status == Generation.Status.QUEUED
    assert len(callbacks) == 1  # the task is sent only once the rows are committed
    conversation.refresh_from_db()
    assert conversation.title == "Where is my order?"


def test_a_resent_client_id_is_stored_once():
    conversation = ConversationFactory.create()
    first = message_post(conversation=conversation, text="hello", client_id="same")
    again = message_post(conversation=conversation, text="hello", client_id="same")
    assert not again.created
    assert again.generation.id == first.generation.id
    assert conversation.messages.count() == 2


def test_a_second_message_waits_for_the_answer_in_progress():
    conversation = ConversationFactory.create()
    message_post(conversation=conversation, text="one", client_id="a")
    with pytest.raises(ConversationBusy):
        message_post(conversation=conversation, text="two", client_id="b")


@pytest.mark.parametrize(
    ("text", "code"), [("   ", "empty_message"), ("x" * 9000, "message_too_long")]
)
def test_bad_messages_are_refused_and_nothing_is_stored(text, code):
    conversation = ConversationFactory.create()
    with pytest.raises(ValidationError) as info:
        message_post(conversation=conversation, text=text)
    assert info.value.code == code
    assert conversation.messages.count() == 0


def test_a_generation_is_claimed_once():
    generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
    assert generation_claim(generation.id) is not None
    assert generation_claim(generation.id) is None  # a redelivered task does nothing
    generation.refresh_from_db()
    assert generation.status == Generation.Status.STREAMING
    assert generation.message is not None
    assert generation.message.status == Message.Status.STREAMING


def test_a_generation_is_settled_once():
    generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
    generation_claim(generation.id)
    assert generation_finish(generation=generation, status="done", text="Answer.")
    assert not generation_finish(generation=generation, status="failed", text="other")
    assert generation.message is not None
    generation.message.refresh_from_db()
    assert (generation.message.status, generation.message.text) == ("done", "Answer.")


def test_cancelling_a_queued_generation_settles_it_and_tells_the_stream():
    generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
    generation_cancel(generation=generation)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.CANCELLED
    assert streams.cancel_requested(generation.id)
    assert generation_claim(generation.id) is None


@override_settings(GENERATION_STALE_SECONDS=5)
def test_the_reaper_fails_a_silent_worker_and_keeps_the_streamed_text():
    generation = message_post(conversation=ConversationFactory.create(), text="hi").generation
    generation_claim(generation.id)
    stream = streams.StreamWriter(generation.id)
    stream.delta("Partial ")
    stream.delta("answer")
    alive = message_post(conversation=ConversationFactory.create(), text="hi").generation
    generation_claim(alive.id)
    Generation.objects.filter(id=generation.id).update(
        heartbeat_at=timezone.now() - timedelta(seconds=30)
    )
    assert generation_reap() == 1
    generation.refresh_from_db()
    assert generation.message is not None
    generation.message.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert generation.error_code == "worker_lost"
    assert generation.message.text == "Partial answer"
    alive.refresh_from_db()
    assert alive.status == Generation.Status.STREAMING
