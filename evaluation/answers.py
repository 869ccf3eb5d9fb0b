"""`evaluate answers`: questions asked through the chat's whole path, answers judged.

The dataset's FAQs (and documents) go into a scratch site; each query is posted in a new
conversation and answered in-process exactly as a worker would (retrieval, route, source
check, model). An in-scope answer is right when it cites the query's FAQ or states one of
its `facts`; a declined in-scope query and an answered out-of-scope one are counted per
language, with token F1 and ROUGE-L against the approved answer, and time to first token.
"""

import contextlib
import io
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.management import call_command
from django.test import override_settings
from rouge_score import rouge_scorer

from chat.models import Generation, Message
from evaluation.convert import ordered_sample, queries_part, seeded
from evaluation.faq import (
    Dataset,
    DatasetError,
    Thresholds,
    dataset_load,
    faqs_load,
    scratch_site,
)
from evaluation.metrics import percentile
from evaluation.models import EvaluationReport
from knowledge.models import FaqEntry
from knowledge.text import CJK_CHAR, answer_text, text_language, tokenize
from sites.models import Site

WORD = re.compile(r"\w+", re.UNICODE)
DOCUMENT_SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".docx")


@dataclass
class Answered:
    """One query of the run and what the chat did with it."""

    query: str
    language: str
    expected: str | None
    facts: list[str]
    route: str
    text: str
    cited: list[str]  # dataset faq_ids the answer cites
    ttft_ms: float | None
    right: bool = False
    stated: bool = False  # the answer states one of the facts (stricter than `right`)
    f1: float | None = None
    rouge_l: float | None = None
    check: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, Any]] = field(default_factory=list)  # as given to the model


@dataclass
class AnswersRun:
    dataset: Dataset
    answered: list[Answered]
    figures: dict[str, Any]
    report: EvaluationReport | None = None


def words(text: str) -> list[str]:
    """Lower-cased words; Chinese cut into words by jieba (knowledge.text.tokenize)."""
    if CJK_CHAR.search(text):
        return [t for t in tokenize(text) if WORD.fullmatch(t)]
    return WORD.findall(text.lower())


def token_f1(prediction: str, reference: str) -> float:
    predicted, wanted = words(prediction), words(reference)
    if not predicted or not wanted:
        return 0.0
    pool = list(wanted)
    common = 0
    for token in predicted:
        if token in pool:
            pool.remove(token)
            common += 1
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(wanted)
    return 2 * precision * recall / (precision + recall)


class _Words:
    """rouge-score's tokenizer interface over `words` (its own drops Chinese)."""

    def tokenize(self, text: str) -> list[str]:
        return words(text)


_ROUGE = rouge_scorer.RougeScorer(["rougeL"], tokenizer=_Words())


def rouge_l(prediction: str, reference: str) -> float:
    return float(_ROUGE.score(reference, prediction)["rougeL"].fmeasure)


def _squeezed(text: str) -> str:
    return re.sub(r"\s+", "", text).casefold()  # "10 分钟" and "10分钟" are one fact


def fact_stated(text: str, facts: list[str]) -> bool:
    said = _squeezed(answer_text(text))
    return any(_squeezed(fact) in said for fact in facts if fact.strip())


def documents_load(site: Site, folder: Path) -> int:
    """Import the dataset's documents/ into the site, searchable when this returns."""
    files = sorted(p for p in folder.glob("*") if p.suffix.lower() in DOCUMENT_SUFFIXES)
    if files:
        out = io.StringIO()
        call_command("document_import", *map(str, files), site=site.slug, stdout=out)
    return len(files)


def answer_run(site: Site, query: str) -> tuple[Message, Generation]:
    """Post `query` in a new conversation and answer it in-process, as a worker would."""
    from chat.runner import generation_execute
    from chat.services import conversation_create, message_post

    conversation = conversation_create(site=site, title="evaluation")
    posted = message_post(conversation=conversation, text=query)
    generation_execute(posted.generation.id)  # a no-op when the plan settled it already
    generation = Generation.objects.select_related("message").get(id=posted.generation.id)
    message = Message.objects.get(generation=generation)
    return message, generation


