"""The knowledge admin as a staff user sees it: FAQ editing and import, Try it, documents,
prompt versions, thresholds; and who is refused."""

import io
import json
import os
import re
import time

import lxml.html
import openpyxl
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from knowledge import documents
from knowledge.models import Document, FaqEntry, FaqVector, KnowledgeSettings, PromptTemplate
from knowledge.prompts import prompt_active_text, prompt_version_create
from knowledge.views import IMPORT_SESSION_KEY
from tests.factories import SiteFactory, UserFactory
from tests.knowledge import committed, faq_add

pytestmark = pytest.mark.django_db

IMPORT_CSV = (
    "faq_id,question,answer,alt_questions,tags,enabled\n"
    'ok-1,Where is your shop?,"Berlin, Torstraße 1.",,,\n'
    "bad-2,Missing answer?,,,,\n"
    "bad-3,Is it enabled?,Yes.,,,maybe\n"
    "ok-4,When are you open?,9 to 18.,What are your opening hours?,hours|shop,\n"
).encode()


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def files(root):
    return [path for path in root.rglob("*") if path.is_file()]


@pytest.fixture
def staff(client):
    user = UserFactory.create(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


@pytest.fixture
def site():
    return SiteFactory.create(name="Acme")


def url(name, *args):
    return reverse(f"admin:knowledge_{name}", args=args)


def text_of(response, xpath):
    """The whitespace-normalized text of the elements at `xpath`, one string each."""
    tree = lxml.html.fromstring(response.content.decode())
    return [" ".join(element.text_content().split()) for element in tree.xpath(xpath)]


def changelist_action(client, model, action, ids):
    return client.post(
        url(f"{model}_changelist"), {"action": action, "_selected_action": [str(i) for i in ids]}
    )


# --- FAQ entries ----------------------------------------------------------------------------


def test_adding_an_faq_stores_lists_and_embeds_its_phrasings(staff, site):
    form = {
        "site": site.id,
        "external_id": "",
        "question": "How do I reset my password?",
        "alt_questions": "I forgot my password\n\n  Password reset  \nI forgot my password",
        "answer": "Use the *Forgot password* link.",
        "tags": "account, login,",
        "language": "en",
        "enabled": "on",
    }
    with committed():
        response = staff.post(url("faqentry_add"), form)
    assert response.status_code == 302
    faq = FaqEntry.objects.get(site=site)
    assert faq.alt_questions == ["I forgot my password", "Password reset"]
    assert faq.tags == ["account", "login"]
    assert FaqVector.objects.filter(faq=faq, kind="phrasing").count() == 3

    page = staff.get(url("faqentry_change", faq.id)).content.decode()
    assert "I forgot my password\nPassword reset</textarea>" in page
    assert 'value="account, login"' in page


def test_editing_the_phrasings_embeds_them_again(staff, site):
    faq = faq_add(site, "Opening hours?", "9 to 5.")
    form = {
        "external_id": "",
        "question": "Opening hours?",
        "alt_questions": "When are you open?",
        "answer": "9 to 5.",
        "tags": "",
        "language": "",
        "enabled": "on",
    }
    with committed():
        staff.post(url("faqentry_change", faq.id), form)
    assert sorted(
        FaqVector.objects.filter(faq=faq, kind="phrasing").values_list("text", flat=True)
    ) == [
        "Opening hours?",
        "When are you open?",
    ]


def test_list_search_filters_and_links_to_import_and_try_it(staff, site):
    faq_add(site, "Do you ship abroad?", "Yes.", "International delivery")
    faq_add(site, "Gift cards?", "No.")
    page = staff.get(url("faqentry_changelist"), {"q": "international"}).content.decode()
    assert "Do you ship abroad?" in page and "Gift cards?" not in page
    assert url("faqentry_import") in page and url("faqentry_try") in page
    page = staff.get(url("faqentry_changelist"), {"enabled__exact": "0"}).content.decode()
    assert "Do you ship abroad?" not in page


def test_bulk_disable_enable_and_delete(staff, site):
    first, second = faq_add(site, "One?", "1."), faq_add(site, "Two?", "2.")
    with committed():
        changelist_action(staff, "faqentry", "disable_selected", [first.id, second.id])
    assert not FaqEntry.objects.filter(enabled=True).exists()
    with committed():
        changelist_action(staff, "faqentry", "enable_selected", [first.id])
    assert list(FaqEntry.objects.filter(enabled=True)) == [first]
    with committed():
        staff.post(
            url("faqentry_changelist"),
            {"action": "delete_selected", "_selected_action": [second.id], "post": "yes"},
        )
    assert list(FaqEntry.objects.all()) == [first]


def test_bulk_export_as_csv_and_jsonl(staff, site):
    faq = faq_add(site, "支持哪些付款方式？", "支付宝。", "能用微信吗")
    response = changelist_action(staff, "faqentry", "export_jsonl", [faq.id])
    assert "attachment" in response["Content-Disposition"]
    row = json.loads(response.content.decode())
    assert row["question"] == "支持哪些付款方式？" and row["alt_questions"] == ["能用微信吗"]
    response = changelist_action(staff, "faqentry", "export_csv", [faq.id])
    lines = response.content.decode().splitlines()
    assert lines[0] == "faq_id,question,answer,alt_questions,tags,language,enabled"
    assert lines[1] == ",支持哪些付款方式？,支付宝。,能用微信吗,,,true"


# --- FAQ import -----------------------------------------------------------------------------


def import_preview(client, site, name, data):
    upload = SimpleUploadedFile(name, data)
    return client.post(url("faqentry_import"), {"site": site.id, "file": upload})


def test_import_preview_shows_row_errors_and_stores_nothing(staff, site):
    response = import_preview(staff, site, "faqs.csv", IMPORT_CSV)
    assert response.status_code == 200
    (summary,) = text_of(response, "//p[@class='import-summary']")
    assert "2 to create, 0 to update, 0 unchanged, 2 with errors" in summary
    assert text_of(response, "//tr[@class='row-error']/td[@class='row-problems']") == [
        "'answer' is missing or empty.",
        "'enabled' must be true or false, not 'maybe'.",
    ]
    assert text_of(response, "//tr[@class='row-ok']/td[3]") == [
        "Where is your shop?",
        "When are you open?",
    ]
    assert "Import 2 rows" in response.content.decode()
    assert not FaqEntry.objects.exists()


def test_import_confirm_stores_only_the_good_rows(staff, site, media):
    page = import_preview(staff, site, "faqs.csv", IMPORT_CSV).content.decode()
    token = staff.session[IMPORT_SESSION_KEY]["token"]
    assert f'value="{token}"' in page
    with committed():
        response = staff.post(url("faqentry_import"), {"token": token})
    (summary,) = text_of(response, "//p[@class='import-summary']")
    assert "2 created, 0 updated, 0 unchanged, 2 failed" in summary
    assert text_of(response, "//table[@id='import-errors']//tr/td[1]") == ["3", "4"]
    assert sorted(FaqEntry.objects.values_list("external_id", flat=True)) == ["ok-1", "ok-4"]
    assert FaqVector.objects.filter(faq__site=site, kind="phrasing").count() == 3
    assert IMPORT_SESSION_KEY not in staff.session
    assert not files(media)  # the kept upload is gone
    again = staff.post(url("faqentry_import"), {"token": token}, follow=True)
    assert "expired or was already done" in again.content.decode()
    assert FaqEntry.objects.count() == 2


def test_a_preview_never_confirmed_is_forgotten_after_a_day(staff, site, media):
    import_preview(staff, site, "faqs.csv", IMPORT_CSV)
    (old,) = files(media)
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    staff.logout()  # another person, another session
    staff.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    import_preview(staff, site, "faqs.csv", IMPORT_CSV)
    assert old not in files(media) and len(files(media)) == 1


def test_import_of_an_xlsx_workbook(staff, site):
    book = openpyxl.Workbook()
    book.active.append(["question", "answer"])
    book.active.append(["Do you ship abroad?", "Yes."])
    data = io.BytesIO()
    book.save(data)
    import_preview(staff, site, "faqs.xlsx", data.getvalue())
    with committed():
        staff.post(url("faqentry_import"), {"token": staff.session[IMPORT_SESSION_KEY]["token"]})
    assert FaqEntry.objects.get(site=site).question == "Do you ship abroad?"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("faqs.xlsx", b"PK\x03\x04 broken", "could not be read"),
        ("faqs.csv", b"\xff\xfe\x00broken", "could not be read"),
        ("faqs.pdf", b"%PDF", "not supported"),
        ("faqs.csv", b"question,answer\n", "no FAQ rows"),
    ],
)
def test_a_broken_import_file_gets_a_clear_message_and_keeps_nothing(
    staff, site, media, name, data, message
):
    response = import_preview(staff, site, name, data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert IMPORT_SESSION_KEY not in staff.session
    assert not files(media)
    assert not FaqEntry.objects.exists()


# --- Try it ---------------------------------------------------------------------------------


def test_try_it_ranks_the_faqs_and_shows_the_route(staff, site):
    faq_add(site, "How do I reset my password?", "Use the link.", "I forgot my password")
    faq_add(site, "Do you ship abroad?", "Yes.")
    response = staff.get(
        url("faqentry_try"), {"site": site.id, "question": "How do I reset my password?"}
    )
    (route,) = text_of(response, "//*[@id='route']")
    assert route.startswith("Route: fast_path — Fast path")
    (why,) = text_of(response, "//*[@id='route-reason']")
    assert "similarity" in why and ">= 0.90" in why
    questions = text_of(response, "//table[@id='faq-results']//td[@class='faq-question']")
    assert questions[0] == "How do I reset my password?"
    response = staff.get(
        url("faqentry_try"), {"site": site.id, "question": "Quantum chromodynamics lecture"}
    )
    assert text_of(response, "//*[@id='route']")[0].startswith("Route: no_answer")
    assert "nothing is close enough" in text_of(response, "//*[@id='route-reason']")[0]


def test_try_it_says_what_held_a_near_copy_back_from_a_verbatim_answer(staff, site):
    faq_add(site, "花呗分期怎么还款", "花呗分期的还款：每月还款日自动扣除当期金额。")
    faq_add(site, "花呗账单怎么分期", "在账单页面选择期数即可。")
    question = "花呗分期怎么提前还款"
    response = staff.get(url("faqentry_try"), {"site": site.id, "question": question})
    assert text_of(response, "//*[@id='route']")[0].startswith("Route: grounded")
    (why,) = text_of(response, "//*[@id='route-reason']")
    assert why.startswith("Why: not answered verbatim, as ")
    assert re.search(r"similarity 0\.\d+ < 0\.980", why)
    assert re.search(r"its margin over the runner-up FAQ 0\.\d+ < 0\.700", why)
    assert "nothing is close enough" not in why


# --- Documents ------------------------------------------------------------------------------


def test_uploading_a_document_queues_its_indexing(staff, site, media, monkeypatch):
    scheduled: list[int] = []
    monkeypatch.setattr(documents, "document_index_schedule", scheduled.append)
    upload = SimpleUploadedFile("hours.md", b"# Hours\n\nOpen 9 to 5.", "text/markdown")
    with committed():
        response = staff.post(url("document_add"), {"site": site.id, "title": "", "file": upload})
    assert response.status_code == 302
    document = Document.objects.get(site=site)
    assert (document.title, document.status, scheduled) == ("hours", "pending", [document.id])
    page = staff.get(url("document_changelist")).content.decode()
    assert f'hx-get="{url("document_progress", document.id)}"' in page
    assert 'hx-trigger="every 2s"' in page and "vendor/htmx.min.js" in page


def test_a_broken_upload_is_refused_in_the_form(staff, site, media):
    upload = SimpleUploadedFile("guide.pdf", b"%PDF-1.4 broken", "application/pdf")
    response = staff.post(url("document_add"), {"site": site.id, "title": "", "file": upload})
    assert "The PDF is damaged" in response.content.decode()
    assert not Document.objects.exists()
    assert not list(media.rglob("*.pdf"))


def test_progress_polling_stops_when_the_document_is_ready(staff, site):
    document = Document.objects.create(
        site=site, title="Guide", file="documents/g.txt", status="indexing", progress=40
    )
    page = staff.get(url("document_progress", document.id)).content.decode()
    assert 'value="40"' in page and "every 2s" in page
    Document.objects.filter(id=document.id).update(status="ready", progress=100)
    page = staff.get(url("document_progress", document.id)).content.decode()
    assert "Ready" in page and "hx-get" not in page


def test_reindex_action_queues_the_documents_again(staff, site, monkeypatch):
    scheduled: list[int] = []
    monkeypatch.setattr(documents, "document_index_schedule", scheduled.append)
    document = Document.objects.create(
        site=site, title="Guide", file="documents/g.txt", status="failed", progress=0
    )
    with committed():
        changelist_action(staff, "document", "reindex_selected", [document.id])
    document.refresh_from_db()
    assert (document.status, scheduled) == ("pending", [document.id])


# --- Prompts and thresholds -----------------------------------------------------------------


def test_a_new_prompt_version_is_created_and_activated(staff, site):
    form = {"site": site.id, "kind": "grounded", "text": "Use:\n{sources}", "note": "short"}
    response = staff.post(url("prompttemplate_add"), {**form, "activate": "on"})
    assert response.status_code == 302
    template = PromptTemplate.objects.get(site=site)
    assert (template.version, template.active, template.note) == (1, True, "short")
    page = staff.get(url("prompttemplate_changelist")).content.decode()
    assert "icon-yes" in page  # the active column


def test_a_grounded_prompt_without_the_placeholder_is_refused(staff, site):
    form = {"site": site.id, "kind": "grounded", "text": "Just answer.", "note": ""}
    response = staff.post(url("prompttemplate_add"), form)
    assert "must contain {sources} exactly once" in response.content.decode()
    assert not PromptTemplate.objects.exists()


def test_a_version_is_never_edited_in_place_but_rolled_back(staff, site):
    v1 = prompt_version_create(site=site, kind="system", text="One.", activate=True)
    prompt_version_create(site=site, kind="system", text="Two.", activate=True)
    response = staff.post(url("prompttemplate_change", v1.id), {"text": "Changed."})
    assert response.status_code == 403
    page = staff.get(url("prompttemplate_change", v1.id)).content.decode()
    assert "Activate this version" in page and "New version from this" in page
    staff.post(url("prompttemplate_activate", v1.id))
    assert prompt_active_text(site=site, kind="system") == "One."
    assert PromptTemplate.objects.get(id=v1.id).text == "One."


def test_the_add_form_starts_from_a_copy(staff, site):
    v1 = prompt_version_create(site=site, kind="system", text="Be brief.")
    page = staff.get(url("prompttemplate_add"), {"copy": v1.id}).content.decode()
    assert "Be brief.</textarea>" in page and "Edited from v1" in page


def test_preview_page_shows_the_messages(staff, site):
    form = {
        "site": site.id,
        "kind": "grounded",
        "text": "Cite:\n{sources}",
        "question": "Refund time?",
        "sources": "Refunds take 5 days.\r\n\r\nReturns are free.",
    }
    page = staff.post(url("prompttemplate_preview"), form).content.decode()
    assert "Cite:\n[1] Refunds take 5 days.\n\n[2] Returns are free." in page
    assert "Refund time?" in page


def test_thresholds_are_validated(staff, site):
    form = {"site": site.id, "fast_path_threshold": "0.6", "no_answer_threshold": "0.7"}
    response = staff.post(url("knowledgesettings_add"), form)
    assert "must not be above the fast-path threshold" in response.content.decode()
    response = staff.post(url("knowledgesettings_add"), {**form, "no_answer_threshold": "0.4"})
    assert response.status_code == 302
    assert KnowledgeSettings.objects.get(site=site).fast_path_threshold == 0.6


# --- Who is refused -------------------------------------------------------------------------

EXTRA_PAGES = [
    ("faqentry_import", ()),
    ("faqentry_try", ()),
    ("prompttemplate_preview", ()),
]


@pytest.mark.parametrize(("name", "args"), EXTRA_PAGES)
def test_people_who_are_not_staff_are_sent_to_the_login(client, name, args):
    client.force_login(UserFactory.create(is_staff=False))
    response = client.get(url(name, *args))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


@pytest.mark.parametrize(("name", "args"), EXTRA_PAGES)
def test_staff_without_knowledge_permissions_are_refused(client, name, args):
    client.force_login(UserFactory.create(is_staff=True))
    assert client.get(url(name, *args)).status_code == 403


def test_non_staff_cannot_poll_progress_or_activate(client, site):
    document = Document.objects.create(site=site, title="G", file="documents/g.txt")
    template = prompt_version_create(site=site, kind="system", text="One.")
    client.force_login(UserFactory.create(is_staff=False))
    assert client.get(url("document_progress", document.id)).status_code == 302
    assert client.post(url("prompttemplate_activate", template.id)).status_code == 302
    assert not PromptTemplate.objects.get(id=template.id).active
