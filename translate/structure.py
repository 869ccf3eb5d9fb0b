"""Documents as segments to translate and the markup around them, kept as it is.

- text: paragraphs (split by blank lines);
- markdown: the inline content of each block (markdown-it): headings, paragraphs, list
  items, table cells, quotes; code, fences, HTML blocks and the markers stay as written;
  link targets and inline code are protected by placeholders;
- html: the text nodes (lxml), outside script, style, code and pre;
- docx: the paragraphs of a Word file (body and tables; python-docx), one a line pair
  apart in the stored text; `docx_rebuild` writes them back into the file's own runs, so
  styles, headings, lists, tables and pictures stay as they are.

`rebuild` puts the translated segments back where their sources were.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import docx
import lxml.html
from docx.oxml.ns import qn
from docx.table import Table
from docx.text.paragraph import Paragraph
from markdown_it import MarkdownIt

FORMATS = ("text", "markdown", "html", "docx")
DOCX_SEPARATOR = "\n\n"
_WORD = re.compile(r"[^\W\d_]", re.UNICODE)  # a letter of any script
_MD_PROTECT = re.compile(r"(`[^`]+`|\]\([^)\s]+(?:\s+\"[^\"]*\")?\)|<https?://[^>]+>|https?://\S+)")
_MD_PREFIX = re.compile(r"^(\s*(?:#{1,6}\s+|[-*+]\s+(?:\[[ xX]\]\s+)?|\d+[.)]\s+|>\s*)*)")
_SKIP_HTML = {"script", "style", "code", "pre", "kbd", "samp"}


@dataclass
class Document:
    format: str
    segments: list[str]  # the texts to translate, in order
    rebuild_with: Callable[[list[str]], str]
    protected: list[dict[str, str]] = field(default_factory=list)  # placeholders per segment

    def source(self, index: int) -> str:
        """Segment `index` as written (placeholders put back)."""
        kept = self.protected[index] if index < len(self.protected) else {}
        return placeholders_restore(self.segments[index], kept)

    def rebuild(self, translations: list[str]) -> str:
        restored = [
            placeholders_restore(text, self.protected[i] if i < len(self.protected) else {})
            for i, text in enumerate(translations)
        ]
        return self.rebuild_with(restored)


def document_parse(text: str, format: str) -> Document:
    if format == "markdown":
        return _markdown(text)
    if format == "html":
        return _html(text)
    if format == "docx":
        return _docx(text)
    return _text(text)


def format_guess(name: str = "", text: str = "") -> str:
    lowered = name.lower()
    if lowered.endswith((".md", ".markdown")):
        return "markdown"
    if lowered.endswith((".html", ".htm")) or re.match(
        r"\s*<(!doctype|html|p|div|h[1-6]|ul)\b", text, re.I
    ):
        return "html"
    return "text"


def _text(text: str) -> Document:
    parts = re.split(r"(\n\s*\n)", text.strip())
    segments = [p for i, p in enumerate(parts) if i % 2 == 0]

    def rebuild(translated: list[str]) -> str:
        out = list(parts)
        for i, value in enumerate(translated):
            out[2 * i] = value
        return "".join(out)

    return Document("text", segments, rebuild)


_PLACEHOLDER = re.compile(r"⟦(\d+)⟧")


def placeholder(number: int) -> str:
    """The token the model copies as is (the prompt names it): ⟦0⟧, ⟦1⟧, ..."""
    return f"⟦{number}⟧"


def placeholder_next(text: str) -> int:
    """The first placeholder number that `text` does not use yet."""
    return max((int(n) + 1 for n in _PLACEHOLDER.findall(text)), default=0)


def _protect(text: str) -> tuple[str, dict[str, str]]:
    """Replace link targets, URLs and inline code with ⟦n⟧ the model copies as is."""
    kept: dict[str, str] = {}

    def hold(match: re.Match[str]) -> str:
        key = placeholder(len(kept))
        kept[key] = match.group(0)
        return key if not match.group(0).startswith("](") else "](" + key + ")"

    protected = _MD_PROTECT.sub(hold, text)
    for key, value in list(kept.items()):
        if value.startswith("]("):
            kept[key] = value[2:-1]
    return protected, kept


def placeholders_restore(text: str, kept: dict[str, str]) -> str:
    """`text` with each placeholder of `kept` replaced by what it stands for, also when the
    model rewrote its brackets ("【0】", "[[0]]": the small model does, now and then)."""
    for key, value in kept.items():
        if key not in text and (number := _PLACEHOLDER.fullmatch(key)):
            loose = rf"(?:⟦|【|〚|\[\[)\s*{number.group(1)}\s*(?:⟧|】|〛|\]\])"
            text = re.sub(loose, key, text)
        text = text.replace(key, value)
    return text


def _markdown(text: str) -> Document:
    lines = text.split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    slots: list[tuple[int, int, str]] = []  # (first line, last line + 1, prefix)
    segments: list[str] = []
    protected: list[dict[str, str]] = []
    for token in tokens:
        if token.type != "inline" or not token.map or not _WORD.search(token.content):
            continue
        start, end = token.map
        if any(start < s_end and s_start < end for s_start, s_end, _ in slots):
            continue  # a table row holds several cells on one line: translated as one
        first = lines[start]
        prefix = _MD_PREFIX.match(first).group(1) if _MD_PREFIX.match(first) else ""  # type: ignore[union-attr]
        if first.lstrip().startswith("|"):  # a table row: the line as a whole
            content, prefix = first, ""
        else:
            content = token.content
        segment, kept = _protect(content)
        slots.append((start, end, prefix))
        segments.append(segment)
        protected.append(kept)

    def rebuild(translated: list[str]) -> str:
        out = list(lines)
        for (start, end, prefix), value in sorted(
            zip(slots, translated, strict=True), key=lambda pair: -pair[0][0]
        ):
            out[start:end] = [prefix + value.replace("\n", " ").strip()]
        return "\n".join(out)

    return Document("markdown", segments, rebuild, protected)


def _html(text: str) -> Document:
    root = lxml.html.fragment_fromstring(text, create_parent="div")
    holders: list[tuple[Any, str]] = []  # (element, "text" | "tail")
    segments: list[str] = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # comments, processing instructions
        inside_skip = element.tag in _SKIP_HTML or any(
            a.tag in _SKIP_HTML for a in element.iterancestors() if isinstance(a.tag, str)
        )
        if element.text and _WORD.search(element.text) and not inside_skip:
            holders.append((element, "text"))
            segments.append(element.text.strip())
        parent_skip = any(
            a.tag in _SKIP_HTML for a in element.iterancestors() if isinstance(a.tag, str)
        )
        if element is not root and element.tail and _WORD.search(element.tail) and not parent_skip:
            holders.append((element, "tail"))
            segments.append(element.tail.strip())

    def rebuild(translated: list[str]) -> str:
        for (element, slot), value in zip(holders, translated, strict=True):
            original = getattr(element, slot) or ""
            lead = original[: len(original) - len(original.lstrip())]
            trail = original[len(original.rstrip()) :]
            setattr(element, slot, lead + value.strip() + trail)
        inner = (root.text or "") + "".join(
            lxml.html.tostring(child, encoding="unicode") for child in root
        )
        return inner

    return Document("html", segments, rebuild)


def _docx(text: str) -> Document:
    """The stored text of a Word file: its paragraphs, one segment each."""

    def rebuild(translated: list[str]) -> str:
        return DOCX_SEPARATOR.join(" ".join(value.split()) for value in translated)

    return Document("docx", text.split(DOCX_SEPARATOR), rebuild)


def _docx_paragraphs(data: bytes) -> tuple[Any, list[Paragraph]]:
    """The file and its paragraphs that hold words, in reading order (tables cell by cell)."""
    import io

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises zipfile, lxml and KeyError alike
        raise ValueError(f"The Word file is damaged or not a .docx ({exc}).") from exc
    found: list[Paragraph] = []

    def walk(container: Any) -> None:
        for block in container.iter_inner_content():
            if isinstance(block, Table):
                for row in block.rows:
                    seen = set()
                    for cell in row.cells:
                        if id(cell._tc) not in seen:  # a merged cell appears once per column
                            seen.add(id(cell._tc))
                            walk(cell)
            elif _WORD.search(_docx_text(block)):
                found.append(block)

    walk(document)
    return document, found


def _docx_text(paragraph: Paragraph) -> str:
    return " ".join("".join(t.text or "" for t in paragraph._p.iter(qn("w:t"))).split())


def docx_source(data: bytes) -> str:
    """The stored text of a Word file (ValueError when it cannot be read)."""
    _, paragraphs = _docx_paragraphs(data)
    if not paragraphs:
        raise ValueError("The Word file has no text.")
    return DOCX_SEPARATOR.join(_docx_text(p) for p in paragraphs)


def docx_rebuild(data: bytes, text: str) -> bytes:
    """The Word file with each paragraph's words replaced by its translation: the first run
    takes the text (and keeps its style), the paragraph's other runs are emptied."""
    import io

    document, paragraphs = _docx_paragraphs(data)
    translated = text.split(DOCX_SEPARATOR)
    for paragraph, value in zip(paragraphs, translated, strict=False):
        pieces = list(paragraph._p.iter(qn("w:t")))
        for i, piece in enumerate(pieces):
            piece.text = value if i == 0 else ""
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()
