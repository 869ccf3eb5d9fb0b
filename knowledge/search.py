"""Knowledge search: the one interface the chat, the API and the evaluation code use.

Hybrid retrieval over a site's FAQs and passages: dense cosine (USE embeddings) and BM25,
fused by reciprocal rank. The route says what the chat should do with the result.
"""

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from django.conf import settings

from knowledge.embeddings import embed
from knowledge.index import (
    FaqMeta,
    PassageMeta,
    Segment,
    SegmentView,
    SiteIndex,
    site_index,
    version_get,
)
from knowledge.models import FaqEntry, KnowledgeSettings, Passage
from knowledge.text import tokenize
from sites.models import Site

Route = Literal["fast_path", "grounded", "no_answer"]

RRF_K = 60
MAX_QUERY_CHARS = 1000
MIN_CANDIDATES = 20  # each ranking contributes at least this many units to the fusion
_DEAD = -2.0  # below any cosine: what SegmentView.cosines gives dead rows

CJK_CHAR = re.compile(r"[\u3400-\u9fff]")


@dataclass(frozen=True)
class FaqHit:
    faq_id: int  # FaqEntry.pk
    external_id: str
    question: str
    matched: str  # the phrasing (question or alternative) closest to the query
    answer: str
    score: float  # fused rank score: ranking only, not comparable across queries
    similarity: float  # best cosine over the FAQ's phrasings


@dataclass(frozen=True)
class PassageHit:
    passage_id: int
    document_id: int
    document_title: str
    text: str
    score: float
    similarity: float


@dataclass(frozen=True)
class SearchResult:
    faqs: list[FaqHit]
    passages: list[PassageHit]
    route: Route
    confidence: float
    latency_ms: float

    def as_json(self) -> dict[str, Any]:
        return {
            "results": [
                {"faq_id": h.faq_id, "question": h.question, "score": round(h.score, 6)}
                | {"similarity": round(h.similarity, 4)}
                for h in self.faqs
            ],
            "passages": [
                {"passage_id": h.passage_id, "document_id": h.document_id}
                | {"title": h.document_title, "text": h.text, "score": round(h.score, 6)}
                | {"similarity": round(h.similarity, 4)}
                for h in self.passages
            ],
            "route": self.route,
            "confidence": round(self.confidence, 4),
        }


def knowledge_search(*, site: Site, query: str, k: int = 5) -> SearchResult:
    """The k best FAQs and k best passages of the site for `query`, and the route to take."""
    started = time.perf_counter()
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query:
        return SearchResult([], [], "no_answer", 0.0, 0.0)
    index = site_index(site.id)
    return _search(index, site, query, embed([query])[0], k, started)


def knowledge_warm(site_ids: Iterable[int] = ()) -> None:
    """Load the encoder, jieba's dictionary and these sites' indexes now (at process start),
    so that no user's first search waits for them (about 4 s, plus each index)."""
    embed(["warm up"])
    tokenize("预热 warm up")
    for site_id in site_ids:
        site_index(site_id)


def knowledge_search_vector(
    *, site: Site, query: str, vector: np.ndarray, k: int = 5
) -> SearchResult:
    """`knowledge_search` with the query already embedded (batch evaluation, benchmarks)."""
    started = time.perf_counter()
    return _search(site_index(site.id), site, query.strip(), vector, k, started)


def _search(
    index: SiteIndex, site: Site, query: str, vector: np.ndarray, k: int, started: float
) -> SearchResult:
    tokens = tokenize(query)
    faqs = [_faq_hit(*hit) for hit in _ranked(index.faqs, vector, tokens, k)]
    passages = [_passage_hit(*hit) for hit in _ranked(index.passages, vector, tokens, k)]
    fast_path, no_answer = site_thresholds(site, query)
    route, confidence = route_decide(
        faqs=faqs, passages=passages, fast_path=fast_path, no_answer=no_answer
    )
    latency_ms = (time.perf_counter() - started) * 1000
    return SearchResult(faqs, passages, route, confidence, latency_ms)


def route_decide(
    *, faqs: list[FaqHit], passages: list[PassageHit], fast_path: float, no_answer: float
) -> tuple[Route, float]:
    """(route, confidence): answer with the top FAQ verbatim, ground an answer, or decline."""
    if faqs and faqs[0].similarity >= fast_path:
        return "fast_path", faqs[0].similarity
    best = max([h.similarity for h in faqs] + [h.similarity for h in passages], default=0.0)
    return ("grounded" if best >= no_answer else "no_answer"), best