@dataclass(frozen=True)
class Reference:
    """What the judges compare with, loaded once a run: the approved answers by dataset id
    and the dataset id of each FAQ entry of the scratch site."""

    approved: dict[str, str]
    external: dict[int, str]

    def cited(self, sources: list[dict[str, Any]]) -> list[str]:
        ids = [self.external.get(s["id"], "") for s in sources if s.get("kind") == "faq"]
        return [i for i in ids if i]


def _outcome(query: dict[str, Any], route: str, text: str) -> Answered:
    return Answered(
        query=query["query"],
        language=text_language(query["query"]),
        expected=query["faq_id"],
        facts=[str(f) for f in query.get("facts") or []],
        route=route,
        text=text,
        cited=[],
        ttft_ms=None,
    )


def answered_judge(site: Site, query: dict[str, Any], reference: Reference) -> Answered:
    message, generation = answer_run(site, query["query"])
    outcome = _outcome(query, message.route, message.text)
    outcome.cited = reference.cited(message.sources)
    outcome.check = dict(generation.context.get("check_result") or {})
    outcome.sources = list(generation.context.get("sources") or [])
    if "grounding" in generation.context:
        outcome.check["grounding"] = generation.context["grounding"]["share"]
    if generation.first_token_at and generation.queued_at:
        ttft = generation.first_token_at - generation.queued_at
        outcome.ttft_ms = ttft.total_seconds() * 1000
    answered = outcome.route in ("fast_path", "grounded")
    if outcome.expected is not None and answered:
        outcome.stated = fact_stated(message.text, outcome.facts)
        outcome.right = outcome.expected in outcome.cited or outcome.stated
        approved = reference.approved.get(outcome.expected, "")
        outcome.f1 = token_f1(answer_text(message.text), approved)
        outcome.rouge_l = rouge_l(answer_text(message.text), approved)
    return outcome


def checked_judge(site: Site, query: dict[str, Any], reference: Reference) -> Answered:
    """The plan and, for a grounded one, the source check's probability, without the answer.
    `right`: the sources given to the model include the query's FAQ or state one of its
    facts (the answer could be right)."""
    from chat.answers import sources_check
    from chat.engine import engine_backend
    from chat.runner import prompt_build
    from chat.services import conversation_create, message_post

    conversation = conversation_create(site=site, title="evaluation")
    posted = message_post(conversation=conversation, text=query["query"])
    route, sources = posted.assistant_message.route, posted.generation.context.get("sources")
    outcome = _outcome(query, route, posted.assistant_message.text)
    if route == "grounded" and sources:
        backend = engine_backend()
        messages, _ = prompt_build(posted.generation, backend)
        check = sources_check(backend, messages, query["query"], "calibrate")
        outcome.check = check.as_json()
        outcome.cited = reference.cited(sources)
        stated = fact_stated("\n".join(s["excerpt"] for s in sources), outcome.facts)
        outcome.right = outcome.expected in outcome.cited or stated
    elif route == "fast_path" and outcome.expected is not None:
        outcome.right = fact_stated(outcome.text, outcome.facts)
    return outcome


SWEEP = (0.2, 0.3, 0.35, 0.37, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9, 2.0)
GROUNDING_SWEEP = (0.0, 0.1, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7, 0.8, 0.9)


