"""Documents: text and sections out of each format, passages per section and on sentence
boundaries, indexing end to end."""

import io
import itertools
import re
import time
from pathlib import Path

import docx
import pytest
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile

from knowledge import documents
from knowledge.documents import document_create, document_delete, document_index
from knowledge.extract import (
    DocumentUnreadable,
    Section,
    document_sections_extract,
    document_text_extract,
)
from knowledge.models import Document, Passage
from knowledge.passages import passages_split, sections_split
from knowledge.search import knowledge_search
from knowledge.text import tokens_stored
from tests.factories import SiteFactory

pytestmark = pytest.mark.django_db

SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]")
DATA = Path(__file__).parent / "data"


def pdf_bytes(*lines: str) -> bytes:
    """A one-page PDF with a line of Helvetica text per argument (offsets computed)."""
    text = " ".join(f"({line}) Tj 0 -20 Td" for line in lines)
    stream = f"BT /F1 12 Tf 72 720 Td {text} ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = io.BytesIO(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1))
    out.write(b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def docx_bytes() -> bytes:
    document = docx.Document()
    document.add_heading("Returns", level=1)
    document.add_paragraph("Returns are free within 30 days.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Country"
    table.rows[0].cells[1].text = "Days"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(root):
    return [path for path in root.rglob("*") if path.is_file()]


# --- Extraction -----------------------------------------------------------------------------


def test_plain_text_in_utf8_and_in_gb18030():
    assert document_text_extract(name="a.txt", data=b"Hello\r\nworld") == "Hello\nworld"
    chinese = "退货政策：三十天内免费退货。"
    assert document_text_extract(name="b.txt", data=chinese.encode("gb18030")) == chinese
    assert document_text_extract(name="c.md", data=b"# Title\n\nBody.") == "# Title\n\nBody."


def test_html_keeps_headings_and_paragraphs_and_drops_scripts():
    page = (
        b"<html><head><title>Shop</title><style>p{color:red}</style></head><body>"
        b"<script>alert('x')</script><h1>Returns</h1><p>Free within <b>30</b> days &amp; "
        b"easy.</p><ul><li>Step one</li><li>Step two</li></ul></body></html>"
    )
    text = document_text_extract(name="page.html", data=page)
    assert text == "# Returns\n\nFree within 30 days & easy.\n\n- Step one\n- Step two"


def test_pdf_text_is_extracted():
    data = pdf_bytes("Refunds take five days.", "Shipping is free.")
    text = document_text_extract(name="guide.pdf", data=data)
    assert "Refunds take five days." in text
    assert "Shipping is free." in text


def test_docx_paragraphs_headings_and_tables():
    text = document_text_extract(name="guide.docx", data=docx_bytes())
    assert text.split("\n\n") == [
        "# Returns",
        "Returns are free within 30 days.",
        "Country | Days",
    ]


def test_the_content_type_names_the_format_of_a_file_without_extension():
    assert document_text_extract(name="page", data=b"<p>Hi</p>", content_type="text/html") == "Hi"


# --- Sections -------------------------------------------------------------------------------


def test_markdown_sections_follow_the_headings_and_not_a_hash_in_code():
    page = (
        b"---\ntitle: Help\n---\nWelcome.\n\n# Help\n\n## Shipping\n\n### How long does it take?\n"
        b"Three days.\n\n```sh\n# a comment\n```\n\nAccount\n-------\n\nSign in first.\n"
    )
    assert document_sections_extract(name="help.md", data=page) == [
        Section((), "Welcome."),
        Section(("Help",), ""),
        Section(("Help", "Shipping"), ""),
        Section(
            ("Help", "Shipping", "How long does it take?"),
            "Three days.\n\n```sh\n# a comment\n```",
        ),
        Section(("Help", "Account"), "Sign in first."),  # a setext heading
    ]


def test_html_sections_at_h1_to_h6_with_list_items_and_table_cells():
    page = (
        b"<body><nav>Home</nav><p>Hello.</p><h1>Help</h1><h2>Returns</h2>"
        b"<h3>How do I return an item?</h3><ol><li>Sign in.</li><li>Print the label.</li></ol>"
        b"<h3>Refund times</h3><table><tr><th>Card</th><th>5 days</th></tr></table>"
        b"<h2>Contact</h2><p>Call us.<br>Or write.</p>"
    )
    assert document_sections_extract(name="help.html", data=page) == [
        Section((), "Hello."),  # without the menu
        Section(("Help",), ""),
        Section(("Help", "Returns"), ""),
        Section(
            ("Help", "Returns", "How do I return an item?"), "1. Sign in.\n2. Print the label."
        ),
        Section(("Help", "Returns", "Refund times"), "Card | 5 days"),
        Section(("Help", "Contact"), "Call us.\nOr write."),
    ]


def test_docx_sections_at_heading_styles_with_list_items():
    document = docx.Document()
    document.add_heading("Shop guide", level=0)
    document.add_heading("Payment", level=1)
    document.add_heading("Which cards do you accept?", level=2)
    document.add_paragraph("We accept:")
    document.add_paragraph("Visa", style="List Bullet")
    document.add_paragraph("Mastercard", style="List Bullet")
    document.add_heading("Delivery", level=1)
    document.add_paragraph("Three days.")
    out = io.BytesIO()
    document.save(out)
    assert document_sections_extract(name="guide.docx", data=out.getvalue()) == [
        Section(("Shop guide",), ""),
        Section(("Shop guide", "Payment"), ""),
        Section(
            ("Shop guide", "Payment", "Which cards do you accept?"),
            "We accept:\n\n- Visa\n- Mastercard",
        ),
        Section(("Shop guide", "Delivery"), "Three days."),
    ]


def test_txt_and_pdf_have_no_sections_and_split_as_before():
    text = "# Not a heading in a txt file\n\n" + " ".join(english_sentences(30))
    sections = document_sections_extract(name="notes.txt", data=text.encode())
    assert sections == [Section((), text)]
    assert sections_split(sections) == passages_split(text)
    pdf = document_sections_extract(name="a.pdf", data=pdf_bytes("Refunds take five days."))
    assert [s.headings for s in pdf] == [()]


def help_centre_sections():
    """The questions (### headings) of the sample page, each with its answer as written."""
    page = (DATA / "help_centre.md").read_text()
    parts = re.split(r"^(#{2,3} .+)$", page, flags=re.M)
    return {
        heading[4:]: " ".join(body.split())
        for heading, body in itertools.pairwise(parts)
        if heading.startswith("### ")
    }


def test_a_help_centre_page_gives_each_question_its_own_passages():
    answers = help_centre_sections()
    assert len(answers) == 10
    data = (DATA / "help_centre.md").read_bytes()
    passages = sections_split(document_sections_extract(name="help_centre.md", data=data))
    assert passages[0].startswith("Acme Help Centre\n\nAnswers to the questions")  # the intro
    covered = []
    for passage in passages[1:]:
        heading, body = passage.split("\n\n", 1)
        *path, question = heading.split(" > ")
        assert path[0] == "Acme Help Centre" and question in answers
        assert " ".join(body.split()) in answers[question]  # one question's answer, nothing else
        assert not any(other in body for other in answers if other != question)
        covered.append(question)
    assert sorted(set(covered)) == sorted(answers)
    assert "Shipping > How long does delivery take?\n\nStandard delivery takes 3 to 5" in (
        "\n".join(passages)
    )
    policy = [p for p in passages if "> What is your return policy?" in p]
    assert len(policy) == 4 and all(len(p) <= 600 for p in policy)  # a long answer is cut
    assert sum(len(p) <= 1200 for p in passages) == len(passages)
    assert len(passages) == 1 + 9 + len(policy)


def test_a_short_section_is_whole_and_a_heading_alone_gives_no_passage():
    sections = [
        Section(("FAQ",), ""),
        Section(("FAQ", "Phone"), "Call 555 0100."),
        Section(("FAQ", "Email"), "Write to help@example.com."),
        Section(("FAQ", "Still need help?"), ""),
    ]
    assert sections_split(sections) == [
        "FAQ > Phone\n\nCall 555 0100.",
        "FAQ > Email\n\nWrite to help@example.com.",
    ]
    assert sections_split([Section(("Contact",), ""), Section(("Contact", "Hours"), "")]) == [
        "Contact\n\nContact > Hours"
    ]


def test_a_long_section_repeats_its_heading_on_every_piece():
    body = " ".join(english_sentences(60))
    passages = sections_split([Section(("Rules", "All rules"), body)], target_chars=300)
    assert len(passages) > 5
    assert all(p.startswith("Rules > All rules\n\nSentence ") and len(p) <= 300 for p in passages)


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "PDF is damaged"),
        ("broken.docx", b"PK\x03\x04 not a zip", "Word file is damaged"),
        ("photo.png", b"\x89PNG\r\n", "not supported"),
        ("empty.txt", b"  \n\n ", "No text was found"),
        ("binary.txt", b"\x00\x01\x02", "looks binary"),
    ],
)
def test_unreadable_files_get_a_clear_message(name, data, message):
    with pytest.raises(DocumentUnreadable, match=message):
        document_text_extract(name=name, data=data)


