"""The summarize page in Chromium with the real web server and worker: a long text goes
through the map steps (progress shown) and the reduce, streamed, then copied."""

import pytest
from playwright.sync_api import Page, expect

from chat.models import GenerationStep
from summarize.models import Summary
from tests.browser.test_knowledge_admin import sign_in_to_admin
from tests.summarize.conftest import LONG_TEXT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_a_long_text_is_summarized_with_progress_and_listed(page: Page, asgi_server, worker):
    sign_in_to_admin(page, asgi_server, "/summarize/")
    expect(page.get_by_role("heading", name="Summarize")).to_be_visible()
    page.get_by_label("Text", exact=True).fill(LONG_TEXT)
    page.get_by_label("Length").select_option("bullets")
    page.get_by_role("button", name="Summarize").click()
    expect(page.get_by_role("button", name="Stop")).to_be_visible()
    progress = page.get_by_label("Chunks summarized")
    expect(progress).to_be_visible(timeout=30_000)  # the map steps report as they finish
    state = page.get_by_role("status").first
    expect(state).to_have_text("Done.", timeout=90_000)
    summary = Summary.objects.get()
    assert (
        summary.status == "done"
        and summary.method == "model"
        and GenerationStep.objects.filter(generation__summary=summary).count() >= 2
    )
    expect(page.locator("#result")).to_have_text(summary.text.strip())
    expect(page.get_by_text("Written by the model.")).to_be_visible()
    assert (
        int(progress.get_attribute("max") or 0)
        == GenerationStep.objects.filter(generation__summary=summary).count()
    )
    expect(page.get_by_role("button", name="Stop")).to_be_hidden()
    listed = page.get_by_role("navigation", name="Past summaries")
    expect(listed.get_by_role("link")).to_have_count(1)  # listed at once, before a reload
    expect(listed).to_contain_text("Done")
    page.reload()  # the job's page shows the stored result
    expect(page.locator("#result")).to_have_text(summary.text.strip())
    past = page.get_by_role("navigation", name="Past summaries")
    expect(past.get_by_role("link")).to_have_count(1)
    expect(past).to_contain_text("Done")


def test_a_broken_file_gets_a_clear_message_and_nothing_is_stored(
    page: Page, asgi_server, tmp_path
):
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 this is not a pdf")
    sign_in_to_admin(page, asgi_server, "/summarize/")
    page.get_by_label("Or a file").set_input_files(str(broken))
    page.get_by_role("button", name="Summarize").click()
    expect(page.get_by_role("status").first).to_contain_text("damaged or not a PDF", timeout=10_000)
    assert not Summary.objects.exists()
