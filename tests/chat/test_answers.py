"""Answers from the site's own knowledge: verbatim FAQ answers, honest no-answers,
grounded answers with citations; a site without knowledge chats with the model."""

import time

import pytest

from chat import streams
from chat.answers import NO_ANSWER_EN, NO_ANSWER_ZH
from chat.engine import engine_backend
from chat.models import Generation, Message
from chat.runner import generation_execute, prompt_build
from chat.services import message_post
from knowledge.services import faq_create, faq_embed
from tests.factories import ConversationFactory, SiteFactory
from tests.knowledge import document_add

pytestmark = pytest.mark.django_db(transaction=True)
RESET = "Open Settings, choose **Security**, then *Reset password*. The link is valid for 24 hours."


def settled(message_id: int, timeout: float = 120) -> Message:
    deadline = time.monotonic() + timeout
    while (message := Message.objects.get(id=message_id)).status not in Generation.FINAL:
        assert time.monotonic() < deadline, "the answer never settled"
        time.sleep(0.2)
    return message


@pytest.fixture
def shop():
    site = SiteFactory.create(slug="shop")
    faqs = [
        faq_create(
            site=site,
            question="How do I reset my password?",
            answer=RESET,
            alt_questions=["I forgot my password"],
        ),
        faq_create(
            site=site,
            question="How long does shipping take?",
            answer="Standard shipping takes 3-5 business days; express takes 1-2 days "
            "and costs $12.",
        ),
        faq_create(
            site=site,
            question="Can I return an item?",
            answer="Yes, you can return any item within 30 days of delivery for a full refund.",
        ),
    ]
    faq_embed([f.id for f in faqs])
    return site


def test_a_certain_faq_match_is_answered_verbatim_without_the_model(shop):
    conversation = ConversationFactory.create(site=shop)
    posted = message_post(conversation=conversation, text="How can I reset my password?")
    answer = posted.assistant_message
    assert answer.route == "fast_path"
    assert answer.status == Message.Status.DONE and answer.text == RESET
    assert answer.sources[0]["kind"] == "faq"
    assert posted.generation.status == Generation.Status.DONE
    assert posted.generation.started_at is not None  # settled at once, never queued
    assert streams.stream_text(posted.generation.id) == RESET  # sockets get it as a stream


@pytest.mark.parametrize(
    ("question", "reply"),
    [
        ("What is the best recipe for chocolate cake?", NO_ANSWER_EN),
        ("火星上的天气怎么样？", NO_ANSWER_ZH),
    ],
)
def test_an_unrelated_question_gets_an_honest_no_answer(shop, question, reply):
    conversation = ConversationFactory.create(site=shop)
    answer = message_post(conversation=conversation, text=question).assistant_message
    assert answer.route == "no_answer"
    assert answer.text == reply


def test_a_related_question_is_answered_by_the_model_from_numbered_sources(shop, settings):
    settings.KNOWLEDGE_FAST_PATH_THRESHOLD = 0.99  # make the match uncertain
    document_add(shop, "Office plants", "The office plants are watered every Monday morning.")
    conversation = ConversationFactory.create(site=shop)
    posted = message_post(conversation=conversation, text="How fast is express shipping?")
    assert posted.assistant_message.route == "grounded"
    generation = posted.generation
    assert generation.status == Generation.Status.QUEUED
    titles = [s["title"] for s in generation.context["sources"]]
    assert "How long does shipping take?" in titles
    assert "Office plants" not in titles  # a passage far from the question is left out
    messages, _ = prompt_build(generation, engine_backend())
    assert "[1] " in messages[0]["content"] and "express takes 1-2 days" in messages[0]["content"]
    generation_execute(generation.id)  # a running test worker may have claimed it first
    answer = settled(posted.assistant_message.id)
    assert answer.status == Message.Status.DONE and answer.text
    assert answer.sources and all({"n", "title", "excerpt"} <= set(s) for s in answer.sources)


def test_a_site_without_knowledge_chats_with_the_model():
    conversation = ConversationFactory.create()
    posted = message_post(conversation=conversation, text="Tell me a joke.")
    assert posted.assistant_message.route == ""
    assert posted.generation.status == Generation.Status.QUEUED


def test_a_second_site_never_sees_the_first_sites_faq(shop):
    other = SiteFactory.create(slug="other")
    faq_embed(
        [faq_create(site=other, question="Do you sell gift cards?", answer="Yes, from $10.").id]
    )
    answer = message_post(
        conversation=ConversationFactory.create(site=other), text="How do I reset my password?"
    ).assistant_message
    assert answer.text != RESET
    assert answer.route == "no_answer"


def test_the_final_event_carries_the_route_and_sources(shop):
    conversation = ConversationFactory.create(site=shop)
    posted = message_post(conversation=conversation, text="How can I reset my password?")
    entries = streams.redis_sync().xrange(streams.stream_key(posted.generation.id))
    done = streams.stream_event(str(posted.generation.id), *entries[-1])  # type: ignore[index]
    assert done["type"] == "generation.done"
    assert done["route"] == "fast_path"  # type: ignore[typeddict-item]
    assert done["sources"][0]["title"] == "How do I reset my password?"  # type: ignore[typeddict-item]
