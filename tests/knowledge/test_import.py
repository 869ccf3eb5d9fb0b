import io
import json
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from knowledge.faq_files import faq_export_csv, faq_export_jsonl, faq_rows_from_file
from knowledge.models import FaqEntry, FaqVector
from knowledge.search import knowledge_search
from knowledge.services import faq_export, faq_import
from tests.factories import SiteFactory
from tests.knowledge import committed

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


def import_file(site, name, data=None, **options):
    data = (DATA / name).read_bytes() if data is None else data
    rows, errors = faq_rows_from_file(name, data)
    with committed():
        report = faq_import(site=site, rows=rows, **options)
    return report, errors


def xlsx(rows):
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("name", ["faqs.jsonl", "faqs.csv"])
def test_a_good_file_is_imported_whole(name):
    site = SiteFactory.create()
    report, errors = import_file(site, name)
    assert (report.created, report.updated, report.unchanged, errors, report.errors) == (
        3, 0, 0, [], [],
    )  # fmt: skip
    returns = FaqEntry.objects.get(site=site, external_id="ret-1")
    assert returns.alt_questions == ["Can I return an item?", "How do I send something back?"]
    assert returns.tags == ["returns"]
    pay = FaqEntry.objects.get(site=site, external_id="pay-1")
    assert pay.alt_questions[0] == "可以用支付宝付款吗" and pay.tags == ["付款"]
    abroad = FaqEntry.objects.get(site=site, external_id="77")
    assert abroad.enabled is False
    assert FaqVector.objects.filter(faq__site=site, kind="phrasing").count() == 3 + 2 + 1 + (
        name == "faqs.csv"
    )


def test_broken_jsonl_rows_are_reported_by_line_and_the_good_ones_stored():
    site = SiteFactory.create()
    report, errors = import_file(site, "faqs_broken.jsonl")
    problems = {e.row: e.message for e in [*errors, *report.errors]}
    assert sorted(problems) == [2, 3, 4, 5, 6, 8]
    assert "'answer' is missing" in problems[2]
    assert "Not valid JSON" in problems[3]
    assert "'alt_questions' must be a list" in problems[4]
    assert "already appears in row 1" in problems[5]
    assert "JSON object" in problems[6]
    assert "'enabled' must be true or false" in problems[8]
    stored = FaqEntry.objects.filter(site=site).order_by("id")
    assert [(f.external_id, f.question) for f in stored] == [
        ("ok-1", "Where is your shop?"),
        ("", "What are your opening hours?"),
    ]
    assert stored[1].tags == ["hours", "shop"]


def test_broken_csv_rows_are_reported_by_row_number():
    site = SiteFactory.create()
    report, errors = import_file(site, "faqs_broken.csv")
    problems = {e.row: e.message for e in [*errors, *report.errors]}
    assert sorted(problems) == [3, 4, 5]
    assert "more cells than the header" in problems[5]
    assert report.created == 2


def test_xlsx_first_sheet_with_a_header_row():
    site = SiteFactory.create()
    data = xlsx(
        [
            ["Question", "Answer", "alt_questions", "faq_id", "enabled"],
            [
                "How do I reset my password?",
                "Use the sign-in page.",
                "I forgot my password",
                12,
                True,
            ],
            [None, None, None, None, None],
            ["No answer here", None, None, 13, None],
            ["如何修改收货地址？", "在订单页面修改。", "更改地址\n换地址", 14.0, "no"],
        ]
    )
    report, errors = import_file(site, "faqs.xlsx", data)
    assert errors == []
    assert [(e.row, "'answer' is missing" in e.message) for e in report.errors] == [(4, True)]
    assert report.created == 2
    address = FaqEntry.objects.get(site=site, external_id="14")
    assert address.alt_questions == ["更改地址", "换地址"] and address.enabled is False
    assert FaqEntry.objects.get(site=site, external_id="12").enabled is True


def test_reimport_stores_nothing_twice_and_upserts_by_faq_id():
    site = SiteFactory.create()
    import_file(site, "faqs.jsonl")
    report, _ = import_file(site, "faqs.jsonl")
    assert (report.created, report.updated, report.unchanged) == (0, 0, 3)
    assert report.embed_ids == []
    changed = (DATA / "faqs.jsonl").read_text().replace("free within 30 days", "free for 60 days")
    report, _ = import_file(site, "faqs.jsonl", changed.encode())
    assert (report.created, report.updated, report.unchanged) == (0, 1, 2)
    returns = FaqEntry.objects.get(site=site, external_id="ret-1")
    assert report.embed_ids == [returns.id]  # its answer is searched too: embedded again
    assert FaqEntry.objects.filter(site=site).count() == 3
    assert FaqEntry.objects.get(site=site, external_id="ret-1").answer.endswith("60 days.")


