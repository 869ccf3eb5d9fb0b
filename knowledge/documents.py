"""Documents: text out of uploaded files, split into passages, embedded for retrieval."""

import io
import logging
import mimetypes
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import PurePath

import docx
import pypdf
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone

from knowledge.embeddings import embed, vector_to_bytes
from knowledge.index import knowledge_changed
from knowledge.models import Document, Passage
from knowledge.text import tokens_stored
from sites.models import Site

log = logging.getLogger(__name__)
EMBED_BATCH = 64
CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
CJK_CLOSING = frozenset("。！？，；：”’」』）")  # full-width punctuation needs no space after it


class DocumentUnreadable(Exception):
    """The file cannot be read as a document; the message says why, for the uploader."""


# --- Text extraction ------------------------------------------------------------------------


def _text_decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:4096]:
        raise DocumentUnreadable("The file looks binary, not text.")
    for encoding in ("utf-8-sig", "gb18030"):  # gb18030: Chinese text saved by Windows tools
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DocumentUnreadable("The text is not in a known encoding; save it as UTF-8.")


class _HtmlText(HTMLParser):
    """The visible text of an HTML page, one paragraph per block element."""

    SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe"})
    BLOCKS = frozenset(
        {
            "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
            "h6", "tr", "table", "section", "article", "header", "footer", "nav", "aside",
            "main", "blockquote", "pre", "hr", "figure", "figcaption", "form", "details",
            "summary",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skipping = 0  # a <head> left open must not hide the page
        elif tag in self.SKIP:
            self.skipping += 1
        if tag in self.BLOCKS:
            self._paragraph_end()

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in self.BLOCKS:
            self._paragraph_end()

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)

    def _paragraph_end(self) -> None:
        text = " ".join("".join(self.parts).split())
        if text:
            self.paragraphs.append(text)
        self.parts = []

    def text(self) -> str:
        self._paragraph_end()
        return "\n\n".join(self.paragraphs)


def _html_extract(data: bytes) -> str:
    parser = _HtmlText()
    parser.feed(_text_decode(data))
    parser.close()
    return parser.text()


def _pdf_reader(data: bytes) -> pypdf.PdfReader:
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise DocumentUnreadable("The PDF is protected by a password.")
        if not reader.pages:
            raise DocumentUnreadable("The PDF has no pages.")
    except DocumentUnreadable:
        raise
    except Exception as exc:  # pypdf raises many kinds of errors on damaged files
        raise DocumentUnreadable(f"The PDF is damaged or not a PDF ({exc}).") from exc
    return reader


def _pdf_extract(data: bytes) -> str:
    reader = _pdf_reader(data)
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:
        raise DocumentUnreadable(f"The text of the PDF cannot be read ({exc}).") from exc
    return "\n\n".join(pages)


def _docx_open(data: bytes) -> "docx.document.Document":
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # not a zip, no word/document.xml, broken XML...
        raise DocumentUnreadable(f"The Word file is damaged or not a .docx ({exc}).") from exc


def _docx_extract(data: bytes) -> str:
    paragraphs: list[str] = []
    for block in _docx_open(data).iter_inner_content():
        if isinstance(block, docx.table.Table):
            paragraphs.extend(" | ".join(c.text.strip() for c in row.cells) for row in block.rows)
        else:
            paragraphs.append(block.text)
    return "\n\n".join(p.strip() for p in paragraphs if p.strip())


@dataclass(frozen=True)
class DocumentFormat:
    extract: Callable[[bytes], str]
    # A cheap check at upload time that the file opens; the full text is read when indexing.
    check: Callable[[bytes], object]


FORMATS: dict[str, DocumentFormat] = {
    ".txt": DocumentFormat(_text_decode, _text_decode),
    ".md": DocumentFormat(_text_decode, _text_decode),
    ".markdown": DocumentFormat(_text_decode, _text_decode),
    ".html": DocumentFormat(_html_extract, _text_decode),
    ".htm": DocumentFormat(_html_extract, _text_decode),
    ".pdf": DocumentFormat(_pdf_extract, _pdf_reader),
    ".docx": DocumentFormat(_docx_extract, _docx_open),
}
CONTENT_TYPES = {
    "text/plain": ".txt",
    "text/markdown": ".md",
    "text/html": ".html",
    "application/pdf": ".pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


def document_format(*, name: str, content_type: str = "") -> DocumentFormat:
    """The reader for a file, by its extension (or its content type when it has none)."""
    suffix = PurePath(name).suffix.lower() or CONTENT_TYPES.get(content_type.split(";")[0], "")
    if suffix not in FORMATS:
        allowed = ", ".join(sorted(FORMATS))
        raise DocumentUnreadable(
            f"Files of type “{suffix or name}” are not supported; upload one of: {allowed}."
        )
    return FORMATS[suffix]


def document_text_extract(*, name: str, data: bytes, content_type: str = "") -> str:
    """The readable text of a txt, md, html, pdf or docx file, paragraphs split by blank lines.

    Raises DocumentUnreadable for a damaged, empty or unsupported file.
    """
    text = document_format(name=name, content_type=content_type).extract(data)
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise DocumentUnreadable("No text was found in the file (is it a scanned image?).")
    return text


# --- Splitting ------------------------------------------------------------------------------

_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]+[”’」』）)]*|$)", re.S)
_BLOCK_START = re.compile(r"^(#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|\|)")