def site_thresholds(site: Site, query: str = "") -> tuple[float, float]:
    """(fast_path, no_answer) similarity thresholds: the site's overrides, else the defaults.

    The encoder's similarities run higher between Chinese sentences than between English
    ones, so a Chinese query has its own calibrated no-answer default."""
    overrides = (
        KnowledgeSettings.objects.filter(site_id=site.id)
        .values_list("fast_path_threshold", "no_answer_threshold")
        .first()
    )
    fast_path, no_answer = overrides or (None, None)
    return (
        settings.KNOWLEDGE_FAST_PATH_THRESHOLD if fast_path is None else fast_path,
        _no_answer_default(query) if no_answer is None else no_answer,
    )


def _no_answer_default(query: str) -> float:
    if CJK_CHAR.search(query):
        return float(settings.KNOWLEDGE_NO_ANSWER_THRESHOLD_ZH)
    return float(settings.KNOWLEDGE_NO_ANSWER_THRESHOLD)


_available: dict[int, tuple[int, bool]] = {}


def knowledge_available(site: Site) -> bool:
    """Whether the site has any enabled FAQ or embedded passage (cached per knowledge version)."""
    version = version_get(site.id)
    cached = _available.get(site.id)
    if cached is not None and cached[0] == version:
        return cached[1]
    available = (
        FaqEntry.objects.filter(site_id=site.id, enabled=True).exists()
        or Passage.objects.filter(site_id=site.id, vector__isnull=False).exists()
    )
    _available[site.id] = (version, available)
    return available


# --- Ranking ---------------------------------------------------------------------------------

Ranked = tuple[Any, float, float, str]  # (meta, fused score, similarity, matched row text)


def _ranked(segment: Segment, vector: np.ndarray, tokens: list[str], k: int) -> list[Ranked]:
    """The k best units of a segment by reciprocal-rank fusion of dense and BM25 rankings."""
    view = segment.view
    if view.n == 0 or k <= 0:
        return []
    similarities = view.cosines(vector)
    limit = max(2 * k, MIN_CANDIDATES)
    dense = _top_units(view, similarities, limit, floor=_DEAD)
    lexical = _top_units(view, segment.bm25_scores(view, tokens), limit, floor=0.0, sparse=True)
    fused: dict[int, float] = {}
    for ranking in (dense, lexical):
        for rank, unit in enumerate(ranking):
            fused[unit] = fused.get(unit, 0.0) + 1.0 / (RRF_K + rank + 1)
    ranked: list[Ranked] = []
    for unit in sorted(fused, key=lambda u: -fused[u]):
        meta, rows = segment.unit_meta.get(unit), segment.unit_rows.get(unit)
        if meta is None or rows is None or rows.start >= view.n:
            continue  # removed or replaced while this search ran
        best = rows.start + int(np.argmax(similarities[rows.start : min(rows.stop, view.n)]))
        ranked.append((meta, fused[unit], float(similarities[best]), segment.row_texts[best]))
        if len(ranked) == k:
            break
    return ranked


def _top_units(
    view: SegmentView, row_scores: np.ndarray, limit: int, floor: float, sparse: bool = False
) -> list[int]:
    """Units of the best-scoring rows, best first, each once; rows at or below floor skipped.

    `sparse`: most rows score 0 (BM25), so only the others are ranked."""
    candidates = np.flatnonzero(row_scores) if sparse else None
    scores = row_scores if candidates is None else row_scores[candidates]
    take = min(len(scores), limit * 4)  # an FAQ has a few phrasings: enough rows for `limit` units
    if take == 0:
        return []
    top = np.argpartition(-scores, take - 1)[:take] if take < len(scores) else np.arange(take)
    top = top[np.argsort(-scores[top], kind="stable")]
    rows = top if candidates is None else candidates[top]
    units: list[int] = []
    seen: set[int] = set()
    for row in rows.tolist():
        if row_scores[row] <= floor:
            break
        unit = int(view.row_unit[row])
        if unit not in seen:
            seen.add(unit)
            units.append(unit)
            if len(units) == limit:
                break
    return units


def _faq_hit(meta: FaqMeta, score: float, similarity: float, matched: str) -> FaqHit:
    return FaqHit(
        meta.faq_id, meta.external_id, meta.question, matched, meta.answer, score, similarity
    )


def _passage_hit(meta: PassageMeta, score: float, similarity: float, _: str) -> PassageHit:
    return PassageHit(
        meta.passage_id, meta.document_id, meta.document_title, meta.text, score, similarity
    )
