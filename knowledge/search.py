"""Knowledge search: the one interface the chat, the API and the evaluation code use.

Hybrid retrieval over a site's FAQs and passages. A unit (an FAQ with its phrasings, a
passage) scores a weighted sum of three signals: the cosine of its closest phrasing, the
cosine with the mean of its phrasings (an FAQ's phrasings together describe the question
better than any one), and BM25 relative to the query's best BM25 score. The weights were
chosen on the public evaluation sets with `manage.py evaluate faq` (see README): the
centroid lifted CLINC150's hit@1 from 0.80 (closest phrasing alone) to 0.85, and BM25 adds
the exact words that matter for long questions (StackFAQ 0.77 -> 0.80); reciprocal-rank
fusion, which throws the scores away, did worse on every set.

The route says what the chat should do with the result.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

import numpy as np
from django.conf import settings

from knowledge.embeddings import embed
from knowledge.index import SiteIndex, site_index, version_get
from knowledge.models import FaqEntry, KnowledgeSettings, Passage
from knowledge.segment import FaqMeta, PassageMeta, Segment, SegmentView
from knowledge.text import text_language, tokenize
from sites.models import Site

Route = Literal["fast_path", "grounded", "no_answer"]

BEST_WEIGHT = 0.4  # cosine of the unit's closest phrasing
CENTROID_WEIGHT = 0.6  # cosine with the mean of its phrasings
LEXICAL_WEIGHT = 0.1  # its BM25 score over the query's best one
# An FAQ's best answer piece, scored alike (BM25 weighing ANSWER_LEXICAL_WEIGHT there), adds
# this much of its score: real help centres are asked about facts inside the answers ("how
# quick is express?"). On the help-centre sets hit@1 rose 0.607 -> 0.732 (English) and
# 0.341 -> 0.524 (Chinese); StackFAQ, whose queries paraphrase its questions, fell 0.802 ->
# 0.762 (README; the weights were chosen on these same sets).
ANSWER_WEIGHT = 0.5
ANSWER_LEXICAL_WEIGHT = 0.3  # BM25's share within an answer piece's score
CROWD_WEIGHT = 0.5  # see faq_confidence
CONFIDENCE_DEPTH = 5  # FAQs looked at for the confidence, whatever k is
MAX_QUERY_CHARS = 1000
MIN_CANDIDATES = 20  # each ranking (dense, BM25) contributes at least this many candidates
_DEAD = -2.0  # below any cosine: what SegmentView.cosines gives dead rows


@dataclass(frozen=True)
class FaqHit:
    faq_id: int  # FaqEntry.pk
    external_id: str
    question: str
    matched: str  # the phrasing (question or alternative) closest to the query
    answer: str
    score: float  # the ranking score (module docstring)
    similarity: float  # best cosine over the FAQ's phrasings
    agreement: float = 1.0  # token_agreement of the query with `matched`
    piece: str = ""  # the piece of the answer closest to the query ("" if none scored)
    # The score without the site's query adapter (None: the same as `score`). The no-answer
    # floor was calibrated on the encoder's own scores and judges these: the adapter ranks,
    # it does not make retrieval decline more (it moved HWU64's in-scope queries declined
    # from 43 to 112 of 886 when the floor judged the adapted scores).
    plain_score: float | None = None


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
    thresholds: "Thresholds"  # those the route was decided with
    faq_confidence: float = 0.0

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
        return SearchResult([], [], "no_answer", 0.0, 0.0, site_thresholds(site, query))
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
    depth = max(k, CONFIDENCE_DEPTH)
    pieces = _answer_pieces(index, vector, tokens, depth)
    bonus = {faq_id: ANSWER_WEIGHT * score for faq_id, (score, _) in pieces.items()}
    faqs = [
        _faq_hit(*hit, tokens, pieces)
        for hit in _ranked(
            index.faqs, index.question_vector(vector), tokens, depth, bonus=bonus, raw=vector
        )
    ]
    passages = [_passage_hit(*hit) for hit in _ranked(index.passages, vector, tokens, k)]
    limits = site_thresholds(site, query)
    route, confidence = route_decide(faqs=faqs, passages=passages, thresholds=limits)
    latency_ms = (time.perf_counter() - started) * 1000
    return SearchResult(
        faqs[:k], passages, route, confidence, latency_ms, limits, faq_confidence(faqs)
    )


class Thresholds(NamedTuple):
    fast_path: float  # the top FAQ's best phrasing cosine, for its answer verbatim
    no_answer: float  # faq_confidence, below which the FAQs do not answer the question
    passage: float  # the best passage's cosine, below which the documents do not
    # token_agreement the fast path needs too: Chinese questions that look alike and differ
    # in one word (花呗 / 借呗, 坏了 / 丢了) sit above any cosine threshold.
    agreement: float = 0.0
    # fast_path_margin the fast path needs too: when another FAQ is nearly as close, the
    # top one is not certain (two entries asking the same thing, or a question between two).
    margin: float = 0.0


def token_agreement(query_tokens: list[str], phrasing: str) -> float:
    """Jaccard overlap of the query's BM25 tokens with a phrasing's (1.0: the same words)."""
    mine, theirs = set(query_tokens), set(tokenize(phrasing))
    if not mine and not theirs:
        return 1.0
    return len(mine & theirs) / len(mine | theirs)


def faq_confidence(faqs: list[FaqHit]) -> float:
    """How surely the top FAQ answers the question: its score less half the mean score of the
    next four. A question none of the FAQs answers tends to sit amid many about as close
    (a crowded neighbourhood); at equal out-of-scope recall this answered more in-scope
    questions right than the top score alone on every evaluation set."""
    scores = sorted(
        (hit.score if hit.plain_score is None else hit.plain_score)
        for hit in faqs[:CONFIDENCE_DEPTH]
    )[::-1]
    if not scores:
        return 0.0
    rest = scores[1:]
    return scores[0] - (CROWD_WEIGHT * sum(rest) / len(rest) if rest else 0.0)


def fast_path_margin(faqs: list[FaqHit]) -> float:
    """How far ahead the top FAQ's closest phrasing is: the share of the runner-up's cosine
    distance from the query (1 - its similarity) that the top one closes. 1.0 for an exact
    match whatever the runner-up, about 0 for two FAQs as close, negative when a
    lower-ranked FAQ is closer. The runner-up is the closest of the other FAQs ranked.

    Relative, not a plain difference: an exact question of a site whose FAQs look alike has
    a runner-up at 0.85-0.88 (花呗分期怎么还款 / 花呗账单怎么分期), and a difference large
    enough to stop near ties held those certain answers back."""
    if not faqs:
        return 0.0
    top = faqs[0].similarity
    runner_up = max((hit.similarity for hit in faqs[1:]), default=0.0)
    return (top - runner_up) / max(1.0 - runner_up, 1e-6)


def fast_path_doubts(faqs: list[FaqHit], thresholds: Thresholds) -> list[str]:
    """Why the top FAQ's answer may not be sent verbatim, one phrase per unmet threshold
    (none: the fast path). `faqs` as for route_decide."""
    if not faqs:
        return ["no FAQ matches"]
    top, margin = faqs[0], fast_path_margin(faqs)
    checks = (
        ("the closest phrasing's similarity", top.similarity, thresholds.fast_path),
        ("its word agreement", top.agreement, thresholds.agreement),
        ("its margin over the runner-up FAQ", margin, thresholds.margin),
    )
    return [f"{name} {value:.3f} < {limit:.3f}" for name, value, limit in checks if value < limit]


def route_decide(
    *, faqs: list[FaqHit], passages: list[PassageHit], thresholds: Thresholds
) -> tuple[Route, float]:
    """(route, confidence): answer with the top FAQ verbatim, ground an answer, or decline.

    `faqs` are best first, at least CONFIDENCE_DEPTH of them when the site has that many."""
    if faqs and not fast_path_doubts(faqs, thresholds):
        return "fast_path", faqs[0].similarity
    confidence = faq_confidence(faqs)
    if faqs and confidence >= thresholds.no_answer:
        return "grounded", confidence
    if passages and passages[0].similarity >= thresholds.passage:
        return "grounded", passages[0].similarity
    return "no_answer", confidence if faqs else max((p.similarity for p in passages), default=0.0)


def route_reason(result: SearchResult) -> str:
    """Why the route was chosen, in the thresholds' own terms (the admin's Try it, which asks
    for enough FAQs to see the runner-up)."""
    limits = result.thresholds
    top = result.faqs[0] if result.faqs else None
    passage = result.passages[0].similarity if result.passages else 0.0
    if result.route == "fast_path" and top is not None:
        return (
            f"the closest phrasing's similarity {top.similarity:.3f} >= {limits.fast_path:.3f}, "
            f"its word agreement {top.agreement:.3f} >= {limits.agreement:.3f} and its margin "
            f"over the runner-up FAQ {fast_path_margin(result.faqs):.3f} >= {limits.margin:.3f}"
        )
    floors = (
        f"FAQ confidence {result.faq_confidence:.3f} (floor {limits.no_answer:.2f}), "
        f"best passage {passage:.3f} (floor {limits.passage:.2f})"
    )
    not_verbatim = ""  # what kept the top FAQ's answer from going out as is
    if top is not None:
        doubts = " and ".join(fast_path_doubts(result.faqs, limits))
        not_verbatim = f"not answered verbatim, as {doubts}; "
    if result.route == "no_answer":
        return f"{not_verbatim}nothing is close enough: {floors}"
    return (
        f"{not_verbatim}{floors}: the model answers from the sources unless its probability "
        "that they do not answer reaches the check threshold (scored in the worker, kept with "
        "the answer)"
    )


def default_thresholds(query: str = "") -> Thresholds:
    """The routing thresholds of the settings for `query`'s language.

    The encoder's similarities run higher between Chinese sentences than between English
    ones, so a Chinese query has its own calibrated defaults."""
    if text_language(query) == "zh":
        return Thresholds(
            fast_path=settings.KNOWLEDGE_FAST_PATH_THRESHOLD_ZH,
            no_answer=settings.KNOWLEDGE_NO_ANSWER_THRESHOLD_ZH,
            passage=settings.KNOWLEDGE_PASSAGE_THRESHOLD_ZH,
            agreement=settings.KNOWLEDGE_FAST_PATH_AGREEMENT_ZH,
            margin=settings.KNOWLEDGE_FAST_PATH_MARGIN_ZH,
        )
    return Thresholds(
        fast_path=settings.KNOWLEDGE_FAST_PATH_THRESHOLD,
        no_answer=settings.KNOWLEDGE_NO_ANSWER_THRESHOLD,
        passage=settings.KNOWLEDGE_PASSAGE_THRESHOLD,
        agreement=settings.KNOWLEDGE_FAST_PATH_AGREEMENT,
        margin=settings.KNOWLEDGE_FAST_PATH_MARGIN,
    )


def site_thresholds(site: Site, query: str = "") -> Thresholds:
    """The routing thresholds: the site's overrides, else the defaults for the query."""
    defaults = default_thresholds(query)
    overrides = (
        KnowledgeSettings.objects.filter(site_id=site.id)
        .values_list("fast_path_threshold", "no_answer_threshold")
        .first()
    )
    fast_path, no_answer = overrides or (None, None)
    return defaults._replace(
        fast_path=defaults.fast_path if fast_path is None else fast_path,
        no_answer=defaults.no_answer if no_answer is None else no_answer,
    )


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

