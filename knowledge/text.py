"""Text for search and for the model. Tokens for BM25: jieba for Chinese runs, stemmed
English words without stop words, numbers kept; mixed text (`如何重置 password`) gives both
kinds. The plain text of answers and pages written in HTML."""

import functools
import html
import logging
import re
import threading
import unicodedata
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Literal

import jieba
import snowballstemmer

# CJK ideographs (basic, extension A, compatibility, extensions B+).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
# Apostrophes split words ("what's" -> what, s), and both halves are then stop words.
_TOKEN_RE = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")
CJK_CHAR = re.compile(f"[{_CJK}]")


def text_language(text: str) -> str:
    """ "zh" for a question or message with any Chinese character in it, else "en": the
    language whose thresholds, no-answer reply and evaluation figures it gets."""
    return "zh" if CJK_CHAR.search(text) else "en"


_ENGLISH_STOP_TEXT = """
    a about above after again against all am an and any are as at be because been before being
    below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself
    yourselves s t don want need please hi hello thanks thank"""
ENGLISH_STOP_WORDS = frozenset(_ENGLISH_STOP_TEXT.split())
# Function, question and wish words (想, 需要): they say nothing about an FAQ's topic, and
# in a small FAQ set a match on them alone would outrank the right entry.
_CHINESE_STOP_TEXT = (
    "的 了 吗 呢 吧 啊 呀 嘛 是 在 和 与 及 或 就 都 也 还 又 而 把 被 让 给 我 你 您 他 她 它 "
    "我们 你们 他们 这 那 这个 那个 这些 那些 一个 有 没 要 会 能 可以 请 请问 一下 怎么 "
    "怎么样 怎么办 如何 什么 哪 哪里 为什么 想 想要 需要 用 不能 能不能 是否 可否 能否 谢谢 你好"
)
CHINESE_STOP_WORDS = frozenset(_CHINESE_STOP_TEXT.split())

_jieba_lock = threading.Lock()
_jieba_ready = False
_stemmer = snowballstemmer.stemmer("english")
_stem_lock = threading.Lock()


def _jieba_init() -> None:
    global _jieba_ready
    with _jieba_lock:
        if not _jieba_ready:
            jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict..." on stderr
            jieba.initialize()
            _jieba_ready = True


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    with _stem_lock:  # the Snowball stemmer object keeps state between calls
        return str(_stemmer.stemWord(word))


def _word_tokens(word: str) -> list[str]:
    if word in ENGLISH_STOP_WORDS:
        return []
    if word.isascii() and word.isalpha():
        return [_stem(word)]
    return [word]  # numbers, codes like "a12", other scripts: kept as they are


@functools.lru_cache(maxsize=50_000)  # repeated queries, and the overlaps between passages
def _cjk_tokens(run: str) -> tuple[str, ...]:
    if not _jieba_ready:
        _jieba_init()
    words = jieba.lcut_for_search(run)
    return tuple(t for t in words if t.strip() and t not in CHINESE_STOP_WORDS)


def tokens_stored(text: str) -> str:
    """`tokenize(text)` as stored beside a vector (no token holds whitespace), so that an
    index loads without tokenizing every row again (jieba is most of a cold load)."""
    return " ".join(tokenize(text))


def tokens_loaded(stored: str | None, text: str) -> list[str]:
    return tokenize(text) if stored is None else stored.split()


def tokenize(text: str) -> list[str]:
    """BM25 tokens of `text`, in order (duplicates kept: they are term frequencies)."""
    text = unicodedata.normalize("NFKC", text).lower()
    tokens: list[str] = []
    for match in _TOKEN_RE.finditer(text):
        if match.group("cjk"):
            tokens.extend(_cjk_tokens(match.group("cjk")))
        else:
            tokens.extend(_word_tokens(match.group("word")))
    return tokens


# --- Answers and pages written in HTML ------------------------------------------------------

AnswerFormat = Literal["html", "inline_html", "markdown"]
_BLOCK_TAGS = (
    "p|div|ul|ol|li|table|thead|tbody|tfoot|tr|td|th|h[1-6]|blockquote|pre|hr|section|article"
    "|dl|dt|dd|figure|header|footer|main|aside"
)
_INLINE_TAGS = "br|strong|b|em|i|u|s|a|span|font|small|sup|sub|code|img|script|style|iframe"
_BLOCK_TAG = re.compile(rf"</?(?:{_BLOCK_TAGS})(?:\s[^<>]*)?/?>", re.I)
_HTML_TAG = re.compile(rf"</?(?:{_BLOCK_TAGS}|{_INLINE_TAGS})(?:\s[^<>]*)?/?>", re.I)
_BR_TAG = re.compile(r"<br\s*/?>", re.I)
_CODE = re.compile(r"^(`{3,}|~{3,}).*?^\1|`[^`\n]+`", re.S | re.M)  # fences, `code spans`
_TABLE_ROW = re.compile(r"\s*\|.*\|\s*")
_HIDDEN = re.compile(r"<(script|style|iframe)\b.*?</\1\s*>", re.S | re.I)


