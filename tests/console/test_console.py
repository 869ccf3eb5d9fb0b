"""The agent console's pages: who may open them, what each agent sees, the actions."""

import json

import pytest
from channels.testing import WebsocketCommunicator
from django.test import Client

from chat.models import Conversation
from chat.tokens import conversation_token_issue
from console import handoff
from console.models import AgentProfile, CannedResponse, HandoffEvent
from console.services import note_add
from tests.factories import ConversationFactory, SiteFactory, UserFactory
from webapp.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def agent_of(site, name="ana"):
    user = UserFactory.create(username=name)
    AgentProfile.objects.create(user=user).sites.add(site)
    return user


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def test_a_visitor_token_opens_no_console_page_and_no_note():
    conversation = ConversationFactory.create()
    agent = agent_of(conversation.site)
    note_add(conversation=conversation, author=agent, text="private")
    bearer = {"Authorization": f"Bearer {conversation_token_issue(conversation.id)}"}
    for path in (
        "/console/",
        "/console/inbox?tab=all",
        f"/console/c/{conversation.id}/",
        f"/console/c/{conversation.id}/side",
    ):
        response = Client().get(path, headers=bearer)
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], path
    posted = Client().post(f"/console/c/{conversation.id}/notes", {"text": "x"}, headers=bearer)
    assert posted.status_code == 302
    assert Client().post(f"/console/c/{conversation.id}/resolve", headers=bearer).status_code == 302
    conversation.refresh_from_db()
    assert conversation.state == "bot" and conversation.notes.count() == 1


def test_a_signed_in_visitor_who_is_not_an_agent_is_refused():
    conversation = ConversationFactory.create(owner=UserFactory.create())
    client = signed_in(conversation.owner)
    assert client.get("/console/").status_code == 403
    assert client.get(f"/console/c/{conversation.id}/side").status_code == 403


def test_an_agent_sees_only_the_conversations_of_their_sites():
    mine, theirs = SiteFactory.create(), SiteFactory.create()
    agent = agent_of(mine)
    here = ConversationFactory.create(site=mine, title="Order help")
    there = ConversationFactory.create(site=theirs, title="Secret other shop")
    for conversation in (here, there):
        handoff.handoff_request(conversation=conversation)
    client = signed_in(agent)
    inbox = client.get("/console/?tab=waiting").content.decode()
    assert "Order help" in inbox and "Secret other shop" not in inbox
    assert client.get(f"/console/c/{there.id}/").status_code == 404
    assert client.post(f"/console/c/{there.id}/take").status_code == 404
    assert client.post(f"/console/c/{there.id}/notes", {"text": "x"}).status_code == 404
    assert client.get(f"/console/c/{here.id}/").status_code == 200


@pytest.mark.asyncio
async def test_an_agent_of_another_site_cannot_open_its_conversation_socket():
    from channels.db import database_sync_to_async as db

    theirs = await db(SiteFactory.create)()
    agent = await db(agent_of)(await db(SiteFactory.create)())
    conversation = await db(ConversationFactory.create)(site=theirs)
    communicator = WebsocketCommunicator(application, f"/ws/conversations/{conversation.id}/")
    communicator.scope["user"] = agent
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4401
    console = WebsocketCommunicator(application, "/ws/console/")
    console.scope["user"] = conversation.owner or await db(UserFactory.create)()
    connected, code = await console.connect(timeout=5)
    assert not connected and code == 4401


def test_the_conversation_view_shows_summary_notes_and_the_agents_actions_work():
    site = SiteFactory.create()
    ana, bo = agent_of(site, "ana"), agent_of(site, "bo")
    conversation = ConversationFactory.create(site=site, page_url="https://shop.example/cart")
    conversation.messages.create(role="user", text="My parcel is lost", language="en")
    client = signed_in(ana)
    page = client.get(f"/console/c/{conversation.id}/").content.decode()
    assert "My parcel is lost" in page and "https://shop.example/cart" in page
    assert "Suggest a reply" in page and "Private notes" in page
    side = client.post(f"/console/c/{conversation.id}/take")
    assert side.status_code == 200 and "assigned" in side.content.decode()
    client.post(f"/console/c/{conversation.id}/assign", {"agent": bo.id})
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assignee) == ("assigned", bo)
    noted = client.post(f"/console/c/{conversation.id}/notes", {"text": "Called the courier"})
    assert "Called the courier" in noted.content.decode()
    client.post(f"/console/c/{conversation.id}/resolve")
    conversation.refresh_from_db()
    assert conversation.state == "resolved"
    reasons = list(conversation.handoff_events.values_list("reason", "actor__username"))
    assert reasons == [("taken", "ana"), ("transfer", "ana"), ("resolved", "ana")]


def test_canned_responses_are_found_by_shortcut():
    site = SiteFactory.create()
    agent = agent_of(site)
    CannedResponse.objects.create(site=site, shortcut="shipping", text="We ship in 2 days.")
    CannedResponse.objects.create(site=site, shortcut="refund", text="Refunds take 5 days.")
    CannedResponse.objects.create(site=SiteFactory.create(), shortcut="ship-other", text="Not ours")
    conversation = ConversationFactory.create(site=site)
    found = signed_in(agent).get(f"/console/c/{conversation.id}/canned?q=/ship").content.decode()
    assert "We ship in 2 days." in found and "Refunds" not in found and "Not ours" not in found


def test_business_hours_are_read_in_the_sites_time_zone():
    from datetime import UTC, datetime

    site = SiteFactory.create(business_hours="mon-fri 09:00-18:00", time_zone="Asia/Shanghai")
    monday_10_shanghai = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    monday_20_shanghai = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    saturday = datetime(2026, 12, 5, 2, 0, tzinfo=UTC)
    assert handoff.business_open(site, monday_10_shanghai)
    assert not handoff.business_open(site, monday_20_shanghai)
    assert not handoff.business_open(site, saturday)


def test_every_change_is_kept_with_who_and_why():
    conversation = ConversationFactory.create()
    agent = agent_of(conversation.site)
    handoff.handoff_request(conversation=conversation)
    handoff.conversation_resolve(conversation=conversation, by=agent)
    events = list(HandoffEvent.objects.filter(conversation=conversation))
    assert [(e.state_from, e.state_to, e.reason) for e in events] == [
        ("bot", "waiting", "visitor_request"),
        ("waiting", "resolved", "resolved"),
    ]
    assert events[1].actor == agent and events[0].actor_kind == "visitor"
    assert Conversation.objects.get(id=conversation.id).state == "resolved"
    assert json.dumps([e.created_at.isoformat() for e in events])


def test_on_a_fresh_install_the_admin_is_the_first_agent_of_every_site():
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("bootstrap", stdout=out)
    assert "/console/" in out.getvalue()
    admin = AgentProfile.objects.get().user
    assert admin.is_superuser
    handoff.agent_seen(user=admin)  # the admin opened the console
    conversation = ConversationFactory.create(site=SiteFactory.create())  # a later site
    handoff.handoff_request(conversation=conversation)
    conversation.refresh_from_db()
    assert (conversation.state, conversation.assignee) == ("assigned", admin)