# (meta, score, similarity, matched row text, the score the encoder's own vector gives)
Ranked = tuple[Any, float, float, str, float]


def _answer_pieces(
    index: SiteIndex, vector: np.ndarray, tokens: list[str], depth: int
) -> dict[int, tuple[float, str]]:
    """Per FAQ id: the score and text of its best answer piece, among the best pieces."""
    best: dict[int, tuple[float, str]] = {}
    ranked = _ranked(index.answers, vector, tokens, 4 * depth, lexical_weight=ANSWER_LEXICAL_WEIGHT)
    for meta, score, _, text, _ in ranked:
        faq_id = meta.faq_id
        if faq_id not in best or score > best[faq_id][0]:
            best[faq_id] = (score, text)
    return best


def _ranked(
    segment: Segment,
    vector: np.ndarray,
    tokens: list[str],
    k: int,
    bonus: dict[int, float] | None = None,
    lexical_weight: float = LEXICAL_WEIGHT,
    raw: np.ndarray | None = None,
) -> list[Ranked]:
    """The k best units of a segment by the weighted score of the module docstring, plus
    each unit's `bonus` by unit id (an FAQ's answer share; those units are candidates too).
    With `raw` (the encoder's own vector when `vector` went through the site's adapter),
    each unit's similarity and matched row are the raw vector's: the fast path's
    thresholds were calibrated on the encoder's cosines.

    The candidates are the best units by closest-phrasing cosine and by BM25; each unit's
    rows are contiguous, so its signals are reductions over its slice of the row scores."""
    view = segment.view
    if view.n == 0 or k <= 0:
        return []
    similarities = view.dense_scores(vector)
    lexical = segment.bm25_scores(view, tokens)
    limit = max(2 * k, MIN_CANDIDATES)
    candidates = dict.fromkeys(_top_units(view, similarities, limit, floor=_DEAD))
    candidates.update(dict.fromkeys(_top_units(view, lexical, limit, floor=0.0, sparse=True)))
    candidates.update(dict.fromkeys(bonus or {}))
    metas, units, starts, stops, norms = [], [], [], [], []
    for unit in candidates:
        meta, rows = segment.unit_meta.get(unit), segment.unit_rows.get(unit)
        if meta is None or rows is None or rows.stop > view.n:
            continue  # removed or replaced while this search ran
        metas.append(meta)
        units.append(unit)
        starts.append(rows.start)
        stops.append(rows.stop)
        norms.append(segment.unit_norm.get(unit, 0.0))
    if not metas:
        return []
    first, lengths = np.array(starts), np.array(stops) - np.array(starts)
    offsets = np.cumsum(lengths) - lengths
    rows_of = np.arange(lengths.sum()) - np.repeat(offsets, lengths) + np.repeat(first, lengths)
    # A shortlisted segment scored only its closest rows: a unit that BM25 or a bonus brought
    # in is scored exactly here.
    unit_similarities = (
        np.einsum("ij,j->i", view.matrix[rows_of], vector)
        if view.shortlisted
        else similarities[rows_of]
    )
    closest = np.maximum.reduceat(unit_similarities, offsets)
    norm = np.array(norms)
    centroid = np.divide(
        np.add.reduceat(unit_similarities, offsets),
        norm,
        out=closest.astype(np.float64),
        where=norm > 1e-6,
    )
    top_lexical = float(lexical.max())
    words = np.maximum.reduceat(lexical[rows_of], offsets) / top_lexical if top_lexical else 0.0
    scores = BEST_WEIGHT * closest + CENTROID_WEIGHT * centroid + lexical_weight * words
    if bonus:
        scores = scores + np.array([bonus.get(unit, 0.0) for unit in units])
    ranked: list[Ranked] = []
    for i in np.argsort(-scores, kind="stable")[:k].tolist():
        score = plain = float(scores[i])
        if raw is None:
            own = unit_similarities[offsets[i] : offsets[i] + lengths[i]]
            best = starts[i] + int(np.argmax(own))
            similarity = float(closest[i])
        else:
            own = view.matrix[starts[i] : stops[i]] @ raw
            best, similarity = starts[i] + int(np.argmax(own)), float(own.max())
            mean = float(own.sum()) / norms[i] if norms[i] > 1e-6 else similarity
            dense = BEST_WEIGHT * (closest[i] - similarity) + CENTROID_WEIGHT * (centroid[i] - mean)
            plain = score - float(dense)
        ranked.append((metas[i], score, similarity, segment.row_texts[best], plain))
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


def _faq_hit(
    meta: FaqMeta,
    score: float,
    similarity: float,
    matched: str,
    plain: float,
    query_tokens: list[str],
    pieces: dict[int, tuple[float, str]],
) -> FaqHit:
    agreement = token_agreement(query_tokens, matched)
    piece = pieces.get(meta.faq_id, (0.0, ""))[1]
    return FaqHit(
        meta.faq_id, meta.external_id, meta.question, matched, meta.answer, score, similarity,
        agreement, piece, plain,
    )  # fmt: skip


def _passage_hit(
    meta: PassageMeta, score: float, similarity: float, _: str, __: float
) -> PassageHit:
    return PassageHit(
        meta.passage_id, meta.document_id, meta.document_title, meta.text, score, similarity
    )
