"""`evaluate faq`: a converted dataset run through the chat's own retrieval and routing.

The FAQs go into a scratch site made for the run (deleted afterwards), are embedded
synchronously, and every query goes through `knowledge_search`, the function the chat
calls. A plain BM25 over the same phrasings, tokenized by the same `tokenize`, runs beside
it as the baseline.
"""

import contextlib
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from django.db import transaction

from chat.models import Conversation
from evaluation.convert import jsonl_read, ordered_sample, queries_part, seeded
from evaluation.metrics import Certainty, QueryOutcome, run_figures
from evaluation.models import EvaluationReport
from knowledge.index import index_forget
from knowledge.models import FaqEntry, KnowledgeSettings
from knowledge.search import (
    FaqHit,
    default_thresholds,
    fast_path_doubts,
    knowledge_search,
    route_decide,
    site_thresholds,
)
from knowledge.search import Thresholds as RouteThresholds
from knowledge.services import faq_embed, faq_import
from knowledge.text import text_language, tokenize
from sites.models import Site
from webapp.redis import redis_key, redis_sync

TOP_K = 5


class DatasetError(Exception):
    """The dataset folder is missing a file or holds a row that cannot be used."""


@dataclass
class Dataset:
    name: str
    faqs: list[dict[str, Any]]
    queries: list[dict[str, Any]]


@dataclass(frozen=True)
class Thresholds:
    fast_path: float | None = None
    no_answer: float | None = None


@dataclass
class FaqRun:
    dataset: Dataset
    outcomes: list[QueryOutcome]
    figures: dict[str, Any]
    params: dict[str, Any]
    report: EvaluationReport | None = None


def dataset_load(path: Path) -> Dataset:
    """Read `faqs.jsonl` and `queries.jsonl`; every query's faq_id must name an FAQ or be null."""
    try:
        faqs = list(jsonl_read(path / "faqs.jsonl"))
        queries = list(jsonl_read(path / "queries.jsonl"))
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {exc.filename}") from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"not JSON Lines: {exc}") from exc
    ids = set()
    for n, faq in enumerate(faqs, start=1):
        if not isinstance(faq.get("faq_id"), str | int) or not faq.get("question"):
            raise DatasetError(f"faqs.jsonl line {n}: needs a faq_id and a question")
        faq["faq_id"] = str(faq["faq_id"])
        ids.add(faq["faq_id"])
    for n, query in enumerate(queries, start=1):
        faq_id = query.get("faq_id")
        query["faq_id"] = None if faq_id is None else str(faq_id)
        if not isinstance(query.get("query"), str) or not query["query"].strip():
            raise DatasetError(f"queries.jsonl line {n}: needs a query")
        if query["faq_id"] is not None and query["faq_id"] not in ids:
            raise DatasetError(f"queries.jsonl line {n}: no FAQ {faq_id!r}")
    return Dataset(name=path.resolve().name, faqs=faqs, queries=queries)


@contextlib.contextmanager
def scratch_site(thresholds: Thresholds) -> Iterator[Site]:
    """A site for one run, with its knowledge; deleted with everything in it afterwards."""
    slug = f"evaluation-{uuid.uuid4().hex[:12]}"
    site = Site.objects.create(slug=slug, name=f"Evaluation scratch {slug}")
    if thresholds.fast_path is not None or thresholds.no_answer is not None:
        KnowledgeSettings.objects.create(
            site=site,
            fast_path_threshold=thresholds.fast_path,
            no_answer_threshold=thresholds.no_answer,
        )
    try:
        yield site
    finally:
        with transaction.atomic():
            Conversation.objects.filter(site=site).delete()  # conversations protect their site
            site_id = site.id
            site.delete()
        index_forget(site_id)
        redis_sync().delete(
            redis_key("knowledge", "version", site_id), redis_key("knowledge", "log", site_id)
        )


