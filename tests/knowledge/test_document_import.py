"""manage.py document_import: files of each format in, indexed and searchable on return."""

import io
from dataclasses import dataclass
from pathlib import Path

import docx
import pytest
from django.core.management import CommandError, call_command

from knowledge.models import Document
from knowledge.search import knowledge_search
from sites.services import site_default_ensure
from tests.factories import SiteFactory
from tests.knowledge.test_documents import pdf_bytes

pytestmark = pytest.mark.django_db

DATA = Path(__file__).parent / "data"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@dataclass
class Run:
    out: str
    err: str
    error: CommandError | None  # what makes manage.py print it and exit with its returncode


@pytest.fixture
def imported(django_capture_on_commit_callbacks, capsys):
    """Run the command as a script would, its commit callbacks included."""

    def run(*args: str) -> Run:
        error = None
        with django_capture_on_commit_callbacks(execute=True):
            try:
                call_command("document_import", *args)
            except CommandError as exc:
                error = exc
        captured = capsys.readouterr()
        return Run(captured.out, captured.err, error)

    return run


def write(folder: Path, name: str, data: bytes) -> str:
    (folder / name).write_bytes(data)
    return str(folder / name)


def warranty_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Warranty", level=1)
    document.add_heading("How long is the warranty on a bicycle?", level=2)
    document.add_paragraph("Bicycle frames are guaranteed for ten years, other parts for two.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def top_passage(site, query):
    hits = knowledge_search(site=site, query=query).passages
    return hits[0] if hits else None


def test_good_files_of_each_type_are_indexed_when_the_command_returns(media, tmp_path, imported):
    site = SiteFactory.create(slug="shop")
    files = [
        str(DATA / "help_centre.md"),
        str(DATA / "returns.html"),
        write(tmp_path, "stores.txt", b"Our store in Leeds opens at 8 am on Saturdays."),
        write(tmp_path, "gift-cards.pdf", pdf_bytes("Gift cards never expire.")),
        write(tmp_path, "warranty.docx", warranty_docx()),
    ]
    run = imported(*files, "--site", "shop")
    assert (run.err, run.error) == ("", None)
    assert run.out.splitlines() == [
        f'{files[0]}: "help_centre", 14 passages, ready',
        f'{files[1]}: "returns", 2 passages, ready',
        f'{files[2]}: "stores", 1 passage, ready',
        f'{files[3]}: "gift-cards", 1 passage, ready',
        f'{files[4]}: "warranty", 1 passage, ready',
    ]
    assert set(Document.objects.filter(site=site).values_list("status", flat=True)) == {"ready"}
    expected = {
        "How long does delivery take?": "Shipping > How long does delivery take?",
        "my kettle is broken, how do I return it": "Returns > How do I send back a faulty",
        "When is the Leeds store open on Saturday?": "Our store in Leeds",
        "Do gift cards expire?": "Gift cards never expire.",
        "warranty on my bike frame": "Warranty > How long is the warranty on a bicycle?",
    }
    for query, text in expected.items():
        hit = top_passage(site, query)
        assert hit is not None and text in hit.text, query


def test_broken_files_fail_with_a_message_each_and_the_good_one_is_imported(
    media, tmp_path, imported
):
    site = SiteFactory.create(slug="shop")
    broken = {
        write(tmp_path, "broken.pdf", b"%PDF-1.4\nthis file was cut off"): "PDF is damaged",
        write(tmp_path, "scan.pdf", pdf_bytes()): "No text was found",
        write(tmp_path, "letter.docx", b"PK\x03\x04 not a zip"): "Word file is damaged",
        write(tmp_path, "photo.png", b"\x89PNG\r\n"): "are not supported",
        write(tmp_path, "empty.txt", b""): "The file is empty.",
        str(tmp_path / "missing.md"): "Cannot read the file",
    }
    good = str(DATA / "help_centre.md")
    run = imported(*list(broken)[:3], good, *list(broken)[3:], "--site", "shop")
    assert run.error is not None and run.error.returncode == 1
    assert str(run.error) == "6 of 7 file(s) failed; the others were imported."
    assert run.out == f'{good}: "help_centre", 14 passages, ready\n'
    lines = run.err.splitlines()
    assert len(lines) == len(broken)
    for line, (path, message) in zip(lines, broken.items(), strict=True):
        assert line.startswith(f"{path}: failed: ") and message in line, line
    assert list(Document.objects.filter(site=site).values_list("title", "status")) == [
        ("help_centre", "ready")
    ]
    assert [p.suffix for p in media.rglob("*") if p.is_file()] == [".md"]  # no broken file kept
    hit = top_passage(site, "Can I pay with PayPal?")
    assert hit is not None and "> Which payment methods do you accept?" in hit.text


def test_an_unknown_site_is_refused_and_nothing_is_stored(media, imported):
    run = imported(str(DATA / "returns.html"), "--site", "nope")
    assert run.error is not None and str(run.error) == "No site with the slug 'nope'."
    assert not Document.objects.exists()


def test_the_default_site_and_importing_again(media, imported):
    page = str(DATA / "returns.html")
    assert imported(page).out.endswith("2 passages, ready\n")
    site = site_default_ensure()
    hit = top_passage(site, "When will I get my money back?")
    assert hit is not None and hit.text.startswith("Returns > When will I get my money back?")
    assert "1 earlier of this title kept (see --replace)" in imported(page).out
    assert "replaced 2 earlier" in imported(page, "--replace").out
    assert Document.objects.filter(site=site, title="returns").count() == 1
