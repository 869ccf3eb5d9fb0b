"""Two people in Chromium, through the real web server and worker: a visitor writes
Chinese on the chat page, a staff member reads it in English on the admin's conversation
page and replies in English; each sees their own language, the originals a click away."""

import time

import pytest
from playwright.sync_api import Browser, Page, expect

from chat.models import Conversation, Message
from tests.browser.test_knowledge_admin import sign_in_to_admin
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

QUESTION = "我的订单还没到，能帮我查一下吗？"
REPLY = "Your parcel left our warehouse today."


def stored(query, timeout: float = 90.0):
    """The first row of `query` once it exists (the worker writes it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (row := query.first()) is not None:
            return row
        time.sleep(0.5)
    raise AssertionError(f"nothing stored: {query.query}")


def test_a_chinese_visitor_and_an_english_agent_each_read_their_own_language(
    page: Page, browser: Browser, asgi_server, worker
):
    UserFactory.create(username="visitor")
    page.goto(f"{asgi_server}/")
    page.get_by_label("Username").fill("visitor")
    page.get_by_label("Password").fill("secret-pass-123")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill(QUESTION)
    page.keyboard.press("Enter")
    expect(page.locator(".msg-user .body")).to_have_text(QUESTION)
    conversation = stored(Conversation.objects.all())
    asked = stored(
        Message.objects.filter(conversation=conversation, role="user").exclude(language="")
    )
    assert asked.language == "zh"  # detected and stored with the message

    staff_context = browser.new_context()
    staff = staff_context.new_page()
    try:
        sign_in_to_admin(staff, asgi_server, f"/admin/chat/conversation/{conversation.id}/change/")
        log = staff.get_by_role("log", name="Live conversation")
        expect(log).to_be_visible()
        # Opening the page asks for the translation of the visitor's message; it streams in.
        translated = stored(
            Message.objects.filter(id=asked.id).exclude(translation=""), timeout=120
        )
        assert translated.translation_language == "en" and translated.text == QUESTION
        visitor_line = log.locator(f'[data-message-id="{asked.id}"]')
        expect(visitor_line.locator(".shown")).to_have_text(translated.translation, timeout=30_000)
        visitor_line.get_by_text("Original (zh)").click()
        expect(visitor_line.locator(".original")).to_have_text(QUESTION)

        staff.get_by_label("Reply").fill(REPLY)
        staff.get_by_role("button", name="Send reply").click()
        reply = stored(
            Message.objects.filter(conversation=conversation, role="agent", status="done"),
            timeout=120,
        )
        assert reply.original == REPLY and reply.language == "zh" and reply.text
        # The visitor reads the reply in Chinese (the original if the translation failed).
        expect(page.locator(".msg-agent .body")).to_have_text(reply.text, timeout=30_000)
        if reply.translation:  # translated: the visitor never sees the English
            assert reply.text != REPLY
            expect(page.get_by_text(REPLY)).to_have_count(0)
        # Staff read what they wrote, and what was sent one click away.
        agent_line = log.locator(f'[data-message-id="{reply.id}"]')
        expect(agent_line.locator(".shown")).to_have_text(REPLY)
    finally:
        staff_context.close()