def answer_format(answer: str) -> AnswerFormat:
    """How an answer is written: "html" (block tags such as <p> or <ul>: a help-centre
    export), "inline_html" (Markdown or plain text with tags such as <br> or <strong>), or
    "markdown". Tags inside Markdown code do not count."""
    text = _CODE.sub("", answer)
    if _BLOCK_TAG.search(text):
        return "html"
    return "inline_html" if _HTML_TAG.search(text) else "markdown"


def answer_text(answer: str) -> str:
    """The plain readable text of an answer, for the model and for embeddings: HTML becomes
    lines and paragraphs ("- " before list items, entities decoded); Markdown is unchanged."""
    kind = answer_format(answer)
    if kind == "markdown":
        return answer
    if kind == "html":
        return html_blocks_text(html_blocks(answer))
    lines = []
    for line in _HIDDEN.sub("", answer).split("\n"):
        br = " " if _TABLE_ROW.fullmatch(line) else "\n"  # a Markdown table row stays one line
        lines.append(_HTML_TAG.sub("", _BR_TAG.sub(br, line)))
    text = re.sub(r"[ \t\u00a0]+\n", "\n", html.unescape("\n".join(lines)))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


@dataclass(frozen=True)
class HtmlBlock:
    text: str
    heading: int = 0  # 1 to 6 for h1 to h6
    item: bool = False  # a list item, written "- text" ("1. text" in an <ol>)


class _HtmlBlocks(HTMLParser):
    """The visible text of an HTML page or fragment, one block per block element."""

    # <nav>: menus and breadcrumbs, the same on every page of a help centre and no answer.
    SKIP = frozenset({"script", "style", "noscript", "template", "head", "svg", "iframe", "nav"})
    BLOCKS = frozenset(
        {
            "p", "div", "br", "li", "ul", "ol", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5",
            "h6", "tr", "table", "section", "article", "header", "footer", "nav", "aside",
            "main", "blockquote", "pre", "hr", "figure", "figcaption", "form", "details",
            "summary",
        }
    )  # fmt: skip
    HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[HtmlBlock] = []
        self.parts: list[str] = []
        self.lines: list[str] = []  # lines of the current block ended by <br>
        self.skipping = 0
        self.pre = 0
        self.heading = 0
        self.marker = ""  # the list marker of the current block, "" outside list items
        self.lists: list[list[int]] = []  # per open list: [1 if numbered, items so far]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.skipping = 0  # a <head> left open must not hide the page
        elif tag in self.SKIP:
            self.skipping += 1
        if tag == "br":
            self.lines.append("".join(self.parts))
            self.parts = []
            return
        if tag in self.BLOCKS:
            self._block_end()
        if tag in ("td", "th") and "".join(self.parts).strip():
            self.parts.append(" | ")
        elif tag in self.HEADINGS:
            self.heading = int(tag[1])
        elif tag in ("ul", "ol"):
            self.lists.append([int(tag == "ol"), 0])
        elif tag == "li" and self.lists:
            numbered = self.lists[-1]
            numbered[1] += 1
            bullet = f"{numbered[1]}." if numbered[0] else "-"
            self.marker = f"{'  ' * (len(self.lists) - 1)}{bullet} "
        elif tag == "pre":
            self.pre += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in self.BLOCKS and tag != "br":
            self._block_end()
        if tag in self.HEADINGS:
            self.heading = 0
        elif tag == "li":
            self.marker = ""
        elif tag in ("ul", "ol") and self.lists:
            self.lists.pop()
        elif tag == "pre" and self.pre:
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)

    def _block_end(self) -> None:
        lines = [*self.lines, "".join(self.parts)]
        self.lines, self.parts = [], []
        if self.pre:  # code keeps its lines and indentation
            lines = "\n".join(lines).strip("\n").split("\n")
            lines = [line.rstrip() for line in lines]
        else:
            lines = [" ".join(line.split()) for line in lines]
        text = "\n".join(line for line in lines if line.strip())
        if not text:
            return
        if self.marker:
            self.blocks.append(HtmlBlock(self.marker + text, item=True))
            self.marker = ""  # what follows inside the <li> (a nested list...) is not the item
        else:
            self.blocks.append(HtmlBlock(text, heading=self.heading))

    def close(self) -> None:
        super().close()
        self._block_end()


def html_blocks(page: str) -> list[HtmlBlock]:
    """The headings, paragraphs and list items of an HTML page, in order, as plain text."""
    parser = _HtmlBlocks()
    parser.feed(page)
    parser.close()
    return parser.blocks


def html_blocks_text(blocks: list[HtmlBlock]) -> str:
    """Blocks as text: a blank line between paragraphs, list items on consecutive lines."""
    parts: list[str] = []
    for i, block in enumerate(blocks):
        if i:
            parts.append("\n" if block.item and blocks[i - 1].item else "\n\n")
        parts.append(block.text)
    return "".join(parts)