# --- Splitting ------------------------------------------------------------------------------


def english_sentences(count):
    return [f"Sentence {i} explains rule number {i} of the shop." for i in range(count)]


def test_english_passages_hold_whole_sentences_with_overlap():
    sentences = english_sentences(60)
    text = " ".join(sentences[:30]) + "\n\n" + " ".join(sentences[30:])
    passages = passages_split(text, target_chars=300, overlap=100)
    assert len(passages) > 5
    found = []
    for passage in passages:
        assert len(passage) <= 300
        parts = [part.strip() for part in SENTENCE.findall(passage)]
        assert " ".join(parts) == " ".join(passage.split())  # nothing but whole sentences
        assert all(part in sentences for part in parts)
        found.append(parts)
    for before, after in itertools.pairwise(found):
        shared = [part for part in after if part in before]  # the boundary sentences
        assert shared and after[: len(shared)] == shared == before[-len(shared) :]
        assert len(" ".join(shared)) <= 100
    assert {part for parts in found for part in parts} == set(sentences)  # nothing lost
    assert "\n\n" in passages[len(passages) // 2 - 1] + passages[len(passages) // 2]


def test_chinese_passages_end_on_sentence_ends_without_added_spaces():
    sentences = [f"第{i}条规定：退货必须在收到商品后三十天内申请。" for i in range(40)]
    passages = passages_split("".join(sentences), target_chars=120, overlap=40)
    assert len(passages) > 5
    for passage in passages:
        assert len(passage) <= 120
        assert " " not in passage
        assert passage.endswith("。")
        assert all(part in sentences for part in SENTENCE.findall(passage))
    assert passages[1].startswith(SENTENCE.findall(passages[0])[-1])


def test_mixed_punctuation_and_question_marks():
    text = "你好！请问怎么退货？Returns are free. Really? Yes!"
    assert passages_split(text, target_chars=600) == [text]
    assert passages_split(text, target_chars=20, overlap=0) == [
        "你好！请问怎么退货？",
        "Returns are free.",
        "Really? Yes!",
    ]


def test_only_a_huge_sentence_is_cut_and_at_a_space():
    huge = " ".join(["word"] * 400) + "."
    passages = passages_split(f"Short one. {huge} Short two.", target_chars=600, overlap=0)
    assert passages[0].startswith("Short one.")
    assert all(len(p) <= 600 for p in passages)
    assert all(not p.startswith("ord") for p in passages)  # no word was cut in two
    assert passages[-1].endswith("Short two.")


def test_headings_and_list_items_stay_on_their_own_lines():
    text = "# Refunds\nRefunds are paid\nwithin five days.\n- by card\n- by bank transfer"
    assert passages_split(text) == [
        "# Refunds\nRefunds are paid within five days.\n- by card\n- by bank transfer"
    ]


# --- Creating, indexing, deleting -----------------------------------------------------------


def upload(name, data, content_type=""):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("broken.pdf", b"%PDF-1.4 garbage", DocumentUnreadable),
        ("broken.docx", b"not a zip at all", DocumentUnreadable),
        ("sheet.exe", b"MZ...", DocumentUnreadable),
        ("empty.txt", b"", ValidationError),
    ],
)
def test_a_bad_upload_stores_nothing(media, name, data, error, django_capture_on_commit_callbacks):
    site = SiteFactory.create()
    with django_capture_on_commit_callbacks() as callbacks, pytest.raises(error):
        document_create(site=site, title="Guide", upload=upload(name, data))
    assert not Document.objects.exists()
    assert stored_files(media) == []
    assert callbacks == []


