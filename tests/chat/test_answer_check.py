"""Before a grounded answer the default model's probability that no source answers the
question is scored; at or above the calibrated threshold, or when the answer it let through
is not in the sources, the customer gets the honest no-answer reply instead of an invented
answer, and both figures are kept."""

from typing import Any, cast

import pytest

from chat import streams
from chat.answers import NO_ANSWER_EN, NO_ANSWER_ZH, answer_plan, sources_check
from chat.engine import engine_backend
from chat.models import Generation, Message
from chat.runner import generation_execute, prompt_build
from chat.services import message_post
from inference.models import DEFAULT_MODEL
from knowledge.models import KnowledgeSettings
from tests.factories import ConversationFactory, SiteFactory
from tests.knowledge import faq_add
from webapp.redis import redis_sync

# Not transactional: the message's task is never sent, so only this test runs the generation.
pytestmark = [pytest.mark.django_db, pytest.mark.default_model]


@pytest.fixture
def shop(settings):
    settings.INFERENCE_OPTIONS = {**settings.INFERENCE_OPTIONS, "model": DEFAULT_MODEL}
    settings.KNOWLEDGE_ANSWER_CHECK = True
    settings.GENERATION_MAX_TOKENS = 12
    site = SiteFactory.create(slug="shop")
    faq_add(
        site,
        "How long does shipping take?",
        "Standard shipping takes 3-5 business days; express takes 1-2 days and costs $12.",
    )
    faq_add(site, "Can I return an item?", "Yes, within 30 days of delivery for a refund.")
    # Every question is routed to a grounded answer: the check alone decides.
    KnowledgeSettings.objects.create(site=site, fast_path_threshold=0.99, no_answer_threshold=0)
    return site


def test_grounded_answers_are_checked_unless_switched_off(shop, settings):
    question = "How much does express shipping cost?"
    assert answer_plan(site=shop, question=question).check
    settings.KNOWLEDGE_ANSWER_CHECK = False
    assert not answer_plan(site=shop, question=question).check


def asked(site, question):
    posted = message_post(conversation=ConversationFactory.create(site=site), text=question)
    assert posted.assistant_message.route == "grounded"
    return posted


def shown(generation_id):
    """What a socket ends up showing: the done event's text when it replaced the streamed
    one (declined by the check before any token, or by the answer's grounding after)."""
    last = cast(list[Any], redis_sync().xrange(streams.stream_key(generation_id)))[-1]
    done = streams.stream_event(str(generation_id), *last)
    assert done["type"] == "generation.done"
    return done.get("text", streams.stream_text(generation_id))


def test_a_question_the_sources_do_not_answer_gets_the_no_answer_reply(shop):
    posted = asked(shop, "What is the best recipe for chocolate cake?")
    generation_execute(posted.generation.id)
    answer = Message.objects.get(id=posted.assistant_message.id)
    assert (answer.route, answer.text, answer.sources) == ("no_answer", NO_ANSWER_EN, [])
    assert answer.status == Message.Status.DONE
    assert shown(posted.generation.id) == NO_ANSWER_EN  # what the socket shows
    context = Generation.objects.get(id=posted.generation.id).context
    check, grounding = context["check_result"], context.get("grounding")
    # kept with the answer: the check declined, or the answer it let through was not grounded
    assert check["p_none"] >= check["threshold"] or grounding["share"] < grounding["threshold"]


def test_a_question_the_sources_answer_is_answered_from_them(shop):
    posted = asked(shop, "How much does express shipping cost?")
    generation = Generation.objects.get(id=posted.generation.id)
    messages, _ = prompt_build(generation, engine_backend())
    check = sources_check(engine_backend(), messages, messages[-1]["content"], "check-1")
    assert not check.declines
    generation_execute(posted.generation.id)
    answer = Message.objects.get(id=posted.assistant_message.id)
    assert answer.route == "grounded" and answer.status == Message.Status.DONE
    assert answer.text and answer.text != NO_ANSWER_EN


def test_a_chinese_question_the_sources_do_not_answer_gets_the_chinese_reply(shop):
    faq_add(shop, "如何修改收货地址？", "在“我的订单”中选择订单，点击“修改地址”即可。")
    posted = asked(shop, "火星上的天气怎么样？")
    generation_execute(posted.generation.id)
    answer = Message.objects.get(id=posted.assistant_message.id)
    assert (answer.route, answer.text) == ("no_answer", NO_ANSWER_ZH)


def test_a_chinese_question_the_sources_answer_is_answered(shop):
    faq_add(shop, "如何修改收货地址？", "在“我的订单”中选择订单，点击“修改地址”即可。")
    posted = asked(shop, "下单以后还能改收货地址吗？")
    generation_execute(posted.generation.id)
    answer = Message.objects.get(id=posted.assistant_message.id)
    assert answer.route == "grounded" and answer.text and answer.text != NO_ANSWER_ZH
