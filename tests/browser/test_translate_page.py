"""The translate page in Chromium with the real web server and worker: a Markdown
document detected as Chinese, translated segment by segment into its own markup."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_knowledge_admin import sign_in_to_admin
from translate.models import Translation

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]

MARKDOWN = "# 退货政策\n\n收到商品后 30 天内可以退货。\n\n- 打印退货标签\n- 送到邮局"


def test_a_markdown_document_is_translated_with_its_structure(page: Page, asgi_server, worker):
    sign_in_to_admin(page, asgi_server, "/translate/")
    expect(page.get_by_role("heading", name="Translate")).to_be_visible()
    page.get_by_label("Text", exact=True).fill(MARKDOWN)
    page.get_by_label("To").select_option("en")
    page.get_by_label("Format").select_option("markdown")
    page.get_by_role("button", name="Translate").click()
    expect(page.get_by_role("status").first).to_have_text("Done.", timeout=90_000)
    translation = Translation.objects.get()
    assert (translation.source_lang, translation.target_lang) == ("zh", "en")
    lines = translation.text.split("\n")
    assert lines[0].startswith("# ") and lines[-1].startswith("- ") and lines[-2].startswith("- ")
    expect(page.locator("#result")).to_have_text(translation.text)
    expect(page.get_by_text("Source language: zh")).to_be_visible()
    page.reload()
    expect(page.locator("#result")).to_have_text(translation.text)
    expect(page.get_by_role("navigation", name="Past translations")).to_contain_text("zh→en")
