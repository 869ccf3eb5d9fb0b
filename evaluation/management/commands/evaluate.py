"""`manage.py evaluate faq --dataset DIR`: FAQ retrieval and routing on a converted set.

Prints hit@1, hit@5, MRR (the ranking, whatever the route), answered hit@1 (routed to an
answer with the right FAQ first), out-of-scope precision/recall (declined = the
no_answer route), fast-path precision, routes and latency, each beside a plain BM25
baseline, and saves the run as an EvaluationReport. `--dataset` may be repeated; with
`--json` each run is one JSON line. `--part calibrate|report` runs one seeded half of each
set's queries. `--calibrate` sweeps the routing thresholds over all the datasets given,
and the fast path's certainty per language, and prints the ones to ship (rules in
evaluation/metrics.py): calibrate on `--part calibrate`, report with `--part report`.

Example: evaluate_convert --source clinc150 --out /tmp/eval/clinc150, then
evaluate faq --dataset /tmp/eval/clinc150 --json --predictions /tmp/clinc150.jsonl

`evaluate intent --dataset FILE.jsonl [--per-intent N]`: the handoff's intent classifier
(evaluation/intents.py); with `--calibrate`, the handoff threshold on the shipped examples.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from evaluation.faq import (
    DatasetError,
    FaqRun,
    Thresholds,
    faq_evaluate,
    outcome_decide,
    outcome_verbatim,
    outcomes_by_language,
)
from evaluation.metrics import (
    ANSWERED_HIT1_TARGET,
    FAST_PATH_MIN_COUNT,
    FAST_PATH_PRECISION_TARGET,
    OOS_RECALL_TARGET,
    WRONG_VERBATIM_COST,
    QueryOutcome,
    calibration_report,
)

ROWS = (
    ("hit@1", "hit@1"),
    ("hit@5", "hit@5"),
    ("mrr", "MRR"),
    ("answered_hit@1", "answered hit@1"),
    ("oos_precision", "OOS precision"),
    ("oos_recall", "OOS recall"),
    ("fast_path_precision", "fast-path precision"),
    ("fast_path_coverage", "fast-path coverage"),
    ("in_scope_no_answer_rate", "in-scope no-answer"),
    ("latency_ms_p50", "latency p50 ms"),
    ("latency_ms_p99", "latency p99 ms"),
)


class Command(BaseCommand):
    help = "Evaluate the product on a dataset (tasks: faq, answers, summarize, translate, intent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("task", choices=["faq", "answers", "summarize", "translate", "intent"])
        parser.add_argument(
            "--dataset",
            type=Path,
            action="append",
            required=True,
            help="faq, answers: a folder with faqs.jsonl and queries.jsonl; summarize: a "
            "or intent: a JSON Lines file (repeat for several)",
        )
        parser.add_argument("--limit", type=int, help="at most this many queries, drawn at random")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--predictions", type=Path, help="write one JSON line per query")
        parser.add_argument(
            "--part",
            choices=["all", "calibrate", "report"],
            default="all",
            help="faq, answers, summarize, translate: a seeded half of the queries or items "
            "(calibrate on one, report the other)",
        )
        parser.add_argument(
            "--check-only",
            action="store_true",
            help="answers: score each grounded question's source check, generate nothing",
        )
        parser.add_argument(
            "--sweep",
            action="store_true",
            help="answers: answer every grounded question, then report each check threshold",
        )
        parser.add_argument(
            "--grounded-prompt",
            type=Path,
            help="answers: a text file with a grounded prompt to measure before activating it "
            "on a site (it must contain {sources} once)",
        )
        parser.add_argument(
            "--as-documents",
            type=Path,
            help="answers: write the FAQs as one Markdown page into this folder and import "
            "that document instead of the FAQ entries",
        )
        parser.add_argument(
            "--length",
            choices=["one_line", "short", "bullets"],
            default="short",
            help="summarize: the summary length to ask for",
        )
        parser.add_argument(
            "--glossary",
            type=Path,
            help="translate: a glossary CSV given with every item; only items containing a "
            "term are run, and the share of terms respected is reported",
        )
        parser.add_argument("--fast-path-threshold", type=float, help="override for this run")
        parser.add_argument("--no-answer-threshold", type=float, help="override for this run")
        parser.add_argument(
            "--calibrate",
            action="store_true",
            help="sweep the thresholds over every dataset (intent: HANDOFF_INTENT_THRESHOLD "
            "on cross-validated predictions of the labelled examples)",
        )
        parser.add_argument(
            "--adapter",
            action="store_true",
            help="faq: train the site's query adapter from the FAQs' phrasings and report "
            "the queries with it, beside the same queries without it",
        )
        parser.add_argument(
            "--per-intent",
            type=int,
            help="intent: train on this many seeded examples of each intent, test on the rest "
            "(without it: the shipped default classifier on every line)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["task"] == "summarize":
            self.summarize_handle(options)
            return
        if options["task"] == "translate":
            self.translate_handle(options)
            return
        if options["task"] == "answers":
            self.answers_handle(options)
            return
        if options["task"] == "intent":
            self.intent_handle(options)
            return
        thresholds = Thresholds(options["fast_path_threshold"], options["no_answer_threshold"])
        runs = []
        for path in options["dataset"]:
            try:
                run = faq_evaluate(
                    path=path,
                    limit=options["limit"],
                    thresholds=thresholds,
                    adapter=options["adapter"],
                    part=options["part"],
                )
            except DatasetError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            runs.append(run)
            self.report_print(run, as_json=options["json"])
        if options["predictions"]:
            predictions_write(options["predictions"], runs)
        if options["calibrate"]:
            outcomes = {run.dataset.name: run.outcomes for run in runs}
            report = calibration_report(
                outcomes, outcome_decide, outcomes_by_language(runs), outcome_verbatim
            )
            self.calibration_print(report, as_json=options["json"])

    def translate_handle(self, options: dict[str, Any]) -> None:
        from evaluation.translations import translate_evaluate

        def evaluate(path: Path) -> Any:
            return translate_evaluate(
                path=path, limit=options["limit"], glossary=options["glossary"],
                part=options["part"],
            )  # fmt: skip

        def lines(figures: dict[str, Any]) -> list[str]:
            glossary = (
                f", glossary respected {figures['glossary_respected']} of "
                f"{figures['glossary_occurrences']} occurrences"
                if "glossary_respected" in figures
                else ""
            )
            return [
                f"{figures['dataset']} ({figures['direction']}, {figures['items']} items): "
                f"BLEU {figures['bleu']} (plain prompt {figures['baseline_bleu']}), "
                f"chrF {figures['chrf']} (plain prompt {figures['baseline_chrf']}), "
                f"latency p50 {figures['latency_ms_p50']} ms{glossary}"
            ]

        def rows(run: Any) -> Iterator[dict[str, Any]]:
            for item, hyp in zip(run.items, run.hypotheses, strict=True):
                yield {"src": item.src, "hyp": hyp}

        self.generated_handle(options, evaluate, lines, rows)

    def intent_handle(self, options: dict[str, Any]) -> None:
        from evaluation.intents import handoff_calibrate, intent_evaluate, prediction_row

        if options["calibrate"]:
            for path in options["dataset"]:
                try:
                    report = handoff_calibrate(path=path)
                except DatasetError as exc:
                    raise CommandError(f"{path}: {exc}") from exc
                as_json = options["json"]
                self.stdout.write(
                    json.dumps(report) if as_json else intent_calibration_text(report)
                )
            return

        def evaluate(path: Path) -> Any:
            return intent_evaluate(path=path, per_intent=options["per_intent"])

        def lines(figures: dict[str, Any]) -> list[str]:
            trained = (
                f"trained on {figures['per_intent']} per intent ({figures['train_items']} items)"
                if figures["per_intent"]
                else "the shipped default classifier"
            )
            return [
                f"{figures['dataset']}: {figures['intents']} intents, {trained}, tested on "
                f"{figures['test_items']} items ({figures['skipped_out_of_scope']} "
                "out-of-scope skipped)",
                f"  accuracy {cell(figures['accuracy'])}  macro-F1 {cell(figures['macro_f1'])}"
                f"  (nearest class centroid: {cell(figures['baseline_accuracy'])}, "
                f"{cell(figures['baseline_macro_f1'])})",
            ]

        def rows(run: Any) -> Iterator[dict[str, Any]]:
            for item, predicted, p in zip(run.items, run.predicted, run.probabilities, strict=True):
                yield prediction_row(item, predicted, p)

        self.generated_handle(options, evaluate, lines, rows)

    def summarize_handle(self, options: dict[str, Any]) -> None:
        from evaluation.summaries import prediction_row, summarize_evaluate

        def evaluate(path: Path) -> Any:
            return summarize_evaluate(
                path=path, limit=options["limit"], length=options["length"],
                part=options["part"],
            )  # fmt: skip

        def lines(figures: dict[str, Any]) -> list[str]:
            return [
                f"{figures['dataset']}: {figures['items']} items, {figures['length']}",
                *(
                    f"  {name:8} product {figures[name]}  lead-3 {figures['baseline_' + name]}"
                    f"  extractive {figures['extractive_' + name]}"
                    for name in ("rouge1", "rouge2", "rougeL")
                ),
                f"  mean words {figures['mean_words']}, model share {figures['model_share']}, "
                f"latency p50 {figures['latency_ms_p50']} ms, p99 {figures['latency_ms_p99']} ms",
            ]

        def rows(run: Any) -> Iterator[dict[str, Any]]:
            return (prediction_row(scored) for scored in run.scored)

        self.generated_handle(options, evaluate, lines, rows)

    def generated_handle(
        self,
        options: dict[str, Any],
        evaluate: Callable[[Path], Any],
        lines: Callable[[dict[str, Any]], list[str]],
        rows: Callable[[Any], Iterable[dict[str, Any]]],
    ) -> None:
        """Evaluate each dataset of a generated-text task (summaries, translations): its
        figures as JSON or as lines, then one prediction row per item in input order."""
        runs = []
        for path in options["dataset"]:
            try:
                run = evaluate(path)
            except DatasetError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            runs.append(run)
            if options["json"]:
                self.stdout.write(json.dumps(run.figures, ensure_ascii=False))
            else:
                self.stdout.write("\n".join(lines(run.figures)))
        if options["predictions"]:
            with options["predictions"].open("w", encoding="utf-8") as out:
                for run in runs:
                    for row in rows(run):
                        out.write(json.dumps(row, ensure_ascii=False) + "\n")

    def answers_handle(self, options: dict[str, Any]) -> None:
        from evaluation.answers import answers_evaluate
        from evaluation.answers import prediction_row as answers_prediction

        runs = []
        prompt = options["grounded_prompt"]
        try:
            grounded = prompt.read_text(encoding="utf-8") if prompt else None
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"{prompt}: {exc}") from exc
        for path in options["dataset"]:
            try:
                run = answers_evaluate(
                    path=path,
                    limit=options["limit"],
                    part=options["part"],
                    as_documents=options["as_documents"],
                    check_only=options["check_only"],
                    sweep=options["sweep"],
                    grounded_prompt=grounded,
                )
            except DatasetError as exc:
                raise CommandError(f"{path}: {exc}") from exc
            runs.append(run)
            if options["json"]:
                self.stdout.write(json.dumps(run.figures, ensure_ascii=False))
            else:
                self.stdout.write("\n".join(answers_lines(run.figures)))
        if options["predictions"]:
            with options["predictions"].open("w", encoding="utf-8") as out:
                for run in runs:
                    for answered in run.answered:
                        out.write(json.dumps(answers_prediction(answered), ensure_ascii=False))
                        out.write("\n")

    def report_print(self, run: FaqRun, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({**run.figures, "params": run.params}))
            return
        figures, baseline = run.figures, run.figures["baseline"]
        self.stdout.write(
            f"\n{run.dataset.name}: {len(run.dataset.faqs)} FAQs, {figures['queries']} queries "
            f"({figures['out_of_scope']} out-of-scope); thresholds {run.params['thresholds']}"
        )
        self.stdout.write(f"{'':22}{'product':>10}{'BM25':>10}")
        for key, label in ROWS:
            self.stdout.write(
                f"{label:22}{cell(figures.get(key)):>10}{cell(baseline.get(key)):>10}"
            )
        self.stdout.write(f"routes: {figures['routes']}")
        if "without_adapter" in figures:
            plain, trained = figures["without_adapter"], figures["adapter"]
            self.stdout.write(
                f"without the adapter: hit@1 {cell(plain['hit@1'])}, hit@5 {cell(plain['hit@5'])}, "
                f"MRR {cell(plain['mrr'])}, OOS recall {cell(plain.get('oos_recall'))}, "
                f"fast-path precision {cell(plain.get('fast_path_precision'))}; adapter {trained}"
            )
        if run.report is not None:
            self.stdout.write(f"saved as evaluation report {run.report.pk}")

    def calibration_print(self, report: dict[str, Any], *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps({"calibration": report}))
            return
        self.stdout.write("\n" + "\n".join(calibration_lines(report)))


def cell(value: Any) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def calibration_lines(report: dict[str, Any]) -> list[str]:
    """The sweeps every 0.05 (and at the chosen values), the choice, and the score table."""
    header = "  ".join(f"{name[:24]:>24}" for name in report["sets"])
    lines = [
        f"Calibration over {', '.join(report['sets'])}. Targets: OOS recall >= "
        f"{OOS_RECALL_TARGET} and answered hit@1 >= {ANSWERED_HIT1_TARGET} on every set with "
        f"out-of-scope queries; fast-path precision >= {FAST_PATH_PRECISION_TARGET} on every "
        f"set with >= {FAST_PATH_MIN_COUNT} fast-path answers.",
        f"no_answer  {header}  (answered hit@1 / OOS recall / OOS precision)",
    ]
    for row in report["sweep"]:
        if shown(row["no_answer"], report["no_answer_threshold"]):
            cells = (
                f"{cell(f['answered_hit@1'])}/{cell(f['oos_recall'])}/{cell(f['oos_precision'])}"
                for f in row["sets"].values()
            )
            lines.append(f"{row['no_answer']:>9.2f}  " + "  ".join(f"{c:>24}" for c in cells))
    lines.append(f"fast_path  {header}  (precision / count)")
    for row in report["fast_path_sweep"]:
        if shown(row["fast_path"], report["fast_path_threshold"]):
            cells = (
                f"{cell(f['fast_path_precision'])} / {f['fast_path_count']}"
                for f in row["sets"].values()
            )
            lines.append(f"{row['fast_path']:>9.2f}  " + "  ".join(f"{c:>24}" for c in cells))
    met = report["met_no_answer"]
    lines.append(
        f"Pairs meeting the targets: no_answer in [{met[0]:.2f}, {met[-1]:.2f}] with fast_path "
        f">= {report['fast_path_threshold']:.2f}"
        if met
        else "No no-answer threshold meets the targets on every set: chosen is the lowest "
        "whose OOS recall, averaged over the sets, reaches the target."
    )
    lines.append(
        f"Chosen: KNOWLEDGE_NO_ANSWER_THRESHOLD={report['no_answer_threshold']:.2f} "
        f"(the fast path per language below)"
    )
    certainty = report["fast_path_certainty"]
    return lines + score_lines(report["score_separation"]) + certainty_lines(certainty)


def certainty_lines(languages: dict[str, Any]) -> list[str]:
    """Per language: the best thresholds at each margin, with each set's verbatim answers
    (count, wrong, precision, coverage of in-scope queries), and the choice."""
    lines = [
        f"Fast path per language: right verbatim answers less {WRONG_VERBATIM_COST} per wrong "
        f"one, highest wins (target precision {FAST_PATH_PRECISION_TARGET} on every set with "
        f">= {FAST_PATH_MIN_COUNT} verbatim answers)"
    ]
    for language, choice in languages.items():
        sets = list(choice["sets"])
        lines.append(
            f"  {language}: margin  cosine  agreement     net  "
            + "  ".join(f"{name[:30]:>30}" for name in sets)
            + "  (verbatim / wrong / precision / coverage)"
        )
        for row in choice["by_margin"]:
            point = row["certainty"]
            cells = (
                f"{f['fast_path_count']} / {f['fast_path_wrong']} / "
                f"{cell(f['fast_path_precision'])} / {cell(f['fast_path_coverage'])}"
                for f in row["sets"].values()
            )
            lines.append(
                f"      {point['margin']:>10.3f}  {point['fast_path']:>6.2f}  "
                f"{point['agreement']:>9.2f}  {row['gain']:>6}  "
                + "  ".join(f"{c:>30}" for c in cells)
            )
        chosen, suffix = choice["chosen"], "_ZH" if language == "zh" else ""
        met = "met" if choice["target_met"] else "NOT met"
        lines.append(
            f"    Chosen for {language} (target {met}): KNOWLEDGE_FAST_PATH_THRESHOLD{suffix}="
            f"{chosen['fast_path']:.2f} KNOWLEDGE_FAST_PATH_AGREEMENT{suffix}="
            f"{chosen['agreement']:.2f} KNOWLEDGE_FAST_PATH_MARGIN{suffix}={chosen['margin']:.3f}"
        )
    return lines


def shown(value: float, chosen: float) -> bool:
    return round(value * 100) % 5 == 0 or value == chosen


def score_lines(separation: dict[str, Any]) -> list[str]:
    lines = [
        f"Scores: AUROC in- vs out-of-scope; answered hit@1 at OOS recall {OOS_RECALL_TARGET} "
        "with the set's own threshold | with one threshold shared by all sets:"
    ]
    for score_name, row in separation.items():
        lines.append(f"  {score_name} (shared threshold {row['shared_threshold']:.3f})")
        for name, f in row.items():
            if name != "shared_threshold":
                lines.append(
                    f"    {name:24} {cell(f['auroc'])}  {cell(f['own']['answered_hit@1'])} "
                    f"(at {f['own_threshold']:.3f}) | {cell(f['shared']['answered_hit@1'])} "
                    f"(OOS recall {cell(f['shared']['oos_recall'])})"
                )
    return lines


def prediction_row(dataset: str, outcome: QueryOutcome) -> dict[str, Any]:
    answered = outcome.route != "no_answer" and outcome.ranked
    return {
        "dataset": dataset,
        "query": outcome.query,
        "expected_faq_id": outcome.expected,
        "predicted_faq_id": outcome.ranked[0] if answered else None,
        "route": outcome.route,
        "score": outcome.confidence,
        "ranked": outcome.ranked,
        "scores": [round(x, 4) for x in outcome.scores],
        "similarities": [round(x, 4) for x in outcome.similarities],
        "bm25_ranked": outcome.baseline_ranked,
        "bm25_scores": [round(x, 3) for x in outcome.baseline_scores],
    }


def predictions_write(path: Path, runs: list[FaqRun]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for run in runs:
            for outcome in run.outcomes:
                out.write(json.dumps(prediction_row(run.dataset.name, outcome), ensure_ascii=False))
                out.write("\n")


def intent_calibration_text(report: dict[str, Any]) -> str:
    """The threshold sweep on the calibrate half, the choice, and the report half's figures."""
    accuracy = cell(report["cross_validated"]["accuracy"])
    lines = [
        f"{report['dataset']}: {report['items']} examples {report['labels']}, "
        f"{report['folds']}-fold cross-validated accuracy {accuracy}",
        "threshold  handoff P/R    frustration P/R  ordinary handed (ruled) of N  [calibrate half]",
    ]
    for row in report["sweep"]:
        lines.append(intent_row_text(row))
    lines.append(
        f"Chosen: HANDOFF_INTENT_THRESHOLD={report['threshold']:.2f} (lowest with at most "
        f"{report['ordinary_handed_max']:.1%} of ordinary messages handed over and precision "
        f">= {report['precision_target']})"
    )
    lines.append("On the report half:")
    lines.append("  all " + intent_row_text(report["report"]))
    for language, row in report["report_languages"].items():
        lines.append(f"  {language}  " + intent_row_text(row))
    return "\n".join(lines)


