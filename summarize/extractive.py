"""Extractive summaries: the most central sentences of a text, in their own order.

TextRank over sentence similarity (TF-IDF cosine of the BM25 tokens, jieba for Chinese),
ranked by PageRank. No model: a mode of its own, the fallback when the model fails, and
the running summary of a chat's oldest turns. Numpy only (the web process uses it too).
"""

import math
import re
from collections import Counter

import numpy as np

from knowledge.text import tokenize

# A sentence ends at . ! ? (then a space) or at a Chinese full stop, exclamation, question
# mark or semicolon; a line break always ends one.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[A-Z0-9\u3400-\u9fff])|(?<=[。！？；!?])|\n+")
DAMPING = 0.85
MIN_CHARS = 2
MAX_RANKED = 1500  # sentences ranked together (the similarity matrix is n x n)
REDUNDANCY = 0.7  # how much similarity to a chosen sentence costs (relevance is 0-1)
FACT_BONUS = 0.15
_FACT = re.compile(r"\d")


def sentences_split(text: str) -> list[str]:
    """Sentences of English and Chinese text (one per line for dialogue turns)."""
    return [s.strip() for s in _SENTENCE_END.split(text) if len(s.strip()) >= MIN_CHARS]


def _similarities(sentences: list[str]) -> np.ndarray:
    """Cosine similarity of the sentences' TF-IDF vectors (BM25 tokens), diagonal 0."""
    n = len(sentences)
    bags = [Counter(tokenize(s)) for s in sentences]
    document_frequency: Counter[str] = Counter()
    for bag in bags:
        document_frequency.update(bag.keys())
    vocabulary = {term: i for i, term in enumerate(document_frequency)}
    matrix = np.zeros((n, max(1, len(vocabulary))))
    for row, bag in enumerate(bags):
        for term, count in bag.items():
            idf = math.log((1 + n) / (1 + document_frequency[term])) + 1
            matrix[row, vocabulary[term]] = (1 + math.log(count)) * idf
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
    weights = matrix @ matrix.T
    np.fill_diagonal(weights, 0.0)
    return weights


def sentence_ranks(sentences: list[str], weights: np.ndarray | None = None) -> np.ndarray:
    """PageRank centrality of each sentence in the similarity graph (sums to 1)."""
    n = len(sentences)
    if n == 0:
        return np.zeros(0)
    weights = _similarities(sentences) if weights is None else weights
    out = weights.sum(axis=1, keepdims=True)
    # A sentence that shares no word with any other links to all alike.
    transition = np.divide(weights, out, out=np.full_like(weights, 1.0 / n), where=out > 0)
    rank = np.full(n, 1.0 / n)
    for _ in range(100):
        updated = (1 - DAMPING) / n + DAMPING * transition.T @ rank
        if np.abs(updated - rank).sum() < 1e-8:
            return updated
        rank = updated
    return rank


def extractive_summary(text: str, *, max_sentences: int = 3, max_chars: int = 0) -> str:
    """The `max_sentences` most central sentences, in text order, within `max_chars`
    (0: no limit). Short texts come back whole."""
    sentences = sentences_split(text)
    return _pick(sentences, max_sentences, max_chars, " " if not _cjk(text) else "")


def dialogue_summary(turns: list[str], *, max_sentences: int = 4, max_chars: int = 0) -> str:
    """The most central turns of a dialogue ("Speaker: text" each), one a line."""
    turns = [t.strip() for t in turns if t.strip()]
    return _pick(turns, max_sentences, max_chars, "\n")


def lead_summary(text: str, n: int = 3) -> str:
    """The first `n` sentences: the baseline summaries are compared with."""
    sentences = sentences_split(text)
    return ("" if _cjk(text) else " ").join(sentences[:n])


def _pick(sentences: list[str], max_sentences: int, max_chars: int, joiner: str) -> str:
    """The best sentences by centrality, each next one less the similarity to those chosen
    (maximal marginal relevance: a point made twice is not taken twice), plus a bonus for
    the facts a summary must keep (numbers, codes)."""
    if not sentences:
        return ""
    if len(sentences) > MAX_RANKED:  # long inputs: the best of each block, then of those
        blocks = [sentences[i : i + MAX_RANKED] for i in range(0, len(sentences), MAX_RANKED)]
        best = [_pick(block, max_sentences, 0, "\n") for block in blocks]
        sentences = [line for text in best for line in text.split("\n")]
    weights = _similarities(sentences)
    ranks = sentence_ranks(sentences, weights)
    relevance = ranks / ranks.max() + np.array(
        [FACT_BONUS * bool(_FACT.search(s)) for s in sentences]
    )
    chosen: list[int] = []
    used = 0
    candidates = set(range(len(sentences)))
    while candidates and len(chosen) < max_sentences:
        redundancy = weights[:, chosen].max(axis=1) if chosen else np.zeros(len(sentences))
        score = relevance - REDUNDANCY * redundancy
        i = max(candidates, key=lambda c: (score[c], -c))
        candidates.discard(i)
        length = len(sentences[i]) + len(joiner)
        if max_chars and used + length > max_chars:
            if not chosen:  # the best sentence alone is too long: cut it
                return sentences[i][:max_chars]
            continue
        chosen.append(i)
        used += length
    return joiner.join(sentences[i] for i in sorted(chosen))


def language_of(text: str) -> str:
    """ "zh" when a third or more of the text's first letters are Chinese, else "en"."""
    return "zh" if _cjk(text) else "en"


def _cjk(text: str) -> bool:
    letters = [ch for ch in text[:2000] if not ch.isspace()]
    return bool(letters) and sum("\u3400" <= ch <= "\u9fff" for ch in letters) * 3 > len(letters)
