"""A grounded answer stops where the model starts copying out a source as the prompt lists
it: the small model, its answer given, went on reproducing the next source verbatim."""

import pytest

from chat.kinds import kind_get
from chat.services import message_post
from knowledge.models import KnowledgeSettings
from tests.factories import ConversationFactory, SiteFactory
from tests.knowledge import faq_add


@pytest.mark.django_db
def test_a_grounded_answer_stops_at_a_source_header_and_plain_chat_does_not():
    site = SiteFactory.create()
    faq_add(site, "How long does shipping take?", "3-5 business days; express 1-2 days.")
    faq_add(site, "Can I return an item?", "Yes, within 30 days of delivery.")
    KnowledgeSettings.objects.create(site=site, fast_path_threshold=0.99, no_answer_threshold=0)
    posted = message_post(
        conversation=ConversationFactory.create(site=site), text="how fast is express delivery?"
    )
    generation = posted.generation
    assert generation.context["route"] == "grounded"
    stops = kind_get("chat").params(generation).stop
    assert stops == tuple(f"\n[{s['n']}] {s['title']}" for s in generation.context["sources"])
    assert "\n[1] How long does shipping take?" in stops

    plain = message_post(conversation=ConversationFactory.create(), text="hello there")
    assert kind_get("chat").params(plain.generation).stop == ()
