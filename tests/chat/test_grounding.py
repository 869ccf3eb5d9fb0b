"""A finished grounded answer that the sources do not hold (the model restated the question
and made up the rest) is replaced by the honest no-answer reply; one taken from the
sources is kept. The share of its words in the sources is kept with the generation."""

import pytest

from chat.answers import NO_ANSWER_EN, NO_ANSWER_ZH, answer_grounding, grounding_threshold
from chat.kinds import kind_get
from chat.models import Generation
from chat.services import message_post
from knowledge.models import KnowledgeSettings
from tests.factories import ConversationFactory, SiteFactory
from tests.knowledge import faq_add

SHIPPING_ANSWER = "Standard shipping takes 3-5 business days; express takes 1-2 days for $12."
SHIPPING = [
    {
        "n": 1,
        "title": "How long does shipping take?",
        "excerpt": SHIPPING_ANSWER,
    }
]


def test_an_answer_from_the_sources_is_grounded_and_a_restated_question_is_not():
    taken = answer_grounding(
        "Express shipping takes 1-2 days and costs $12 [1].", SHIPPING, "How fast is express?"
    )
    made_up = answer_grounding(
        "Yes, you can ship to Canada, it takes 7 days.", SHIPPING, "Can you ship to Canada?"
    )
    restated = answer_grounding("Yes, you can ship to Canada.", SHIPPING, "Can you ship to Canada?")
    limit = grounding_threshold("Can you ship to Canada?")  # as shipped
    assert taken > 0.8 > limit > made_up > restated == 0.0


def test_chinese_answers_are_judged_on_their_words():
    sources = [
        {
            "n": 1,
            "title": "如何取消订单",
            "excerpt": "未付款的订单可以在“我的订单”页面点击“取消订单”。",
        }
    ]
    taken = answer_grounding(
        "在“我的订单”页面点击“取消订单”即可。", sources, "没付款的订单怎么取消"
    )
    made_up = answer_grounding("是的，Login.gov 有手机 App 可以下载。", sources, "有手机 App 吗")
    assert taken > 0.6 > grounding_threshold("有手机 App 吗") > made_up


@pytest.fixture
def shop(settings):
    settings.KNOWLEDGE_ANSWER_CHECK = True
    site = SiteFactory.create()
    faq_add(site, "How long does shipping take?", SHIPPING_ANSWER)
    faq_add(site, "如何取消订单？", "未付款的订单可以在“我的订单”页面点击“取消订单”。")
    KnowledgeSettings.objects.create(site=site, fast_path_threshold=0.99, no_answer_threshold=0)
    return site


def finished(site, question, text, status=Generation.Status.DONE):
    posted = message_post(conversation=ConversationFactory.create(site=site), text=question)
    generation = Generation.objects.get(id=posted.generation.id)
    assert generation.context["route"] == "grounded" and generation.context["check"]
    return generation, kind_get("chat").outcome(generation, text, status)


@pytest.mark.django_db
def test_an_ungrounded_answer_becomes_the_no_answer_reply_and_its_share_is_kept(shop):
    generation, outcome = finished(
        shop, "Can you ship to Canada?", "Yes, we ship to Canada within 7 days."
    )
    assert (outcome.text, outcome.route, outcome.replaced) == (NO_ANSWER_EN, "no_answer", True)
    kept = Generation.objects.get(id=generation.id).context["grounding"]
    assert kept["share"] < kept["threshold"]

    generation, outcome = finished(
        shop, "有手机 App 吗？", "是的，我们有手机 App，可以在应用商店下载。"
    )
    assert (outcome.text, outcome.route) == (NO_ANSWER_ZH, "no_answer")


@pytest.mark.django_db
def test_a_grounded_answer_is_kept_with_its_sources(shop):
    generation, outcome = finished(
        shop, "How fast is express delivery?", "Express takes 1-2 days and costs $12 [1]."
    )
    assert outcome.route == "grounded" and outcome.text.startswith("Express takes")
    assert outcome.sources and outcome.sources[0]["title"] == "How long does shipping take?"
    assert Generation.objects.get(id=generation.id).context["grounding"]["share"] > 0.8


@pytest.mark.django_db
def test_a_stopped_answer_and_a_site_without_the_check_keep_their_text(shop, settings):
    _, outcome = finished(
        shop, "Can you ship to Canada?", "Yes, we ship", status=Generation.Status.CANCELLED
    )
    assert outcome.text == "Yes, we ship"  # what the visitor saw before Stop
    settings.KNOWLEDGE_ANSWER_CHECK = False
    posted = message_post(
        conversation=ConversationFactory.create(site=shop), text="Can you ship to Canada?"
    )
    generation = Generation.objects.get(id=posted.generation.id)
    outcome = kind_get("chat").outcome(generation, "Yes, we ship to Canada.", "done")
    assert outcome.route == "grounded" and "grounding" not in generation.context
