"""A staff member in Chromium adds an FAQ in the admin and finds it with Try it."""

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.factories import SiteFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]
QUESTION = "How do I change the delivery address of my order?"


def sign_in_to_admin(page: Page, base: str, next_path: str) -> None:
    UserFactory.create(username="editor", is_staff=True, is_superuser=True)
    page.goto(f"{base}/admin/login/?next={next_path}")
    page.get_by_label("Username").fill("editor")
    page.get_by_label("Password").fill("secret-pass-123")
    page.get_by_role("button", name="Log in").click()


def test_an_faq_added_in_the_admin_is_found_first_by_try_it(page: Page, asgi_server, worker):
    SiteFactory.create(name="Acme Shop")
    sign_in_to_admin(page, asgi_server, "/admin/knowledge/faqentry/add/")

    page.get_by_label("Site").select_option(label="Acme Shop")
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_label("Other phrasings").fill("Can I ship my order somewhere else?")
    page.get_by_label("Answer").fill("Open **My orders** and choose *Change address*.")
    page.get_by_label("Tags").fill("orders, delivery")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#result_list").get_by_role("link", name=QUESTION)).to_be_visible()

    page.get_by_role("link", name="Try it").click()
    page.get_by_label("Site").select_option(label="Acme Shop")
    page.get_by_label("Question").fill(QUESTION)
    page.get_by_role("button", name="Search").click()
    route = page.locator("#route")
    # The phrasings are embedded by the worker after the save: ask again until they are in.
    deadline = time.monotonic() + 60
    while route.get_attribute("data-route") != "fast_path" and time.monotonic() < deadline:
        time.sleep(0.5)
        page.reload()
    expect(route).to_have_attribute("data-route", "fast_path")
    expect(route).to_contain_text("Fast path")
    first = page.locator("#faq-results tbody tr").first
    expect(first.locator(".faq-question")).to_have_text(QUESTION)
    expect(first.locator("td").first).to_have_text("1")


def test_an_uploaded_document_shows_its_progress_until_ready(
    page: Page, asgi_server, worker, tmp_path
):
    from knowledge.documents import document_delete
    from knowledge.models import Document

    SiteFactory.create(name="Acme Shop")
    guide = tmp_path / "shipping-guide.txt"
    guide.write_text(
        "\n\n".join(
            f"Zone {i}. Parcels to zone {i} arrive within {i % 9 + 2} working days. "
            f"Customs forms for zone {i} are filled in by our staff."
            for i in range(400)
        )
    )
    sign_in_to_admin(page, asgi_server, "/admin/knowledge/document/add/")
    page.get_by_label("Site").select_option(label="Acme Shop")
    page.get_by_label("File").set_input_files(str(guide))
    page.get_by_role("button", name="Save", exact=True).click()
    try:
        expect(page.locator(".messagelist")).to_contain_text("was added successfully")
        status = page.locator("#result_list .doc-status")
        expect(status).to_have_attribute("hx-trigger", "every 2s")  # still being indexed
        page.evaluate("window.notReloaded = true")
        expect(status).to_contain_text("Ready", timeout=60_000)
        expect(status).not_to_have_attribute("hx-get", re.compile(".+"))  # polling stopped
        assert page.evaluate("window.notReloaded") is True  # htmx swapped the cell in place
        page.reload()
        expect(page.locator("#result_list td.field-passage_count")).not_to_have_text("0")
    finally:
        for document in Document.objects.all():
            document_delete(document=document)
