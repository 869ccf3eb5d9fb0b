"""What the agent gets with a handed-over conversation: its summary, and a reply drafted
from the conversation and the knowledge base (the small packaged model), sent to nobody."""

import pytest

from chat import streams
from chat.models import Generation, Message
from chat.runner import generation_execute
from chat.services import message_post
from console import handoff
from console.services import reply_suggest
from knowledge.services import faq_create, faq_embed
from summarize.models import Summary
from tests.factories import ConversationFactory, SiteFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def conversation():
    site = SiteFactory.create()
    faq = faq_create(
        site=site,
        question="How long does shipping take?",
        answer="Standard shipping takes 3-5 business days; express takes 1-2 days.",
    )
    faq_embed([faq.id])
    return ConversationFactory.create(site=site)


def test_a_suggested_reply_is_drafted_from_the_knowledge_and_reaches_no_visitor(conversation):
    message_post(conversation=conversation, text="How long does express shipping take?")
    handoff.handoff_request(conversation=conversation)
    before = list(conversation.messages.values_list("id", flat=True))
    generation = reply_suggest(conversation=conversation)
    assert [s["title"] for s in generation.context["sources"]] == ["How long does shipping take?"]
    generation_execute(str(generation.id))
    generation.refresh_from_db()
    assert generation.status == Generation.Status.DONE
    draft = generation.context["text"]
    assert draft.strip()
    entries = streams.redis_sync().xrange(streams.stream_key(generation.id))
    assert entries, "the draft streams to the agent's reply box"
    # Nothing was sent: no new message in the conversation.
    assert list(conversation.messages.values_list("id", flat=True)) == before


def test_a_conversation_handed_to_a_person_gets_its_summary(conversation):
    message_post(conversation=conversation, text="My parcel 4411 has not arrived after 2 weeks.")
    Message.objects.filter(conversation=conversation).update(status="done")
    Generation.objects.filter(conversation=conversation).update(status="done")
    handoff.handoff_request(conversation=conversation)
    summary = Summary.objects.get(conversation=conversation)
    assert summary.kind == Summary.Kind.DIALOGUE and "4411" in summary.source_text


def test_an_agent_who_is_away_gets_no_conversation():
    from console.models import AgentProfile
    from tests.factories import UserFactory

    site = SiteFactory.create()
    user = UserFactory.create(username="ana")
    AgentProfile.objects.create(user=user).sites.add(site)
    handoff.agent_seen(user=user, presence="away")
    conversation = ConversationFactory.create(site=site)
    handoff.handoff_request(conversation=conversation)
    conversation.refresh_from_db()
    assert conversation.state == "waiting" and conversation.assignee is None
    handoff.agent_seen(user=user, presence="online")  # back: the waiting one is theirs
    conversation.refresh_from_db()
    assert conversation.state == "assigned" and conversation.assignee == user