def faqs_load(site: Site, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Import the FAQs into the site and embed them now; the import's figures."""
    report = faq_import(site=site, rows=rows, schedule_embedding=False)
    if report.errors:
        first = report.errors[0]
        raise DatasetError(
            f"{len(report.errors)} FAQ rows refused; row {first.row}: {first.message}"
        )
    started = time.perf_counter()
    vectors = faq_embed(report.embed_ids)
    return {
        "faqs": report.created + report.updated + report.unchanged,
        "vectors": vectors,
        "embed_seconds": round(time.perf_counter() - started, 2),
    }


class Bm25Baseline:
    """BM25 over every phrasing of the site's FAQs; an FAQ scores its best phrasing."""

    def __init__(self, site: Site) -> None:
        self.owners: list[str] = []
        corpus: list[list[str]] = []
        for faq in FaqEntry.objects.filter(site=site, enabled=True):
            for phrasing in faq.phrasings():
                self.owners.append(faq.external_id)
                corpus.append(tokenize(phrasing) or [""])
        self.faq_ids = sorted(set(self.owners))
        column_of = {faq_id: i for i, faq_id in enumerate(self.faq_ids)}
        self.column = np.array([column_of[o] for o in self.owners], dtype=np.int64)
        self.index = bm25s.BM25()
        self.index.index(corpus, show_progress=False)

    def rank(self, query: str, k: int) -> tuple[list[str], list[float], float]:
        """The k best FAQ ids sharing a term with the query, their scores, and the time in ms."""
        started = time.perf_counter()
        tokens = tokenize(query)
        phrasing_scores = self.index.get_scores(tokens) if tokens else np.zeros(len(self.owners))
        faq_scores = np.zeros(len(self.faq_ids))
        np.maximum.at(faq_scores, self.column, phrasing_scores)
        best = [i for i in np.argsort(-faq_scores, kind="stable")[:k] if faq_scores[i] > 0]
        elapsed = (time.perf_counter() - started) * 1000
        return [self.faq_ids[i] for i in best], [float(faq_scores[i]) for i in best], elapsed


def query_run(site: Site, query: dict[str, Any], baseline: Bm25Baseline) -> QueryOutcome:
    started = time.perf_counter()
    result = knowledge_search(site=site, query=query["query"], k=TOP_K)
    latency_ms = (time.perf_counter() - started) * 1000
    baseline_ranked, baseline_scores, baseline_ms = baseline.rank(query["query"], TOP_K)
    return QueryOutcome(
        query=query["query"],
        expected=query["faq_id"],
        ranked=[hit.external_id for hit in result.faqs],
        scores=[float(hit.score) for hit in result.faqs],
        similarities=[float(hit.similarity) for hit in result.faqs],
        agreements=[float(hit.agreement) for hit in result.faqs],
        route=result.route,
        confidence=float(result.confidence),
        latency_ms=latency_ms,
        baseline_ranked=baseline_ranked,
        baseline_scores=baseline_scores,
        baseline_latency_ms=baseline_ms,
    )


def outcome_hits(outcome: QueryOutcome) -> list[FaqHit]:
    """The ranked FAQs of a query as route_decide saw them (what decides the route)."""
    agreements = outcome.agreements or [1.0] * len(outcome.ranked)
    return [
        FaqHit(0, faq_id, "", "", "", score, similarity, agreement)
        for faq_id, score, similarity, agreement in zip(
            outcome.ranked, outcome.scores, outcome.similarities, agreements, strict=True
        )
    ]


def outcome_decide(outcome: QueryOutcome, fast_path: float, no_answer: float) -> str:
    """The route the chat would have taken for this query under other thresholds (the
    fast path's token agreement and margin as shipped for the query's language)."""
    shipped = default_thresholds(outcome.query)
    limits = shipped._replace(fast_path=fast_path, no_answer=no_answer, passage=2.0)
    route, _ = route_decide(faqs=outcome_hits(outcome), passages=[], thresholds=limits)
    return route


def adapter_figures(site: Site) -> dict[str, Any]:
    """Train the site's query adapter now; what it measured on its held-out phrasings."""
    from knowledge.adapter import adapter_train
    from knowledge.index import site_index

    started = time.perf_counter()
    trained = adapter_train(site)
    seconds = round(time.perf_counter() - started, 2)
    site_index(site.id)  # take the adapter in now, as a worker's next search would
    if trained is None:
        return {"trained": False, "train_seconds": seconds}
    return {
        "trained": True,
        "active": trained.active,
        "questions": trained.questions,
        "held_out_hit1_before": trained.held_out_hit1_before,
        "held_out_hit1_after": trained.held_out_hit1_after,
        "train_seconds": seconds,
    }


def outcome_verbatim(outcome: QueryOutcome, certainty: Certainty) -> bool:
    """Whether the query would be answered verbatim under these fast-path thresholds."""
    limits = RouteThresholds(
        certainty.fast_path, 2.0, 2.0, agreement=certainty.agreement, margin=certainty.margin
    )
    return not fast_path_doubts(outcome_hits(outcome), limits)


def outcomes_by_language(runs: list[FaqRun]) -> dict[str, dict[str, list[QueryOutcome]]]:
    """Per language, each run's outcomes of queries in that language (runs without any left
    out): the fast path is calibrated per language."""
    languages: dict[str, dict[str, list[QueryOutcome]]] = {}
    for run in runs:
        for outcome in run.outcomes:
            by_set = languages.setdefault(text_language(outcome.query), {})
            by_set.setdefault(run.dataset.name, []).append(outcome)
    return languages


def faq_evaluate(
    *,
    path: Path,
    limit: int | None = None,
    thresholds: Thresholds = Thresholds(),
    part: str = "all",
    save: bool = True,
    adapter: bool = False,
) -> FaqRun:
    """Evaluate one converted dataset end to end; the run is saved as an EvaluationReport.

    `part`: "calibrate" or "report" runs one seeded half of the queries (queries_part).
    `adapter`: run the queries once as they are, train the site's query adapter from the
    FAQs' phrasings (knowledge.adapter, in-process), and report the run with it, the first
    run's ranking figures beside it as `without_adapter`."""
    dataset = dataset_load(path)
    queries = queries_part(dataset.queries, part)
    if limit is not None:
        queries = ordered_sample(seeded(), queries, limit)
    with scratch_site(thresholds) as site:
        loaded = faqs_load(site, dataset.faqs)
        baseline = Bm25Baseline(site)
        if queries:  # load the encoder before timing, so p99 is not its start-up
            knowledge_search(site=site, query=queries[0]["query"], k=TOP_K)
        outcomes = [query_run(site, query, baseline) for query in queries]
        extra: dict[str, Any] = {}
        if adapter:
            extra["without_adapter"] = {
                key: value
                for key, value in run_figures(outcomes).items()
                if key in ("hit@1", "hit@5", "mrr", "oos_recall", "fast_path_precision", "routes")
            }
            extra["adapter"] = adapter_figures(site)
            outcomes = [query_run(site, query, baseline) for query in queries]
        limits = site_thresholds(site)
        routing = {
            lang: site_thresholds(site, q)._asdict() for lang, q in (("en", ""), ("zh", "中文"))
        }
        figures = {**run_figures(outcomes), **extra}
    params = {
        "path": str(path.resolve()),
        "limit": limit,
        "part": part,
        "k": TOP_K,
        "thresholds": {"fast_path": limits.fast_path, "no_answer": limits.no_answer},
        "routing": routing,  # every threshold, per language
        **loaded,
    }
    run = FaqRun(dataset, outcomes, {"dataset": dataset.name, **figures}, params)
    if save:
        run.report = EvaluationReport.objects.create(
            task="faq", dataset=dataset.name, metrics=run.figures, params=params
        )
    return run
