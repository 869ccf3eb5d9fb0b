"""Cutting text into passages, the units that are embedded and searched. `passages_split`
cuts plain text on sentence boundaries (Western and Chinese punctuation) into passages of at
most a given length, neighbours sharing whole sentences; `sections_split` gives one passage
per section of a document, its heading path as first line, and cuts a long section, or text
without headings, with `passages_split`. Pure functions of their input: no files, no
database, no model."""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from knowledge.extract import Section

CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
CJK_CLOSING = frozenset("。！？，；：”’」』）")  # full-width punctuation needs no space after it

# One question and its answer is one passage up to this long: a help page's sections are
# its natural units, and cutting them at 600 characters mixed neighbouring questions.
SECTION_CHARS = 1200
HEADING_CHARS = 200
_SENTENCE = re.compile(r".+?(?:[.!?…]+[\"'”’)\]]*(?=\s)|[。！？]+[”’」』）)]*|$)", re.S)
_BLOCK_START = re.compile(r"^(#{1,6}\s|[-*+•]\s|\d{1,3}[.)]\s|\||```|~~~)")


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


def _heading_line(headings: tuple[str, ...]) -> str:
    line = " > ".join(headings)
    return line if len(line) <= HEADING_CHARS else f"…{line[1 - HEADING_CHARS :]}"


def sections_split(
    sections: list[Section],
    section_chars: int = SECTION_CHARS,
    target_chars: int = 600,
    overlap: int = 100,
) -> list[str]:
    """Passages of a document: one per section, its heading path as first line ("Shipping >
    How long does delivery take?"), when it fits in `section_chars`; a longer section is cut
    by `passages_split` with the path on every piece. Text without a heading (all of a txt
    or pdf file) is cut by `passages_split` alone; a heading with nothing under it gives no
    passage of its own.
    """
    passages: list[str] = []
    for section in sections:
        if not section.body:
            continue
        if not section.headings:
            passages.extend(passages_split(section.body, target_chars, overlap))
            continue
        heading = _heading_line(section.headings)
        whole = passages_split(section.body, section_chars - len(heading) - 2, overlap=0)
        if len(whole) > 1:
            room = max(target_chars - len(heading) - 2, target_chars // 2)
            whole = passages_split(section.body, room, overlap)
        passages.extend(f"{heading}\n\n{piece}" for piece in whole)
    if not passages:  # only headings: they are the text
        passages = passages_split("\n\n".join(_heading_line(s.headings) for s in sections))
    return passages