def test_a_too_large_upload_is_refused(media, settings):
    settings.KNOWLEDGE_MAX_UPLOAD_BYTES = 10
    with pytest.raises(ValidationError, match="larger than"):
        document_create(site=SiteFactory.create(), title="", upload=upload("a.txt", b"x" * 11))
    assert not Document.objects.exists()


def test_an_upload_is_stored_and_indexed_after_commit(
    media, monkeypatch, django_capture_on_commit_callbacks
):
    scheduled: list[int] = []
    monkeypatch.setattr(documents, "document_index_schedule", scheduled.append)
    with django_capture_on_commit_callbacks(execute=True):
        document = document_create(
            site=SiteFactory.create(), title="", upload=upload("returns-guide.txt", b"Hi.")
        )
    assert scheduled == [document.id]
    assert document.title == "returns-guide"
    assert document.status == Document.Status.PENDING
    assert document.file.read() == b"Hi."


GUIDE = "\n\n".join(
    f"Section {i}. Parcels to zone {i} arrive within {i + 2} working days. "
    f"Customs forms for zone {i} are filled in by our staff. Tracking numbers are sent by email."
    for i in range(250)
)


def stored_document(site, name, data):
    document = Document(site=site, title=name, content_type="")
    document.file.save(name, ContentFile(data), save=False)
    document.save()
    return document


