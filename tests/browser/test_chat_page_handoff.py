"""The handoff on the chat page (Chromium, the real web server and worker): a signed-in
visitor asks for a person under a no-answer reply, waits in the queue, reads the agent's
reply live and rates the conversation once it is resolved."""

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from chat.models import Conversation
from console.handoff import conversation_resolve
from knowledge.services import faq_create, faq_embed
from sites.models import Site
from sites.services import site_default_ensure
from tests.browser.test_chat_page import sign_in
from tests.browser.test_widget_handoff import agent_online, server_side

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_visitor_on_the_chat_page_is_handed_to_a_person_and_rates_it(
    page: Page, asgi_server: str, worker, tmp_path: Path
):
    from chat.services import agent_message_post

    site = site_default_ensure()
    Site.objects.filter(id=site.id).update(auto_assign=False)  # agents take it from the inbox
    faq = faq_create(
        site=site, question="How long does shipping take?", answer="3-5 business days."
    )
    faq_embed([faq.id])
    agent = agent_online(site, "Mei Lin")
    sign_in(page, asgi_server)
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill("What is the best recipe for chocolate cake?")
    page.keyboard.press("Enter")
    talk = page.get_by_role("button", name="Talk to a person", exact=True)
    expect(talk).to_be_visible(timeout=30_000)
    page.screenshot(path=tmp_path / "page-1-no-answer.png")
    talk.click()

    status = page.locator("#handoff-status")
    expect(status).to_have_text(
        "Connecting you to a person… You are number 1 in the queue.", timeout=15_000
    )
    expect(talk).to_be_hidden()
    survey = page.get_by_role("group", name="How did we do?")
    expect(survey).to_be_hidden()  # not yet
    expect(page.get_by_label("Your email")).to_be_hidden()  # agents are online
    page.screenshot(path=tmp_path / "page-2-waiting.png")
    conversation = Conversation.objects.get()
    page.get_by_label("Message").fill("It's about my order 1234.")
    page.keyboard.press("Enter")
    expect(page.locator(".msg-user")).to_have_count(2)
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_enabled()  # none awaited

    server_side(agent_message_post, conversation=conversation, author=agent, text="Hi, I'm Mei.")
    expect(page.locator(".msg-system")).to_have_text("Mei Lin joined the conversation.")
    expect(page.locator(".msg-agent .body")).to_have_text("Hi, I'm Mei.")
    expect(status).to_have_text("Mei Lin joined the conversation.")
    page.screenshot(path=tmp_path / "page-3-assigned.png")

    conversation.refresh_from_db()
    server_side(conversation_resolve, conversation=conversation, by=agent)
    expect(survey).to_be_visible(timeout=15_000)
    survey.get_by_role("button", name="5 of 5").click()
    page.screenshot(path=tmp_path / "page-4-survey.png")
    page.get_by_role("button", name="Send feedback").click()
    expect(status).to_have_text("Thanks for your feedback.", timeout=15_000)
    conversation.refresh_from_db()
    assert (conversation.csat_score, conversation.csat_comment) == (5, "")
