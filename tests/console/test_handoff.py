"""The handoff on the real ASGI app and channel layer: what the visitor and the agents see
when the bot hands a conversation to a person, and takes it back."""

import asyncio
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import Conversation
from chat.tokens import conversation_token_issue
from console import handoff
from console.models import AgentProfile, HandoffEvent
from console.services import note_add
from knowledge.services import faq_create, faq_embed
from tests.factories import ConversationFactory, SiteFactory, UserFactory
from webapp.asgi import application

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
db = database_sync_to_async


async def visitor_socket(conversation: Conversation) -> WebsocketCommunicator:
    token = conversation_token_issue(conversation.id)
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation.id}/?token={token}"
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def staff_socket(conversation: Conversation, user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(application, f"/ws/conversations/{conversation.id}/")
    communicator.scope["user"] = user
    connected, code = await communicator.connect(timeout=5)
    assert connected, code
    return communicator


async def until(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> dict:
    """The next event of `kind`, skipping others."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {kind} event"
        event = json.loads(await communicator.receive_from(timeout=left))
        if event["type"] == kind:
            return event


async def collect(communicator: WebsocketCommunicator, *kinds: str, timeout: float = 10) -> dict:
    """The first event of each of `kinds`, in whatever order they come (a handoff's state
    is announced when the message's transaction commits, before the socket echoes it)."""
    found: dict[str, dict] = {}
    deadline = asyncio.get_running_loop().time() + timeout
    while not set(kinds) <= set(found):
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {set(kinds) - set(found)} event"
        event = json.loads(await communicator.receive_from(timeout=left))
        key = event["type"]
        if key == "message.created":
            key = f"message.created:{event['message']['role']}"
        found.setdefault(key, event)
    return found


async def drain(communicator: WebsocketCommunicator, seconds: float = 0.5) -> list[dict]:
    """What arrives until `seconds` pass in silence (receive_nothing keeps the app alive)."""
    events = []
    while not await communicator.receive_nothing(timeout=seconds):
        events.append(json.loads(await communicator.receive_from()))
    return events


def agent_create(site: Any, name: str, *, online: bool = True, max_open: int = 5) -> Any:
    user = UserFactory.create(username=name)
    profile = AgentProfile.objects.create(user=user, display_name=name.title(), max_open=max_open)
    profile.sites.add(site)
    if online:
        handoff.agent_seen(user=user)
    return user


async def say(communicator: WebsocketCommunicator, text: str) -> None:
    await communicator.send_to(text_data=json.dumps({"type": "user.message", "text": text}))


@pytest.mark.parametrize(
    "text", ["I want to talk to a human, please", "转人工", "Can I speak with a real person?"]
)
async def test_asking_for_a_person_in_either_language_puts_the_visitor_in_the_queue(text):
    conversation = await db(ConversationFactory.create)()
    visitor = await visitor_socket(conversation)
    await say(visitor, text)
    events = await collect(visitor, "message.created:assistant", "handoff.state")
    assert events["message.created:assistant"]["message"]["route"] == "handoff"
    state = events["handoff.state"]
    assert state["state"] == "waiting" and state["position"] == 1
    assert state["agents_online"] is False  # nobody has a console open
    event = await db(HandoffEvent.objects.get)(conversation=conversation)
    assert (event.state_to, event.reason, event.actor_kind) == (
        "waiting",
        "visitor_request",
        "visitor",
    )
    await visitor.disconnect()


@pytest.mark.parametrize(
    "text",
    [
        "This is ridiculous!! I've asked three times and your useless bot still can't help me.",
        "你们这是什么破服务，问了半天一点用都没有，气死我了！",
    ],
)
async def test_an_angry_visitor_is_handed_to_a_person(text):
    conversation = await db(ConversationFactory.create)()
    visitor = await visitor_socket(conversation)
    await say(visitor, text)
    state = await until(visitor, "handoff.state")
    assert state["state"] == "waiting"
    reasons = await db(lambda: list(conversation.handoff_events.values_list("reason", flat=True)))()
    assert reasons == ["frustration"]
    await visitor.disconnect()


async def test_ordinary_questions_stay_with_the_bot():
    conversation = await db(ConversationFactory.create)()
    for text in ("Where is my order?", "我的快递到哪了？", "How do I reset my password?"):
        assert await db(handoff.handoff_reason)(conversation.site, text) == ("", ""), text


async def test_two_answers_in_a_row_that_find_nothing_hand_over():
    site = await db(SiteFactory.create)()
    faq = await db(faq_create)(site=site, question="Do you sell gift cards?", answer="Yes, $10+.")
    await db(faq_embed)([faq.id])
    conversation = await db(ConversationFactory.create)(site=site)
    visitor = await visitor_socket(conversation)
    await say(visitor, "How do I reset my password?")
    first = await collect(visitor, "message.created:assistant")
    assert first["message.created:assistant"]["message"]["route"] == "no_answer"
    assert not [e for e in await drain(visitor) if e["type"] == "handoff.state"]
    await say(visitor, "And how do I change my email address?")
    state = await until(visitor, "handoff.state")
    assert state["state"] == "waiting"
    event = await db(HandoffEvent.objects.get)(conversation=conversation)
    assert (event.reason, event.actor_kind) == ("repeated_no_answer", "assistant")
    await visitor.disconnect()


async def test_the_button_asks_for_a_person_and_the_queue_moves_up():
    site = await db(SiteFactory.create)()
    first, second = [await db(ConversationFactory.create)(site=site) for _ in range(2)]
    one, two = await visitor_socket(first), await visitor_socket(second)
    await one.send_to(text_data=json.dumps({"type": "handoff.request"}))
    assert (await until(one, "handoff.state"))["position"] == 1
    await two.send_to(text_data=json.dumps({"type": "handoff.request"}))
    assert (await until(two, "handoff.state"))["position"] == 2
    agent = await db(agent_create)(site, "ana", online=False)
    await drain(two)
    await db(handoff.conversation_resolve)(conversation=first, by=agent)
    moved = await until(two, "handoff.state")
    assert moved["state"] == "waiting" and moved["position"] == 1
    await one.disconnect()
    await two.disconnect()


async def test_online_agents_get_waiting_conversations_in_turn_up_to_their_limit():
    site = await db(SiteFactory.create)()
    ana = await db(agent_create)(site, "ana", max_open=1)
    bo = await db(agent_create)(site, "bo", max_open=1)
    conversations = [await db(ConversationFactory.create)(site=site) for _ in range(3)]
    visitor = await visitor_socket(conversations[0])
    for conversation in conversations:
        await db(handoff.handoff_request)(conversation=conversation)
    joined = await until(visitor, "agent.joined")  # after its handoff.state "assigned"
    assert joined["agent"]["name"] in ("Ana", "Bo")
    rows = await db(lambda: [(c.state, c.assignee_id) for c in Conversation.objects.filter(
        id__in=[c.id for c in conversations]).order_by("state_changed_at")])()  # fmt: skip
    owners = sorted(owner for state, owner in rows if state == "assigned")
    assert owners == sorted([ana.id, bo.id])  # one each: both are at their limit of one
    assert [state for state, _ in rows].count("waiting") == 1
    await visitor.disconnect()


async def test_an_agent_reply_reaches_the_visitor_live_and_the_assistant_stays_silent():
    site = await db(SiteFactory.create)()
    agent = await db(agent_create)(site, "ana", online=False)
    conversation = await db(ConversationFactory.create)(site=site)
    visitor = await visitor_socket(conversation)
    staff = await staff_socket(conversation, agent)
    await db(handoff.handoff_request)(conversation=conversation)
    await visitor.send_to(text_data=json.dumps({"type": "typing"}))
    assert (await until(staff, "visitor.typing"))["type"] == "visitor.typing"
    await staff.send_to(text_data=json.dumps({"type": "typing"}))
    assert (await until(visitor, "agent.typing"))["agent"]["name"] == "Ana"
    await staff.send_to(text_data=json.dumps({"type": "agent.message", "text": "Hi, I'm Ana."}))
    assert (await until(visitor, "agent.joined"))["agent"] == {"name": "Ana"}
    message = (await until(visitor, "agent.message"))["message"]
    assert message["text"] == "Hi, I'm Ana." and message["author"] == "Ana"  # not the login
    await say(visitor, "Thanks! My order 1234 never arrived.")
    await collect(visitor, "message.created:user")
    later = await drain(visitor, 1.0)
    assert not [e for e in later if e["type"] == "message.created"]  # no assistant answer
    roles = await db(lambda: list(conversation.messages.values_list("role", flat=True)))()
    assert roles == ["agent", "user"]
    await visitor.disconnect()
    await staff.disconnect()


async def test_handed_back_the_bot_answers_again():
    site = await db(SiteFactory.create)()
    agent = await db(agent_create)(site, "ana")
    conversation = await db(ConversationFactory.create)(site=site)
    await db(handoff.handoff_request)(conversation=conversation)
    await db(conversation.refresh_from_db)()
    assert conversation.state == "assigned"
    visitor = await visitor_socket(conversation)
    opened = await until(visitor, "handoff.state")  # told at once on connect
    assert opened["state"] == "assigned" and opened["agent"] == {"name": "Ana"}
    await db(handoff.conversation_hand_back)(conversation=conversation, by=agent)
    assert (await until(visitor, "handoff.state"))["state"] == "bot"
    await say(visitor, "What are your opening hours?")
    await collect(visitor, "message.created:user", "message.created:assistant")
    await visitor.disconnect()


async def test_a_private_note_never_reaches_the_visitor():
    site = await db(SiteFactory.create)()
    agent = await db(agent_create)(site, "ana")
    conversation = await db(ConversationFactory.create)(site=site)
    visitor = await visitor_socket(conversation)
    await db(handoff.handoff_request)(conversation=conversation)
    await db(note_add)(conversation=conversation, author=agent, text="VIP: refund secretly OK")
    events = await drain(visitor, 1.0)
    assert events and "VIP" not in json.dumps(events)
    token = conversation_token_issue(conversation.id)
    api = await db(Client().get)(
        f"/api/v1/conversations/{conversation.id}/messages", HTTP_AUTHORIZATION=f"Bearer {token}"
    )
    assert api.status_code == 200 and "VIP" not in api.content.decode()
    assert api.json()["handoff"]["state"] == "assigned"
    await visitor.disconnect()


async def test_the_survey_is_stored_after_resolution_and_refused_before():
    site = await db(SiteFactory.create)()
    agent = await db(agent_create)(site, "ana")
    conversation = await db(ConversationFactory.create)(site=site)
    visitor = await visitor_socket(conversation)
    await visitor.send_to(text_data=json.dumps({"type": "csat", "score": 5}))
    assert (await until(visitor, "error"))["code"] == "not_resolved"
    await db(handoff.handoff_request)(conversation=conversation)
    await db(handoff.conversation_resolve)(conversation=conversation, by=agent)
    resolved = await until(visitor, "handoff.state")
    while resolved["state"] != "resolved":
        resolved = await until(visitor, "handoff.state")
    for bad in (0, 6, "5", True):
        await visitor.send_to(text_data=json.dumps({"type": "csat", "score": bad}))
        assert (await until(visitor, "error"))["code"] == "invalid_score"
    frame = {"type": "csat", "score": 4, "comment": "Quick and kind."}
    await visitor.send_to(text_data=json.dumps(frame))
    assert (await until(visitor, "csat.recorded"))["score"] == 4
    await db(conversation.refresh_from_db)()
    assert (conversation.csat_score, conversation.csat_comment) == (4, "Quick and kind.")
    await visitor.disconnect()


async def test_with_nobody_online_the_visitor_may_leave_an_email():
    site = await db(SiteFactory.create)(business_hours="mon-sun 00:00-00:01")
    await db(agent_create)(site, "ana")  # online, but outside business hours
    conversation = await db(ConversationFactory.create)(site=site)
    visitor = await visitor_socket(conversation)
    await say(visitor, "I need to talk to a person")
    events = await collect(visitor, "message.created:assistant", "handoff.state")
    reply = events["message.created:assistant"]["message"]["text"]
    assert "No one from our team is available" in reply
    state = events["handoff.state"]
    assert state["state"] == "waiting" and state["agents_online"] is False
    await visitor.send_to(text_data=json.dumps({"type": "contact", "email": "not an email"}))
    assert (await until(visitor, "error"))["code"] == "invalid_email"
    await visitor.send_to(text_data=json.dumps({"type": "contact", "email": "li@example.com"}))
    assert (await until(visitor, "contact.recorded"))["email"] == "li@example.com"
    await db(conversation.refresh_from_db)()
    assert conversation.contact_email == "li@example.com" and conversation.state == "waiting"
    await visitor.disconnect()


async def test_a_site_rule_hands_over_large_refunds_only():
    from console.models import HandoffRule

    site = await db(SiteFactory.create)()
    await db(HandoffRule.objects.create)(site=site, intent="refund", min_amount=500)
    small = await db(handoff.handoff_reason)(site, "I want a refund for my $20 order")
    large = await db(handoff.handoff_reason)(site, "I want a refund of $1,200 for my laptop")
    assert small == ("", "")
    assert large[0] == "rule"
