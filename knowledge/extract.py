"""Reading uploaded files into sections: the text under each heading of a txt, md, html,
pdf or docx file, with the path of headings above it. `document_format` picks the reader by
the file's extension (or content type) and gives a cheap check that the file opens, used at
upload time; `document_sections_extract` reads the whole file into `Section`s when it is
indexed, and `document_text_extract` renders them back as text with Markdown headings. A
damaged, empty, protected or unsupported file raises `DocumentUnreadable`, whose message is
written for the uploader. Nothing here touches the database."""

import io
import itertools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePath

import docx
import pypdf
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt
from markdown_it.token import Token

from knowledge.text import HtmlBlock, html_blocks, html_blocks_text


class DocumentUnreadable(Exception):
    """The file cannot be read as a document; the message says why, for the uploader."""


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


def _tidy(text: str) -> str:
    text = re.sub(r"[ \t\u00a0]+\n", "\n", _newlines(text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@dataclass(frozen=True)
class Section:
    """The text under one heading: `headings` is the path from the top heading down to its
    own; empty before the first heading, and in formats without headings (txt, pdf)."""

    headings: tuple[str, ...]
    body: str


@dataclass(frozen=True)
class _Heading:
    level: int  # 1 to 6 (0: a Word "Title", above them all)
    text: str


def _sections(parts: Iterable[_Heading | str]) -> list[Section]:
    """Sections out of headings and the text between them, in document order."""
    sections: list[Section] = []
    path: list[_Heading] = []
    body: list[str] = []
    for part in parts:
        if isinstance(part, str):
            body.append(part)
            continue
        text = " ".join(part.text.split())
        if not text:
            continue
        if path or "".join(body).strip():
            sections.append(Section(tuple(h.text for h in path), _tidy("\n\n".join(body))))
        body = []
        while path and path[-1].level >= part.level:
            path.pop()
        path.append(_Heading(part.level, text))
    if path or "".join(body).strip():
        sections.append(Section(tuple(h.text for h in path), _tidy("\n\n".join(body))))
    return sections


def _plain_sections(text: str) -> list[Section]:
    return [Section((), _tidy(text))]


def _text_sections(data: bytes) -> list[Section]:
    return _plain_sections(_text_decode(data))


_markdown = MarkdownIt("commonmark")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n[\w-]+[ \t]*:.*?\n---[ \t]*\n", re.S)  # Jekyll, Hugo


def _markdown_sections(data: bytes) -> list[Section]:
    """Sections at the ATX (#) and setext headings; a # line inside code is no heading."""
    text = _FRONT_MATTER.sub("", _newlines(_text_decode(data)))
    lines = text.split("\n")
    tokens = _markdown.parse(text)
    parts: list[_Heading | str] = []
    start = 0
    for token, inline in itertools.pairwise(tokens):
        if token.type == "heading_open" and token.level == 0 and token.map:
            first, end = token.map
            parts.append("\n".join(lines[start:first]))
            parts.append(_Heading(int(token.tag[1]), _markdown_inline_text(inline)))
            start = end
    parts.append("\n".join(lines[start:]))
    return _sections(parts)


def _markdown_inline_text(inline: Token) -> str:
    words = {"text": "", "code_inline": "", "image": "", "softbreak": " ", "hardbreak": " "}
    return "".join(
        child.content or words[child.type] for child in inline.children or [] if child.type in words
    )


def _html_sections(data: bytes) -> list[Section]:
    parts: list[_Heading | str] = []
    run: list[HtmlBlock] = []
    for block in html_blocks(_text_decode(data)):
        if block.heading:
            parts.extend([html_blocks_text(run), _Heading(block.heading, block.text)])
            run = []
        else:
            run.append(block)
    parts.append(html_blocks_text(run))
    return _sections(parts)


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


def _pdf_sections(data: bytes) -> list[Section]:
    reader = _pdf_reader(data)
    try:
        pages = [page.extract_text() or "" for page in reader.pages]
    except Exception as exc:
        raise DocumentUnreadable(f"The text of the PDF cannot be read ({exc}).") from exc
    return _plain_sections("\n\n".join(pages))


def _docx_open(data: bytes) -> "docx.document.Document":
    try:
        return docx.Document(io.BytesIO(data))
    except Exception as exc:  # not a zip, no word/document.xml, broken XML...
        raise DocumentUnreadable(f"The Word file is damaged or not a .docx ({exc}).") from exc


_DOCX_HEADING = re.compile(r"heading ([1-6])", re.I)


def _docx_style(paragraph: Paragraph) -> str:
    return (paragraph.style.name if paragraph.style is not None else "") or ""


def _docx_heading_level(style: str) -> int | None:
    if style == "Title":
        return 0
    match = _DOCX_HEADING.fullmatch(style)
    return int(match[1]) if match else None


def _docx_sections(data: bytes) -> list[Section]:
    """Sections at the paragraphs styled Title or Heading 1 to 6; "- " before list items."""
    parts: list[_Heading | str] = []
    listing = False  # consecutive list paragraphs go on consecutive lines
    for block in _docx_open(data).iter_inner_content():
        if isinstance(block, docx.table.Table):
            parts.extend(" | ".join(c.text.strip() for c in row.cells) for row in block.rows)
            listing = False
            continue
        text, style = block.text.strip(), _docx_style(block)
        level = _docx_heading_level(style)
        item = level is None and style.startswith("List")  # List Bullet, List Number...
        if not text:
            continue
        if level is not None:
            parts.append(_Heading(level, text))
        elif item and listing and isinstance(parts[-1], str):
            parts[-1] = f"{parts[-1]}\n- {text}"
        else:
            parts.append(f"- {text}" if item else text)
        listing = item
    return _sections(parts)


@dataclass(frozen=True)
class DocumentFormat:
    extract: Callable[[bytes], list[Section]]
    # A cheap check at upload time that the file opens; the full text is read when indexing.
    check: Callable[[bytes], object]


FORMATS: dict[str, DocumentFormat] = {
    ".txt": DocumentFormat(_text_sections, _text_decode),
    ".md": DocumentFormat(_markdown_sections, _text_decode),
    ".markdown": DocumentFormat(_markdown_sections, _text_decode),
    ".html": DocumentFormat(_html_sections, _text_decode),
    ".htm": DocumentFormat(_html_sections, _text_decode),
    ".pdf": DocumentFormat(_pdf_sections, _pdf_reader),
    ".docx": DocumentFormat(_docx_sections, _docx_open),
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


def document_sections_extract(*, name: str, data: bytes, content_type: str = "") -> list[Section]:
    """The sections of a txt, md, html, pdf or docx file, by its headings (Markdown #,
    HTML h1-h6, Word heading styles); a txt or pdf file is one section without heading.

    Raises DocumentUnreadable for a damaged, empty or unsupported file.
    """
    extract = document_format(name=name, content_type=content_type).extract
    sections = [section for section in extract(data) if section.headings or section.body]
    if not sections:
        raise DocumentUnreadable("No text was found in the file (is it a scanned image?).")
    return sections


def document_text_extract(*, name: str, data: bytes, content_type: str = "") -> str:
    """The readable text of a file, paragraphs split by blank lines, headings as Markdown #.

    Raises DocumentUnreadable for a damaged, empty or unsupported file.
    """
    sections = document_sections_extract(name=name, data=data, content_type=content_type)
    parts: list[str] = []
    for section in sections:
        if section.headings:
            parts.append(f"{'#' * min(len(section.headings), 6)} {section.headings[-1]}")
        if section.body:
            parts.append(section.body)
    return "\n\n".join(parts)
