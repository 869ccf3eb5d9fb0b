"""`evaluate summarize`: the product's summarizer on a JSON Lines set, scored with ROUGE.

Each line has `document` or `dialogue` (one `Speaker: text` turn a line) and `summary`,
optionally `references` (a list; the best-scoring one counts). Every item goes through
the product's own path in this process (summary_create, the generation runner, map steps
for long inputs), beside a lead-3 baseline and the extractive mode of the same run.
ROUGE-1/2/L F1 by rouge-score, on jieba words for Chinese (evaluation.answers.words).
"""

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.test import override_settings
from rouge_score import rouge_scorer

from chat.runner import generation_execute
from evaluation.answers import _Words, queries_part, words
from evaluation.convert import ordered_sample, seeded
from evaluation.faq import DatasetError
from evaluation.metrics import percentile
from evaluation.models import EvaluationReport
from sites.models import Site
from summarize.extractive import language_of, lead_summary
from summarize.models import Summary
from summarize.services import summary_create, summary_extractive

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_SCORER = rouge_scorer.RougeScorer(list(ROUGE_TYPES), tokenizer=_Words())


@dataclass
class Item:
    text: str
    kind: str  # document | dialogue
    references: list[str]


@dataclass
class Scored:
    summary: str
    method: str
    seconds: float
    scores: dict[str, float]
    baseline: dict[str, float]
    extractive: dict[str, float]
    words: int


@dataclass
class SummarizeRun:
    items: list[Item]
    scored: list[Scored] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def items_read(path: Path) -> Iterator[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {path}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"line {n}: not JSON") from exc
        kind = "dialogue" if isinstance(row.get("dialogue"), str) else "document"
        text = row.get(kind)
        references = row.get("references") or [row.get("summary")]
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"line {n}: needs a 'document' or a 'dialogue' string")
        if not all(isinstance(r, str) and r.strip() for r in references):
            raise DatasetError(f"line {n}: needs a 'summary' (or 'references') string")
        yield Item(text.strip(), kind, references)


def rouge(prediction: str, references: list[str]) -> dict[str, float]:
    """ROUGE F1 against the best reference (by ROUGE-L)."""
    best: dict[str, float] = {}
    for reference in references:
        scores = _SCORER.score(reference, prediction)
        row = {name: float(scores[name].fmeasure) for name in ROUGE_TYPES}
        if not best or row["rougeL"] > best["rougeL"]:
            best = row
    return best


def lead(item: Item) -> str:
    """Lead-3: the first three sentences (a dialogue's first three turns)."""
    if item.kind == "dialogue":
        return "\n".join(item.text.splitlines()[:3])
    return lead_summary(item.text, 3)


def item_summarize(site: Site, item: Item, length: str) -> tuple[Summary, float]:
    started = time.perf_counter()
    summary = summary_create(site=site, text=item.text, kind=item.kind, length=length)
    assert summary.generation_id is not None  # noqa: S101 - a model summary has one
    with override_settings(SUMMARY_STEPS_INLINE=True):
        for _ in range(8):  # plan and map (inline), then one level up or the reduce
            generation_execute(summary.generation_id)
            summary.refresh_from_db()
            if summary.status in (Summary.Status.DONE, Summary.Status.FAILED):
                break
    return summary, time.perf_counter() - started


def _mean(rows: list[dict[str, float]], name: str) -> float | None:
    return round(sum(r[name] for r in rows) / len(rows), 4) if rows else None


def summarize_evaluate(
    *, path: Path, limit: int | None = None, length: str = "short", part: str = "all",
    save: bool = True,
) -> SummarizeRun:  # fmt: skip
    """`part`: a seeded half of the items (choose prompts on "calibrate", report "report")."""
    items = queries_part(list(items_read(path)), part)
    if limit is not None:
        items = ordered_sample(seeded(), items, limit)
    run = SummarizeRun(items)
    site = Site.objects.create(slug=f"evaluation-summaries-{time.time_ns()}", name="Evaluation")
    try:
        for item in items:
            summary, seconds = item_summarize(site, item, length)
            extractive = summary_extractive(item.text, kind=item.kind, length=length)
            run.scored.append(
                Scored(
                    summary=summary.text,
                    method=summary.method,
                    seconds=seconds,
                    scores=rouge(summary.text, item.references),
                    baseline=rouge(lead(item), item.references),
                    extractive=rouge(extractive, item.references),
                    words=len(words(summary.text)),
                )
            )
    finally:
        site.delete()
    scores = [s.scores for s in run.scored]
    latencies = [s.seconds * 1000 for s in run.scored]
    run.figures = {
        "dataset": path.stem,
        "items": len(items),
        "length": length,
        "part": part,
        "language": language_of(items[0].text) if items else "",
        **{name: _mean(scores, name) for name in ROUGE_TYPES},
        **{
            f"baseline_{name}": _mean([s.baseline for s in run.scored], name)
            for name in ROUGE_TYPES
        },
        **{
            f"extractive_{name}": _mean([s.extractive for s in run.scored], name)
            for name in ROUGE_TYPES
        },
        "mean_words": round(sum(s.words for s in run.scored) / len(run.scored), 1)
        if run.scored
        else None,
        "model_share": round(sum(s.method == "model" for s in run.scored) / len(run.scored), 3)
        if run.scored
        else None,
        "latency_ms_p50": round(percentile(latencies, 50) or 0.0),
        "latency_ms_p99": round(percentile(latencies, 99) or 0.0),
    }
    if save:
        EvaluationReport.objects.create(
            task="summarize",
            dataset=path.stem,
            metrics=run.figures,
            params={"limit": limit, "length": length},
        )
    return run


def prediction_row(scored: Scored) -> dict[str, Any]:
    return {"summary": scored.summary, "method": scored.method, **scored.scores}