@dataclass(frozen=True)
class _Piece:
    text: str
    before: str = ""  # "\n\n" opens a paragraph, "\n" a heading or list item; "" a sentence


def _blocks(paragraph: str) -> Iterator[str]:
    """Lines of a paragraph joined back into blocks; headings and list items stay apart."""
    block: list[str] = []
    for line in (line.strip() for line in paragraph.split("\n")):
        if not line:
            continue
        if block and (_BLOCK_START.match(line) or block[0].startswith("#")):
            yield _join(block)
            block = []
        block.append(line)
    if block:
        yield _join(block)


def _join(parts: list[str]) -> str:
    text = parts[0]
    for part in parts[1:]:
        tight = text[-1:] in CJK_CLOSING or (CJK.match(text[-1:]) and CJK.match(part[:1]))
        glue = "" if tight else " "
        text = f"{text}{glue}{part}"
    return text


def _cut(sentence: str, limit: int) -> Iterator[str]:
    """A sentence longer than `limit`, cut at spaces (or anywhere, in Chinese)."""
    while len(sentence) > limit:
        space = sentence.rfind(" ", 0, limit)
        end = space if space > limit // 2 else limit
        yield sentence[:end].strip()
        sentence = sentence[end:].strip()
    if sentence:
        yield sentence


def _pieces(text: str, limit: int) -> Iterator[_Piece]:
    for paragraph in re.split(r"\n\s*\n", text):
        before = "\n\n"
        for block in _blocks(paragraph):
            before = before or "\n"
            for match in _SENTENCE.finditer(block):
                for part in _cut(match.group().strip(), limit):
                    if part:
                        yield _Piece(part, before)
                        before = ""


def _render(pieces: list[_Piece]) -> str:
    text = pieces[0].text
    for piece in pieces[1:]:
        text = f"{text}{piece.before}{piece.text}" if piece.before else _join([text, piece.text])
    return text


def _tail(pieces: list[_Piece], overlap: int) -> list[_Piece]:
    """The last whole sentences of a passage that fit in `overlap` characters."""
    tail: list[_Piece] = []
    for piece in reversed(pieces):
        if len(_render([piece, *tail])) > overlap:
            break
        tail.insert(0, piece)
    return tail


def passages_split(text: str, target_chars: int = 600, overlap: int = 100) -> list[str]:
    """Split text into passages of at most `target_chars`, on sentence boundaries.

    Consecutive passages share their boundary sentences, up to `overlap` characters of
    whole sentences. Only a sentence longer than `target_chars` is cut, at a space.
    """
    passages: list[str] = []
    current: list[_Piece] = []
    for piece in _pieces(text, target_chars):
        if current and len(_render([*current, piece])) > target_chars:
            passages.append(_render(current))
            current = _tail(current, overlap)
            if current and len(_render([*current, piece])) > target_chars:
                current = []
        current.append(piece)
    if current:
        passages.append(_render(current))
    return passages


# --- Storing and indexing -------------------------------------------------------------------


