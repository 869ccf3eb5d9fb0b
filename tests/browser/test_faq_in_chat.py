"""The whole knowledge loop in Chromium: an FAQ added in the admin is answered verbatim
in the chat, marked as coming from the FAQ, with no model call."""

import time

import pytest
from playwright.sync_api import Page, expect

from knowledge.models import FaqVector
from sites.services import site_default_ensure
from tests.browser.test_knowledge_admin import sign_in_to_admin

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_an_faq_added_in_the_admin_is_answered_verbatim_in_the_chat(
    page: Page, asgi_server, worker
):
    site_default_ensure()
    sign_in_to_admin(page, asgi_server, "/admin/knowledge/faqentry/add/")
    page.get_by_label("Site").select_option(label="Default site")
    page.get_by_label("Question").fill("How do I change the delivery address of my order?")
    page.get_by_label("Answer").fill("Open **My orders** and choose *Change address*.")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    deadline = time.monotonic() + 60  # the worker embeds the question after the save
    while not FaqVector.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.3)

    page.goto(f"{asgi_server}/")
    page.get_by_role("button", name="Start a conversation").click()
    page.get_by_label("Message").fill("How can I change my order's delivery address?")
    page.keyboard.press("Enter")
    answer = page.locator(".msg-assistant")
    expect(answer).to_have_attribute("data-status", "done", timeout=15_000)
    expect(answer.locator(".body")).to_have_text("Open My orders and choose Change address.")
    expect(answer.locator(".body strong")).to_have_text("My orders")  # rendered Markdown
    expect(answer.get_by_text("From our FAQ")).to_be_visible()