def test_rows_without_faq_id_are_matched_by_question():
    site = SiteFactory.create()
    rows = [{"question": "Where are you?", "answer": "Berlin."}]
    faq_import(site=site, rows=rows)
    report = faq_import(site=site, rows=[{"question": "Where are you?", "answer": "Hamburg."}])
    assert (report.created, report.updated) == (0, 1)
    assert FaqEntry.objects.get(site=site).answer == "Hamburg."


def test_too_long_and_wrong_types_are_refused_per_row():
    site = SiteFactory.create()
    rows: list[Any] = [
        {"question": "q" * 1001, "answer": "a"},
        {"question": "Fine?", "answer": 42},
        {"question": "Tags?", "answer": "a", "tags": [1, 2]},
        {"question": "Id?", "answer": "a", "faq_id": ["x"]},
        {"question": "Good?", "answer": "Yes."},
    ]
    report = faq_import(site=site, rows=rows)
    assert [e.row for e in report.errors] == [1, 2, 3, 4]
    assert "longer than 1000" in report.errors[0].message
    assert "must be text, not int" in report.errors[1].message
    assert report.created == 1


def test_the_same_faq_id_on_another_site_is_another_entry():
    first, second = SiteFactory.create(), SiteFactory.create()
    import_file(first, "faqs.jsonl")
    report, _ = import_file(second, "faqs.jsonl")
    assert report.created == 3 and FaqEntry.objects.filter(external_id="ret-1").count() == 2


def test_dry_run_checks_and_stores_nothing():
    site = SiteFactory.create()
    report, _ = import_file(site, "faqs_broken.jsonl", dry_run=True)
    assert report.created == 2 and [e.row for e in report.errors] == [2, 4, 5, 8]
    assert not FaqEntry.objects.filter(site=site).exists()


def test_unsupported_and_unreadable_files_are_one_clear_error():
    assert faq_rows_from_file("faqs.txt", b"x")[1][0].message.startswith("Unsupported file type")
    rows, errors = faq_rows_from_file("faqs.xlsx", b"not a workbook")
    assert rows == [] and errors[0].row == 0 and "could not be read" in errors[0].message
    rows, errors = faq_rows_from_file("faqs.csv", b"\xff\xfe\x00bad")
    assert rows == [] and "UTF-8" in errors[0].message


def test_export_round_trips_through_jsonl_and_csv():
    site = SiteFactory.create()
    import_file(site, "faqs.jsonl")
    exported = faq_export(site)
    assert exported[0]["faq_id"] == "ret-1" and exported[2]["enabled"] is False
    for name, text in (
        ("x.jsonl", faq_export_jsonl(exported)),
        ("x.csv", faq_export_csv(exported)),
    ):
        report, errors = import_file(site, name, text.encode())
        assert (report.unchanged, report.created, report.updated, errors) == (3, 0, 0, [])
    assert (
        json.loads(faq_export_jsonl(exported).splitlines()[1])["question"] == "支持哪些付款方式？"
    )


def test_command_imports_embeds_and_fails_on_bad_rows(capsys):
    site = SiteFactory.create(slug="shop")
    with committed():
        call_command("faq_import", str(DATA / "faqs.jsonl"), "--site", "shop")
    out = capsys.readouterr().out
    assert "created 3, updated 0, unchanged 0, errors 0" in out
    hit = knowledge_search(site=site, query="how can I send an item back").faqs[0]
    assert hit.question == "What is your return policy?"
    with pytest.raises(CommandError) as failed, committed():
        call_command("faq_import", str(DATA / "faqs_broken.jsonl"), "--site", "shop")
    assert failed.value.returncode == 1
    captured = capsys.readouterr()
    assert "row 3: Not valid JSON" in captured.err and "created 2" in captured.out


def test_command_dry_run_and_unknown_site():
    with pytest.raises(CommandError, match="No site"):
        call_command("faq_import", str(DATA / "faqs.jsonl"), "--site", "nope")
    site = SiteFactory.create(slug="dry")
    call_command("faq_import", str(DATA / "faqs.jsonl"), "--site", "dry", "--dry-run")
    assert not FaqEntry.objects.filter(site=site).exists()
