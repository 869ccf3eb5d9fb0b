"""Summaries through the one generation pipeline, in this process, with the packaged small
model: short and long (map-reduce) inputs, progress, cancel, the extractive fallback, a
worker that died mid-step, conversations, and the running summary of a long chat."""

import json
from datetime import timedelta
from typing import cast

import pytest
from django.utils import timezone

from chat import steps, streams
from chat.engine import engine_backend
from chat.models import Generation, GenerationStep, Message
from chat.runner import generation_execute, prompt_build
from chat.services import message_post
from inference.base import BackendError
from sites.services import site_default_ensure
from summarize.models import Summary
from summarize.services import conversation_summarize, summary_cancel, summary_create
from tests.factories import ConversationFactory
from webapp.redis import redis_sync

pytestmark = pytest.mark.django_db

SHORT = (
    "Anna ordered a blue kettle on Monday. It arrived broken on Wednesday. She asked for a "
    "refund, and the shop agreed to send a new kettle by Friday."
)


def stream_events(generation_id):
    entries = cast(
        list[tuple[str, dict[str, str]]], redis_sync().xrange(streams.stream_key(generation_id))
    )
    return [
        streams.stream_event(str(generation_id), entry_id, fields) for entry_id, fields in entries
    ]


@pytest.fixture
def sent_steps(monkeypatch):
    """Step tasks this process sends, by step id, instead of a worker running them."""
    sent: list[int] = []
    monkeypatch.setattr(
        "chat.tasks.generation_step_run.apply_async",
        lambda args, queue: sent.append(args[0]),
    )
    return sent


def test_a_short_text_is_summarized_by_the_model_in_one_step():
    summary = summary_create(site=site_default_ensure(), text=SHORT)
    assert summary.language == "en" and summary.status == Summary.Status.QUEUED
    generation_execute(str(summary.generation_id))
    summary.refresh_from_db()
    assert summary.status == Summary.Status.DONE and summary.method == Summary.Method.MODEL
    assert "kettle" in summary.text.lower()
    events = stream_events(summary.generation_id)
    assert [e["type"] for e in events].count("generation.done") == 1
    done = events[-1]
    assert done["type"] == "generation.done" and done["text"] == summary.text
    assert done["method"] == "model"


def test_a_long_text_is_mapped_in_chunks_with_progress_then_reduced(long_summary, sent_steps):
    generation_execute(str(long_summary.generation_id))  # plans the chunks, sends their steps
    planned = list(GenerationStep.objects.filter(generation__summary=long_summary))
    assert len(planned) >= 2 and sent_steps == [s.id for s in planned]
    generation = Generation.objects.get(id=long_summary.generation_id)
    assert generation.status == Generation.Status.QUEUED
    assert (generation.progress_done, generation.progress_total) == (0, len(planned))
    backend = engine_backend()
    assert all(backend.count_tokens(step.text) <= 300 for step in planned)
    assert "".join(s.text for s in planned).replace("\n", "") == long_summary.source_text.replace(
        "\n", ""
    )  # nothing lost at the cuts

    for step in planned:
        steps.step_run(step.id)
    assert all(
        s.done_at and s.result
        for s in GenerationStep.objects.filter(generation__summary=long_summary)
    )
    generation_execute(str(long_summary.generation_id))  # the last step sent it: the reduce
    long_summary.refresh_from_db()
    assert long_summary.status == Summary.Status.DONE and long_summary.text
    events = stream_events(long_summary.generation_id)
    progress = [(e["done"], e["total"]) for e in events if e["type"] == "generation.progress"]
    assert progress == [(n, len(planned)) for n in range(1, len(planned) + 1)]
    finals = [e for e in events if e["type"] in ("generation.done", "generation.error")]
    assert len(finals) == 1 and events[-1] is finals[0]  # one done, after everything