def intent_row_text(row: dict[str, Any]) -> str:
    return (
        f"{row['threshold']:>9.2f}  {cell(row['handoff_precision'])}/{cell(row['handoff_recall'])}"
        f"    {cell(row['frustration_precision'])}/{cell(row['frustration_recall'])}"
        f"      {row['other_handed']} ({row['other_ruled']}) of {row['other_count']}"
    )


ANSWER_ROWS = (
    ("answered_right", "in-scope answered right"),
    ("fact_stated", "  of which state a fact"),
    ("declined_in_scope", "in-scope declined"),
    ("invented_out_of_scope", "out-of-scope invented"),
    ("f1", "token F1"),
    ("rougeL", "ROUGE-L"),
    ("ttft_ms_p50", "grounded TTFT p50 ms"),
    ("ttft_ms_p99", "grounded TTFT p99 ms"),
)


def answers_lines(figures: dict[str, Any]) -> list[str]:
    """`evaluate answers` as a table: all queries, then each language."""
    languages = figures["languages"]
    lines = [
        f"\n{figures['dataset']}: {figures['queries']} queries ({figures['out_of_scope']} "
        f"out-of-scope), {figures['faqs']} FAQs, {figures['documents']} documents",
        f"{'':26}{'all':>10}" + "".join(f"{lang:>10}" for lang in languages),
    ]
    for key, label in ANSWER_ROWS:
        cells = [figures.get(key), *(languages[lang].get(key) for lang in languages)]
        lines.append(f"{label:26}" + "".join(f"{cell(v):>10}" for v in cells))
    lines.append(f"routes: {figures['routes']}")
    for language, table in figures.get("threshold_sweep", {}).items():
        shipped = shipped_thresholds(language)
        lines.append(
            f"{language}: check threshold, grounding threshold: in-scope kept / answered right / "
            f"out-of-scope invented (the check's sweep without grounding, then the grounding's "
            f"at the shipped check threshold {shipped[0]})"
        )
        lines += [
            sweep_line(row)
            for row in table
            if row["grounding"] == 0.0 or row["threshold"] == shipped[0]
        ]
        best = figures["threshold_best"][language]
        lines.append(f"  most right less invented: {sweep_line(best).strip()}")
    return lines


def shipped_thresholds(language: str) -> tuple[float, float]:
    from chat.answers import language_threshold

    return (
        language_threshold("KNOWLEDGE_CHECK_THRESHOLD", language),
        language_threshold("KNOWLEDGE_GROUNDING_THRESHOLD", language),
    )


def sweep_line(row: dict[str, Any]) -> str:
    return (
        f"  {row['threshold']:>5}, {row['grounding']:>4}: {cell(row['in_scope_kept'])} / "
        f"{cell(row['answered_right'])} / {cell(row['invented_out_of_scope'])}"
    )
