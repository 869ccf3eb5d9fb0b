"""Floods and quotas: a clear refusal for the one who floods, nothing stored, and nobody
else affected."""

import pytest
from django.test import override_settings

from chat.models import Generation, Message
from chat.services import conversation_create, message_post
from sites.limits import LimitReached
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db


def post(conversation, text, client_id=""):
    posted = message_post(conversation=conversation, text=text, client_id=client_id)
    Generation.objects.filter(id=posted.generation.id).update(status="cancelled")  # answered
    return posted


@override_settings(VISITOR_MESSAGES_PER_MINUTE=3)
def test_a_flooding_visitor_is_refused_and_others_are_not():
    site = SiteFactory.create()
    flooding, other = conversation_create(site=site), conversation_create(site=site)
    for n in range(3):
        post(flooding, f"message {n}", client_id=f"c{n}")
    with pytest.raises(LimitReached) as refused:
        post(flooding, "one too many")
    assert refused.value.code == "rate_limited" and "seconds" in refused.value.detail
    assert not Message.objects.filter(text="one too many").exists()  # nothing stored
    post(other, "I am someone else")  # another visitor is unaffected
    again = post(flooding, "message 0", client_id="c0")  # a resend (reconnect) is not new
    assert not again.created


def test_a_spent_daily_token_quota_says_so():
    site = SiteFactory.create(daily_token_quota=100)
    first = post(conversation_create(site=site), "first")
    Generation.objects.filter(id=first.generation.id).update(prompt_tokens=80, completion_tokens=30)
    with pytest.raises(LimitReached) as refused:
        post(conversation_create(site=site), "second")
    assert refused.value.code == "quota_exceeded" and "today" in refused.value.detail
    post(conversation_create(site=SiteFactory.create()), "another site is unaffected")


@override_settings(VISITOR_MESSAGES_PER_MINUTE=2)
def test_messages_refused_while_an_answer_is_written_count_too():
    from chat.events import FrameError
    from chat.services import ConversationBusy

    conversation = conversation_create(site=SiteFactory.create())
    message_post(conversation=conversation, text="first")  # its answer is still queued
    with pytest.raises(ConversationBusy):
        message_post(conversation=conversation, text="second")
    with pytest.raises(LimitReached) as refused:
        message_post(conversation=conversation, text="third")
    frame = FrameError(refused.value.code, refused.value.detail, refused.value.retry_after).frame()
    assert frame["code"] == "rate_limited" and 0 < frame["retry_after"] <= 60


@override_settings(CONVERSATIONS_PER_HOUR_PER_ADDRESS=2)
def test_too_many_conversations_from_one_address_get_429(client):
    def open_from(address):
        return client.post(
            "/api/v1/conversations", b"{}", content_type="application/json",
            REMOTE_ADDR=address,
        ).status_code  # fmt: skip

    assert [open_from("203.0.113.7") for _ in range(3)] == [201, 201, 429]
    assert open_from("203.0.113.8") == 201
    site = SiteFactory.create()
    trusted = client.post(
        "/api/v1/conversations", b"{}", content_type="application/json",
        REMOTE_ADDR="203.0.113.7", headers={"Authorization": f"Bearer {site.secret_key}"},
    )  # fmt: skip
    assert trusted.status_code == 201  # a server with its secret key is not a visitor


def test_a_site_for_verified_visitors_takes_no_message_from_an_unverified_one():
    from django.core.exceptions import ValidationError

    site = SiteFactory.create()
    anonymous = conversation_create(site=site)  # opened while anonymous visitors could chat
    verified = conversation_create(site=site, visitor_id="customer-1")
    site.allow_anonymous = False
    site.save()
    anonymous.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        post(anonymous, "hello")
    assert refused.value.code == "identity_required"
    post(verified, "hello")