def test_stop_during_the_map_stops_the_remaining_steps(long_summary, sent_steps):
    generation_execute(str(long_summary.generation_id))
    first, *rest = GenerationStep.objects.filter(generation__summary=long_summary)
    steps.step_run(first.id)
    long_summary.refresh_from_db()
    summary_cancel(summary=long_summary)
    for step in rest:
        steps.step_run(step.id)
    long_summary.refresh_from_db()
    assert long_summary.status == Summary.Status.CANCELLED
    assert not GenerationStep.objects.filter(
        generation__summary=long_summary, result__gt=""
    ).exclude(id=first.id)
    generation_execute(str(long_summary.generation_id))  # a late task: nothing runs
    assert [e["type"] for e in stream_events(long_summary.generation_id)][-1] == "generation.done"
    assert Generation.objects.get(id=long_summary.generation_id).status == "cancelled"


def test_a_step_whose_worker_died_is_sent_again_and_done_steps_are_kept(long_summary, sent_steps):
    generation_execute(str(long_summary.generation_id))
    first, second, *_ = GenerationStep.objects.filter(generation__summary=long_summary)
    steps.step_run(first.id)
    # The second step's worker was killed mid-step: it started long ago and never finished.
    GenerationStep.objects.filter(id=second.id).update(
        started_at=timezone.now() - timedelta(minutes=5)
    )
    sent_steps.clear()
    generation_execute(str(long_summary.generation_id))  # what the beat's requeue does
    assert second.id in sent_steps and first.id not in sent_steps
    result = GenerationStep.objects.get(id=first.id).result
    steps.step_run(first.id)  # a duplicate of a done step changes nothing
    assert GenerationStep.objects.get(id=first.id).result == result


def test_when_the_model_fails_the_summary_is_extractive(monkeypatch):
    def broken(*args, **kwargs):
        raise BackendError("model_unavailable", "the model server is down")

    monkeypatch.setattr(type(engine_backend()), "stream", broken)
    summary = summary_create(site=site_default_ensure(), text=SHORT)
    generation_execute(str(summary.generation_id))
    summary.refresh_from_db()
    assert (summary.status, summary.method) == ("done", "extractive")
    assert summary.text == SHORT  # three sentences: all of them
    done = stream_events(summary.generation_id)[-1]
    assert (done["type"], done["method"], done["text"]) == (
        "generation.done",
        "extractive",
        summary.text,
    )


def test_the_extractive_method_answers_at_once_without_the_model():
    summary = summary_create(
        site=site_default_ensure(), text=SHORT, method="extractive", length="one_line"
    )
    assert summary.status == "done" and summary.method == "extractive"
    assert summary.text in SHORT


def test_a_conversation_is_summarized_in_its_language_and_kept_on_it():
    conversation = ConversationFactory.create()
    for role, text in [
        ("user", "我的订单还没发货，订单号是 12345。"),
        ("assistant", "抱歉让您久等了，我已经帮您催促仓库，预计明天发货。"),
        ("user", "好的，谢谢。"),
    ]:
        Message.objects.create(conversation=conversation, role=role, text=text)
    summary = conversation_summarize(conversation=conversation)
    assert (summary.kind, summary.structured, summary.language) == ("dialogue", True, "zh")
    assert "Customer: 我的订单还没发货" in summary.source_text
    generation_execute(str(summary.generation_id))
    summary.refresh_from_db()
    assert summary.status == "done" and summary.text
    assert conversation.summaries.get() == summary


def test_a_long_conversation_keeps_its_oldest_facts_as_a_summary(settings):
    settings.GENERATION_CONTEXT_TOKENS = 700
    settings.GENERATION_MAX_TOKENS = 100
    conversation = ConversationFactory.create()
    Message.objects.create(
        conversation=conversation, role="user", text="My order number is 77123 and it is late."
    )
    Message.objects.create(conversation=conversation, role="assistant", text="I will check it.")
    for n in range(12):
        Message.objects.create(
            conversation=conversation, role="user", text=f"Question {n}: " + "tell me more. " * 12
        )
        Message.objects.create(
            conversation=conversation, role="assistant", text="Here is more. " * 12
        )
    posted = message_post(conversation=conversation, text="What was my order number?")
    messages, dropped = prompt_build(posted.generation, engine_backend())
    assert dropped > 0
    assert "Earlier in this conversation (summary)" in messages[0]["content"]
    assert "77123" in messages[0]["content"]
    total = sum(engine_backend().count_tokens(m["content"]) for m in messages)
    assert total <= 700 - 100
    assert json.dumps(messages)  # plain JSON for any backend