def threshold_sweep(rows: list[Answered]) -> list[dict[str, Any]]:
    """For each pair of a check threshold on P(no) and a grounding threshold: the in-scope
    questions kept, and kept right, and the out-of-scope ones kept (invented), had grounded
    answers with P(no) at or above the one, or answer_grounding under the other, been
    declined. From a run that scored every check and declined none (--check-only: no answer,
    so grounding 0 only, and `right` means the sources hold the answer; --sweep: the answer
    given was right)."""
    known = [r for r in rows if r.expected is not None]
    unknown = [r for r in rows if r.expected is None]
    answered = any("grounding" in r.check for r in rows)

    def kept(r: Answered, t: float, g: float) -> bool:
        if r.route == "fast_path":
            return True
        grounded = r.check.get("grounding", 1.0) >= g
        return r.route == "grounded" and r.check.get("p_none", 0.0) < t and grounded

    def share(count: int, rows: list[Answered]) -> float | None:
        return count / len(rows) if rows else None

    def row(t: float, g: float) -> dict[str, Any]:
        return {
            "threshold": t,
            "grounding": g,
            "in_scope_kept": share(sum(kept(r, t, g) for r in known), known),
            "answered_right": share(sum(kept(r, t, g) and r.right for r in known), known),
            "invented_out_of_scope": share(sum(kept(r, t, g) for r in unknown), unknown),
        }

    return [row(t, g) for t in SWEEP for g in (GROUNDING_SWEEP if answered else (0.0,))]


