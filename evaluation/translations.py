"""`evaluate translate`: the product's translator on a JSON Lines set, scored with BLEU
and chrF (sacrebleu; the `zh` tokenizer for Chinese targets).

Each line has `src`, `ref`, `src_lang`, `tgt_lang`. Every item goes through the product's
own path in this process (translation_create, the generation runner), beside the raw
default model asked with a plain one-line prompt in the same run (the baseline).
"""

import csv
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sacrebleu

from chat.engine import engine_backend
from chat.runner import generation_execute
from evaluation.answers import queries_part
from evaluation.convert import ordered_sample, seeded
from evaluation.faq import DatasetError
from evaluation.metrics import percentile
from evaluation.models import EvaluationReport
from inference.base import GenerationParams
from sites.models import Site
from translate.glossary import Term
from translate.languages import LANGUAGES
from translate.prompts import plain_messages, translation_clean
from translate.services import translation_create


@dataclass
class Item:
    src: str
    ref: str
    src_lang: str
    tgt_lang: str


@dataclass
class TranslateRun:
    items: list[Item]
    hypotheses: list[str] = field(default_factory=list)
    baselines: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)


def items_read(path: Path) -> list[Item]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {path}") from exc
    items = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"line {n}: not JSON") from exc
        if not all(
            isinstance(row.get(k), str) and row[k] for k in ("src", "ref", "src_lang", "tgt_lang")
        ):
            raise DatasetError(f"line {n}: needs 'src', 'ref', 'src_lang' and 'tgt_lang' strings")
        if row["src_lang"] not in LANGUAGES or row["tgt_lang"] not in LANGUAGES:
            raise DatasetError(f"line {n}: languages must be among {', '.join(LANGUAGES)}")
        items.append(Item(row["src"], row["ref"], row["src_lang"], row["tgt_lang"]))
    return items


def product_translate(
    site: Site, item: Item, glossary: list[dict[str, Any]]
) -> tuple[str, float, list[dict[str, str]]]:
    started = time.perf_counter()
    translation = translation_create(
        site=site,
        text=item.src,
        source_lang=item.src_lang,
        target_lang=item.tgt_lang,
        glossary=glossary or None,
    )
    generation_execute(str(translation.generation_id))
    translation.refresh_from_db()
    return translation.text, time.perf_counter() - started, translation.glossary_misses


def glossary_read(path: Path) -> list[dict[str, Any]]:
    """A glossary CSV (the admin's import format) as request terms."""
    with path.open(encoding="utf-8-sig") as handle:
        return [
            {
                "source": row["source"],
                "target": row.get("target") or "",
                "keep": (row.get("keep") or "").strip().lower() in ("1", "yes", "true"),
            }
            for row in csv.DictReader(handle)
        ]


def baseline_translate(item: Item) -> str:
    params = GenerationParams(max_tokens=2 * len(item.src) + 32, temperature=0.0)
    messages = plain_messages(text=item.src, target_lang=item.tgt_lang)
    text = "".join(
        d.text for d in engine_backend("translate").stream(messages, params, "evaluate:baseline")
    )
    return translation_clean(text, item.src)


def scores(hypotheses: list[str], references: list[str], target: str) -> dict[str, float]:
    tokenize = "zh" if target == "zh" else "13a"
    bleu = sacrebleu.corpus_bleu(hypotheses, [references], tokenize=tokenize)
    chrf = sacrebleu.corpus_chrf(hypotheses, [references])
    return {"bleu": round(float(bleu.score), 2), "chrf": round(float(chrf.score), 2)}


def translate_evaluate(
    *, path: Path, limit: int | None = None, glossary: Path | None = None, part: str = "all",
    save: bool = True,
) -> TranslateRun:  # fmt: skip
    """`glossary`: a CSV of terms given with every item; the items are then those whose
    source contains a term, and the share of (item, term) pairs respected is reported."""
    items = queries_part(items_read(path), part)
    terms = glossary_read(glossary) if glossary else []
    if terms:
        found = [Term(t["source"], t["source"] if t["keep"] else t["target"]) for t in terms]
        items = [item for item in items if any(term.occurs_in(item.src) for term in found)]
    if limit is not None:
        items = ordered_sample(seeded(), items, limit)
    run = TranslateRun(items)
    latencies: list[float] = []
    occurrences = misses = 0
    site = Site.objects.create(slug=f"evaluation-translations-{time.time_ns()}", name="Evaluation")
    try:
        for item in items:
            text, seconds, missed = product_translate(site, item, terms)
            if terms:
                occurrences += sum(term.occurs_in(item.src) for term in found)
                misses += len(missed)
            run.hypotheses.append(text)
            latencies.append(seconds * 1000)
            run.baselines.append(baseline_translate(item))
    finally:
        site.delete()
    references = [item.ref for item in items]
    target = items[0].tgt_lang if items else "en"
    product = scores(run.hypotheses, references, target)
    baseline = scores(run.baselines, references, target)
    run.figures = {
        "dataset": path.stem,
        "items": len(items),
        "part": part,
        "direction": f"{items[0].src_lang}-{target}" if items else "",
        **product,
        "baseline_bleu": baseline["bleu"],
        "baseline_chrf": baseline["chrf"],
        **(
            {
                "glossary_occurrences": occurrences,
                "glossary_respected": round(1 - misses / occurrences, 4) if occurrences else None,
            }
            if terms
            else {}
        ),
        "latency_ms_p50": round(percentile(latencies, 50) or 0.0),
        "latency_ms_p99": round(percentile(latencies, 99) or 0.0),
    }
    if save:
        EvaluationReport.objects.create(
            task="translate", dataset=path.stem, metrics=run.figures, params={"limit": limit}
        )
    return run