def document_create(*, site: Site, title: str, upload: UploadedFile) -> Document:
    """Store an uploaded file as a document of `site` and index it after the commit.

    Raises ValidationError (too big, empty) or DocumentUnreadable (unsupported or damaged
    file); nothing is stored then.
    """
    name = PurePath(upload.name or "document").name
    limit = settings.KNOWLEDGE_MAX_UPLOAD_BYTES
    if (upload.size or 0) > limit:
        raise ValidationError(f"The file is larger than {limit // (1024 * 1024)} MB.")
    data = upload.read()
    if not data:
        raise ValidationError("The file is empty.")
    content_type = upload.content_type or mimetypes.guess_type(name)[0] or ""
    document_format(name=name, content_type=content_type).check(data)
    document = Document(
        site=site,
        title=(title.strip() or PurePath(name).stem)[:300],
        file=ContentFile(data, name=name),
        content_type=content_type[:100],
    )
    document.full_clean()
    with transaction.atomic():
        document.save()
        transaction.on_commit(lambda: document_index_schedule(document.id))
    return document


def document_index_schedule(document_id: int) -> None:
    from knowledge.tasks import document_index_task

    document_index_task.apply_async(args=(document_id,), queue=settings.BATCH_QUEUE)


def document_reindex(*, document: Document) -> None:
    """Queue a document for indexing again (its passages stay until the new ones are ready)."""
    Document.objects.filter(id=document.id).update(status=Document.Status.PENDING, progress=0)
    transaction.on_commit(lambda: document_index_schedule(document.id))


def document_delete(*, document: Document) -> None:
    """Delete a document, its passages and its file; the site's index follows on commit."""
    site_id, document_id = document.site_id, document.id
    file_name, storage = document.file.name, document.file.storage
    document.delete()

    def cleanup() -> None:
        if file_name:
            storage.delete(file_name)
        knowledge_changed(site_id, document_ids=[document_id])

    transaction.on_commit(cleanup)


def _progress_set(document_id: int, progress: int, **fields: object) -> None:
    Document.objects.filter(id=document_id).update(
        progress=progress, updated_at=timezone.now(), **fields
    )


def _vectors_embed(document_id: int, texts: list[str]) -> list[bytes]:
    """Embeddings of the passages in batches, moving the progress from 10 to 95 percent."""
    vectors: list[bytes] = []
    for start in range(0, len(texts), EMBED_BATCH):
        vectors.extend(vector_to_bytes(v) for v in embed(texts[start : start + EMBED_BATCH]))
        _progress_set(document_id, 10 + 85 * len(vectors) // len(texts))
    return vectors


def _language_guess(text: str) -> str:
    sample = text[:5000]
    letters = sum(ch.isalpha() for ch in sample) or 1
    return "zh" if len(CJK.findall(sample)) / letters > 0.3 else ""


def document_index(*, document_id: int) -> None:
    """Read, split and embed a document, then replace its passages in one transaction.

    Running it again gives the same passages. On failure the document is marked FAILED with
    the reason; passages already stored (of this and other documents) stay as they were.
    """
    document = Document.objects.filter(id=document_id).first()
    if document is None:
        log.info("document %s was deleted before indexing", document_id)
        return
    _progress_set(document.id, 0, status=Document.Status.INDEXING, error="")
    try:
        with document.file.open("rb") as stored:
            data = stored.read()
        text = document_text_extract(
            name=document.file.name or "", data=data, content_type=document.content_type
        )
        texts = passages_split(text)
        _progress_set(document.id, 10)
        vectors = _vectors_embed(document.id, texts)
    except (DocumentUnreadable, OSError) as exc:
        _progress_set(document.id, 0, status=Document.Status.FAILED, error=str(exc))
        return
    except Exception:
        log.exception("indexing document %s failed", document_id)
        error = "Indexing failed unexpectedly; try Re-index, or ask an administrator."
        _progress_set(document.id, 0, status=Document.Status.FAILED, error=error)
        raise
    _passages_replace(document, texts, vectors, _language_guess(text))


def _passages_replace(
    document: Document, texts: list[str], vectors: list[bytes], lang: str
) -> None:
    with transaction.atomic():
        # The lock keeps two runs of the same document from mixing their passages.
        if not Document.objects.select_for_update().filter(id=document.id).exists():
            return
        Passage.objects.filter(document_id=document.id).delete()
        Passage.objects.bulk_create(
            Passage(
                document_id=document.id,
                site_id=document.site_id,
                position=i,
                text=t,
                vector=v,
                tokens=tokens_stored(t),
            )
            for i, (t, v) in enumerate(zip(texts, vectors, strict=True))
        )
        fields: dict[str, object] = {"status": Document.Status.READY, "error": ""}
        if lang and not document.language:
            fields["language"] = lang
        _progress_set(document.id, 100, **fields)
        site_id, document_id = document.site_id, document.id
        transaction.on_commit(lambda: knowledge_changed(site_id, document_ids=[document_id]))