def test_index_stores_embedded_passages_and_reports_progress(
    media, monkeypatch, django_capture_on_commit_callbacks
):
    site = SiteFactory.create()
    document = stored_document(site, "shipping.txt", GUIDE.encode())
    seen: list[int] = []
    real_progress = documents._progress_set

    def progress_spy(document_id: int, progress: int, **fields: object) -> None:
        seen.append(progress)
        real_progress(document_id, progress, **fields)

    monkeypatch.setattr(documents, "_progress_set", progress_spy)
    with django_capture_on_commit_callbacks(execute=True):
        document_index(document_id=document.id)
    document.refresh_from_db()
    assert (document.status, document.progress, document.error) == ("ready", 100, "")
    passages = list(document.passages.all())
    assert len(passages) > documents.EMBED_BATCH  # more than one batch of embeddings
    assert all(len(p.vector) == 512 * 4 and p.site_id == site.id for p in passages)
    assert all(p.tokens == tokens_stored(p.text) for p in passages)  # BM25 needs no re-tokenizing
    assert [p.position for p in passages] == list(range(len(passages)))
    assert seen == sorted(seen) and seen[-1] == 100 and len(set(seen)) >= 4
    result = knowledge_search(site=site, query="When does a parcel to zone 17 arrive?")
    assert result.passages and "zone 17" in result.passages[0].text


def test_indexing_twice_gives_the_same_passages(media, django_capture_on_commit_callbacks):
    document = stored_document(SiteFactory.create(), "faq.md", b"# Hours\n\nOpen 9 to 5.")
    with django_capture_on_commit_callbacks(execute=True):
        document_index(document_id=document.id)
        first = list(Passage.objects.filter(document=document).values_list("text", "vector"))
        document_index(document_id=document.id)
    again = list(Passage.objects.filter(document=document).values_list("text", "vector"))
    assert first == again and [text for text, _ in again] == ["Hours\n\nOpen 9 to 5."]


def test_a_help_page_is_indexed_per_question_and_found_by_its_heading(
    media, django_capture_on_commit_callbacks
):
    site = SiteFactory.create()
    document = stored_document(site, "help.md", (DATA / "help_centre.md").read_bytes())
    with django_capture_on_commit_callbacks(execute=True):
        document_index(document_id=document.id)
    assert document.passages.count() == 14  # the intro, 10 answers, the long one in 4
    hit = knowledge_search(site=site, query="Can I cancel my order?").passages[0]
    assert hit.text.startswith("Acme Help Centre > Orders > Can I change or cancel my order?")


def test_a_failed_document_leaves_other_documents_intact(media, django_capture_on_commit_callbacks):
    site = SiteFactory.create()
    good = stored_document(site, "good.txt", b"Returns are free within 30 days.")
    bad = stored_document(site, "bad.pdf", b"%PDF-1.4 this file was cut off")
    with django_capture_on_commit_callbacks(execute=True):
        document_index(document_id=good.id)
        document_index(document_id=bad.id)
    bad.refresh_from_db()
    assert bad.status == Document.Status.FAILED
    assert "PDF is damaged" in bad.error
    assert not bad.passages.exists()
    good.refresh_from_db()
    assert good.status == Document.Status.READY
    assert list(good.passages.values_list("text", flat=True)) == [
        "Returns are free within 30 days."
    ]
    result = knowledge_search(site=site, query="Are returns free?")
    assert [hit.document_id for hit in result.passages] == [good.id]


def test_delete_removes_the_passages_the_file_and_the_search_hits(
    media, django_capture_on_commit_callbacks
):
    site = SiteFactory.create()
    document = stored_document(site, "hours.txt", b"We are open from 9 to 5 on weekdays.")
    with django_capture_on_commit_callbacks(execute=True):
        document_index(document_id=document.id)
    assert knowledge_search(site=site, query="opening hours").passages
    with django_capture_on_commit_callbacks(execute=True):
        document_delete(document=document)
    assert not Passage.objects.filter(site=site).exists()
    assert stored_files(media) == []
    assert not knowledge_search(site=site, query="opening hours").passages


def test_index_of_a_deleted_document_does_nothing():
    document_index(document_id=987654321)


@pytest.mark.django_db(transaction=True)
def test_the_worker_indexes_an_upload(worker):
    """The real path: upload, commit, batch queue, worker, READY (default MEDIA_ROOT)."""
    document = document_create(
        site=SiteFactory.create(),
        title="Hours",
        upload=upload("hours.html", b"<h1>Hours</h1><p>Open 9 to 5.</p>", "text/html"),
    )
    try:
        deadline = time.monotonic() + 60
        while document.status != Document.Status.READY and time.monotonic() < deadline:
            time.sleep(0.2)
            document.refresh_from_db()
        assert (document.status, document.progress) == ("ready", 100)
        assert list(document.passages.values_list("text", flat=True)) == ["Hours\n\nOpen 9 to 5."]
    finally:
        document_delete(document=document)
