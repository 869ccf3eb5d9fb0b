"""Tokens for BM25: jieba for Chinese runs, stemmed English words without stop words,
numbers kept. Mixed text (`如何重置 password`) gives both kinds."""

import functools
import logging
import re
import threading
import unicodedata

import jieba
import snowballstemmer

# CJK ideographs (basic, extension A, compatibility, extensions B+).
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
# Apostrophes split words ("what's" -> what, s), and both halves are then stop words.
_TOKEN_RE = re.compile(rf"(?P<cjk>[{_CJK}]+)|(?P<word>[^\W_{_CJK}]+)")

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