def sweep_best(table: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The calibration rule: the pair with the most answered right less invented (a declined
    answerable question and an invented answer count alike), the first of equals (the
    lowest check threshold, then the lowest grounding threshold)."""

    def gain(row: dict[str, Any]) -> float:
        return (row["answered_right"] or 0.0) - (row["invented_out_of_scope"] or 0.0)

    return max(table, key=gain) if table else None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def language_figures(rows: list[Answered]) -> dict[str, Any]:
    known = [r for r in rows if r.expected is not None]
    unknown = [r for r in rows if r.expected is None]
    ttfts = [r.ttft_ms for r in rows if r.ttft_ms is not None and r.route == "grounded"]
    routes = [r.route for r in rows]
    return {
        "queries": len(rows),
        "in_scope": len(known),
        "out_of_scope": len(unknown),
        "answered_right": sum(r.right for r in known) / len(known) if known else None,
        # The stricter judge: a stated fact, not the citation alone (a model that cites the
        # right FAQ and contradicts it is right by the first).
        "fact_stated": sum(r.stated for r in known) / len(known) if known else None,
        "declined_in_scope": (
            sum(r.route == "no_answer" for r in known) / len(known) if known else None
        ),
        "invented_out_of_scope": (
            sum(r.route != "no_answer" for r in unknown) / len(unknown) if unknown else None
        ),
        "f1": _mean([r.f1 for r in known if r.f1 is not None]),
        "rougeL": _mean([r.rouge_l for r in known if r.rouge_l is not None]),
        "ttft_ms_p50": percentile(ttfts, 50),
        "ttft_ms_p99": percentile(ttfts, 99),
        "routes": {route: routes.count(route) for route in sorted(set(routes))},
    }


def faqs_as_document(faqs: list[dict[str, Any]], folder: Path) -> Path:
    """The FAQs written as one help-centre page (a heading per question, its answer below),
    as a company that uploads its help centre as a document instead would have them."""
    folder.mkdir(parents=True, exist_ok=True)
    page = folder / "help-centre.md"
    sections = [
        f"## {faq['question']}\n\n{answer_text(str(faq.get('answer', '')))}" for faq in faqs
    ]
    page.write_text("# Help centre\n\n" + "\n\n".join(sections) + "\n", encoding="utf-8")
    return page


def prompt_use(site: Site, text: str) -> None:
    """Activate `text` as the site's grounded prompt."""
    from django.core.exceptions import ValidationError

    from knowledge.models import PromptTemplate
    from knowledge.prompts import prompt_version_create

    try:
        prompt_version_create(
            site=site, kind=PromptTemplate.Kind.GROUNDED, text=text, activate=True
        )
    except ValidationError as exc:
        raise DatasetError(f"grounded prompt: {' '.join(exc.messages)}") from exc


def answers_evaluate(
    *,
    path: Path,
    limit: int | None = None,
    part: str = "all",
    as_documents: Path | None = None,
    check_only: bool = False,
    sweep: bool = False,
    grounded_prompt: str | None = None,
    save: bool = True,
) -> AnswersRun:
    """Run the dataset at `path` (layout of `evaluate faq`, plus facts and documents/).

    `as_documents`: a folder to write the FAQs into as one Markdown page, imported as a
    document instead of FAQ entries. `check_only`: score the source check of each grounded
    question without generating the answer (to calibrate KNOWLEDGE_CHECK_THRESHOLD).
    `sweep`: answer every grounded question whatever its check says, then report the figures
    each check threshold would have given (the check is scored all the same).
    `grounded_prompt`: a grounded prompt to answer with instead of the default, as a site
    that activated it would (DatasetError when it is not a valid one)."""
    dataset = dataset_load(path)
    for n, query in enumerate(dataset.queries, start=1):
        if not isinstance(query.get("facts", []), list):
            raise DatasetError(f"queries.jsonl line {n}: 'facts' must be a list of strings")
    queries = queries_part(dataset.queries, part)
    if limit is not None:
        queries = ordered_sample(seeded(), queries, limit)
    approved = {faq["faq_id"]: answer_text(str(faq.get("answer", ""))) for faq in dataset.faqs}
    started = time.perf_counter()
    judge = checked_judge if check_only else answered_judge
    never = override_settings(
        KNOWLEDGE_CHECK_THRESHOLD=2.0,
        KNOWLEDGE_CHECK_THRESHOLD_ZH=2.0,
        KNOWLEDGE_GROUNDING_THRESHOLD=0.0,
        KNOWLEDGE_GROUNDING_THRESHOLD_ZH=0.0,
    )
    with scratch_site(Thresholds()) as site, never if sweep else contextlib.nullcontext():
        if as_documents is None:
            loaded = faqs_load(site, dataset.faqs) if dataset.faqs else {"faqs": 0}
            documents = documents_load(site, path / "documents")
        else:
            loaded = {"faqs": 0}
            faqs_as_document(dataset.faqs, as_documents)
            documents = documents_load(site, as_documents)
        if grounded_prompt is not None:
            prompt_use(site, grounded_prompt)
        external = dict(FaqEntry.objects.filter(site=site).values_list("id", "external_id"))
        reference = Reference(approved, external)
        answered = [judge(site, query, reference) for query in queries]
    by_language = {
        language: language_figures([a for a in answered if a.language == language])
        for language in sorted({a.language for a in answered})
    }
    figures = {
        "dataset": dataset.name + (" as documents" if as_documents is not None else ""),
        **language_figures(answered),
        "languages": by_language,
        "faqs": loaded["faqs"],
        "documents": documents,
        "part": part,
        "grounded_prompt": "given" if grounded_prompt is not None else "default",
        "seconds": round(time.perf_counter() - started, 1),
    }
    if check_only or sweep:
        figures["threshold_sweep"] = {
            language: threshold_sweep([a for a in answered if a.language == language])
            for language in by_language
        }
        figures["threshold_best"] = {
            language: sweep_best(table) for language, table in figures["threshold_sweep"].items()
        }
    run = AnswersRun(dataset, answered, figures)
    if save:
        run.report = EvaluationReport.objects.create(
            task="answers", dataset=dataset.name, metrics=figures, params={"limit": limit}
        )
    return run


def prediction_row(answered: Answered) -> dict[str, Any]:
    return {
        "query": answered.query,
        "expected": answered.expected,
        "route": answered.route,
        "right": answered.right,
        "stated": answered.stated,
        "cited": answered.cited,
        "text": answered.text,
        "ttft_ms": answered.ttft_ms,
        "check": answered.check,
        "sources": answered.sources,
    }
