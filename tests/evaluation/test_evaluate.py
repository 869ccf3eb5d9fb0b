"""`manage.py evaluate faq` end to end on a tiny English + Chinese dataset with the real
embeddings, the figure functions on hand-made cases, and the report admin."""

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from evaluation.metrics import (
    Certainty,
    QueryOutcome,
    auroc,
    certainty_choose,
    hit_at_k,
    mean_reciprocal_rank,
    percentile,
    precision_recall,
    rank_of,
    ranking_figures,
    routing_figures,
    score_separation,
    thresholds_choose,
)
from evaluation.models import EvaluationReport
from knowledge.models import FaqEntry
from sites.models import Site
from tests.factories import UserFactory

TINY = Path(__file__).parent / "data" / "tiny"
REPORT_KEYS = {"hit@1", "hit@5", "mrr", "oos_precision", "oos_recall", "latency_ms_p50"}


def evaluate(*args: str) -> list[dict[str, Any]]:
    out = io.StringIO()
    call_command("evaluate", "faq", "--json", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def evaluate_answers(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("evaluate", "answers", "--json", *args, stdout=out)
    [report] = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    return report


def shop_with(tmp_path: Path, queries: list[dict[str, Any]]) -> Path:
    """The tiny dataset's FAQs with these queries."""
    data = tmp_path / "shop"
    shutil.copytree(TINY, data)
    lines = [json.dumps(row, ensure_ascii=False) for row in queries]
    (data / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return data


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.django_db
def test_evaluate_faq_reports_the_figures_beside_bm25_and_cleans_up(tmp_path):
    sites_before = Site.objects.count()
    predictions = tmp_path / "predictions.jsonl"
    [report] = evaluate("--dataset", str(TINY), "--predictions", str(predictions))

    assert REPORT_KEYS | {"latency_ms_p99", "routes", "baseline"} <= set(report)
    assert set(report["baseline"]) >= REPORT_KEYS
    assert report["queries"] == 12 and report["out_of_scope"] == 2
    assert sum(report["routes"].values()) == 12
    assert report["latency_ms_p50"] > 0

    rows = read_lines(predictions)
    assert len(rows) == 12
    assert all({"query", "predicted_faq_id", "route", "score"} <= set(row) for row in rows)
    exact = [row for row in rows if row["query"] in exact_questions()]
    assert len(exact) == 5
    # An FAQ's own question finds that FAQ first and gets its approved answer verbatim.
    assert all(row["ranked"][0] == row["expected_faq_id"] for row in exact)
    assert all(row["bm25_ranked"][0] == row["expected_faq_id"] for row in exact)
    assert all(row["route"] == "fast_path" for row in exact)
    assert all(row["predicted_faq_id"] == row["expected_faq_id"] for row in exact)

    saved = EvaluationReport.objects.get()
    assert (saved.task, saved.dataset) == ("faq", "tiny")
    assert saved.metrics["hit@1"] == report["hit@1"]
    assert saved.params["faqs"] == 5
    assert Site.objects.count() == sites_before
    assert not FaqEntry.objects.exists()


def exact_questions() -> set[str]:
    return {row["question"] for row in read_lines(TINY / "faqs.jsonl")}


@pytest.mark.django_db
def test_exact_questions_alone_score_a_perfect_hit_at_1(tmp_path):
    dataset = tmp_path / "exact"
    dataset.mkdir()
    shutil.copy(TINY / "faqs.jsonl", dataset / "faqs.jsonl")
    queries = [
        json.dumps({"query": row["question"], "faq_id": row["faq_id"]}, ensure_ascii=False)
        for row in read_lines(TINY / "faqs.jsonl")
    ]
    (dataset / "queries.jsonl").write_text("\n".join(queries) + "\n", encoding="utf-8")
    [report] = evaluate("--dataset", str(dataset))
    assert report["hit@1"] == 1.0 and report["mrr"] == 1.0
    assert report["baseline"]["hit@1"] == 1.0
    assert report["oos_recall"] is None  # no out-of-scope query to find


@pytest.mark.django_db
def test_limit_draws_that_many_queries_and_thresholds_can_be_overridden():
    [report] = evaluate(
        "--dataset", str(TINY), "--limit", "4", "--no-answer-threshold", "0.99",
        "--fast-path-threshold", "0.995",
    )  # fmt: skip
    assert report["queries"] == 4
    assert report["params"]["thresholds"] == {"fast_path": 0.995, "no_answer": 0.99}


@pytest.mark.django_db
def test_calibrate_prints_the_thresholds_to_ship():
    out = io.StringIO()
    call_command("evaluate", "faq", "--dataset", str(TINY), "--calibrate", stdout=out)
    text = out.getvalue()
    assert "Chosen: KNOWLEDGE_NO_ANSWER_THRESHOLD=" in text
    assert "Scores: AUROC" in text and "top_minus_half_rest" in text


@pytest.mark.django_db
def test_the_calibrate_and_report_parts_split_the_queries_in_two(tmp_path):
    halves = {}
    for part in ("calibrate", "report"):
        predictions = tmp_path / f"{part}.jsonl"
        [report] = evaluate(
            "--dataset", str(TINY), "--part", part, "--predictions", str(predictions)
        )
        assert report["queries"] == 6 and report["params"]["part"] == part
        assert 0 <= report["fast_path_coverage"] <= 1
        halves[part] = {row["query"] for row in read_lines(predictions)}
    assert not halves["calibrate"] & halves["report"]
    everything = {row["query"] for row in read_lines(TINY / "queries.jsonl")}
    assert halves["calibrate"] | halves["report"] == everything


@pytest.mark.django_db
def test_calibrate_prints_the_fast_path_thresholds_of_each_language():
    out = io.StringIO()
    call_command("evaluate", "faq", "--dataset", str(TINY), "--calibrate", stdout=out)
    text = out.getvalue()
    assert "Chosen for en" in text and "KNOWLEDGE_FAST_PATH_MARGIN=" in text
    assert "Chosen for zh" in text and "KNOWLEDGE_FAST_PATH_MARGIN_ZH=" in text


@pytest.mark.django_db
def test_a_query_naming_an_unknown_faq_is_refused(tmp_path):
    shutil.copy(TINY / "faqs.jsonl", tmp_path / "faqs.jsonl")
    (tmp_path / "queries.jsonl").write_text('{"query": "hi", "faq_id": "nope"}\n')
    with pytest.raises(CommandError, match="no FAQ 'nope'"):
        evaluate("--dataset", str(tmp_path))
    assert not Site.objects.filter(slug__startswith="evaluation-").exists()


@pytest.mark.django_db
def test_evaluate_answers_asks_the_chat_and_judges_each_answer(tmp_path):
    data = shop_with(
        tmp_path,
        [
            {"query": "How do I get a refund?", "faq_id": "refund", "facts": ["14 days"]},
            {"query": "How long does delivery take?", "faq_id": "shipping", "facts": ["3 to 5"]},
            {"query": "What is the capital of Peru?", "faq_id": None},
        ],
    )
    predictions = tmp_path / "answers.jsonl"
    report = evaluate_answers("--dataset", str(data), "--predictions", str(predictions))
    assert {"answered_right", "declined_in_scope", "invented_out_of_scope", "f1", "rougeL"} <= set(
        report
    )
    assert "ttft_ms_p50" in report and report["languages"]["en"]["queries"] == 3
    assert report["in_scope"] == 2 and report["out_of_scope"] == 1
    rows = read_lines(predictions)
    refund = rows[0]  # in input order
    assert refund["query"] == "How do I get a refund?"
    assert refund["route"] == "fast_path" and refund["right"]  # its FAQ, verbatim
    assert refund["stated"] and report["languages"]["en"]["fact_stated"] >= 0.5
    assert EvaluationReport.objects.filter(task="answers").count() == 1


@pytest.mark.django_db
def test_evaluate_answers_measures_a_grounded_prompt_before_a_site_activates_it(
    tmp_path, monkeypatch
):
    import knowledge.prompts

    data = shop_with(
        tmp_path, [{"query": "How many days until my package is delivered?", "faq_id": "shipping"}]
    )
    used: list[str] = []
    active_text = knowledge.prompts.prompt_active_text

    def spy(*, site, kind):
        text = active_text(site=site, kind=kind)
        used.append(text)
        return text

    monkeypatch.setattr(knowledge.prompts, "prompt_active_text", spy)
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("Answer in one short sentence from these sources only.\n{sources}")
    report = evaluate_answers("--dataset", str(data), "--grounded-prompt", str(prompt))
    assert report["grounded_prompt"] == "given" and report["routes"] == {"grounded": 1}
    assert prompt.read_text() in used  # the answer's prompt was the one given
    assert not Site.objects.filter(slug__startswith="evaluation-").exists()

    prompt.write_text("Answer from the sources.")  # no {sources}: the sources would be lost
    with pytest.raises(CommandError, match="sources"):
        evaluate_answers("--dataset", str(data), "--grounded-prompt", str(prompt))
    assert not Site.objects.filter(slug__startswith="evaluation-").exists()


def test_answer_figures_on_hand_made_cases():
    from evaluation.answers import fact_stated, rouge_l, token_f1

    assert token_f1("Refunds take 14 days", "Refunds are issued within 14 days") == pytest.approx(
        2 * (3 / 4) * (3 / 6) / ((3 / 4) + (3 / 6))
    )
    assert token_f1("nothing alike", "Refunds within 14 days") == 0.0
    assert rouge_l("退款在14天内到账", "退款会在14天内到账") > 0.5  # Chinese scored on words
    assert fact_stated("<p>Within <b>14 days</b>.</p>", ["14 days"])
    assert not fact_stated("Within a fortnight.", ["14 days"])


@pytest.mark.django_db
def test_the_admin_draws_the_history_of_each_task_and_dataset(client):
    for hit in (0.5, 0.75):
        EvaluationReport.objects.create(
            task="faq", dataset="tiny", metrics={"hit@1": hit, "mrr": hit, "oos_recall": None}
        )
    client.force_login(UserFactory.create(is_staff=True, is_superuser=True))
    page = client.get("/admin/evaluation/evaluationreport/").content.decode()
    assert page.count('aria-label="History of faq on tiny"') == 1
    assert page.count("<polyline") == 2  # hit@1 and MRR; no OOS recall to draw
    assert "hit@1 0.750" in page
    newest = EvaluationReport.objects.latest("created_at")
    detail = client.get(f"/admin/evaluation/evaluationreport/{newest.pk}/change/")
    assert detail.status_code == 200
    assert client.get("/admin/evaluation/evaluationreport/add/").status_code == 403


# --- The figure functions ---------------------------------------------------------------


def outcome(expected, ranked, route="grounded", confidence=0.7):
    return QueryOutcome(
        query="q", expected=expected, ranked=ranked, scores=[], route=route,
        confidence=confidence, latency_ms=1.0,
    )  # fmt: skip


def test_rank_hit_at_k_and_mrr():
    ranks = [rank_of("a", ["a", "b"]), rank_of("b", ["a", "c", "b"]), rank_of("z", ["a", "b"])]
    assert ranks == [1, 3, None]
    assert hit_at_k(ranks, 1) == pytest.approx(1 / 3)
    assert hit_at_k(ranks, 5) == pytest.approx(2 / 3)
    assert mean_reciprocal_rank(ranks) == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert hit_at_k([], 1) is None and mean_reciprocal_rank([]) is None


def test_ranking_figures_count_only_in_scope_queries():
    figures = ranking_figures(["a", None, "b"], [["a"], ["a"], ["c", "d", "e", "f", "g", "b"]])
    assert figures == {"hit@1": 0.5, "hit@5": 0.5, "mrr": pytest.approx((1 + 1 / 6) / 2)}


def test_precision_and_recall_of_out_of_scope():
    predicted = [True, True, False, False, True]
    actual = [True, False, True, False, True]
    assert precision_recall(predicted, actual) == (pytest.approx(2 / 3), pytest.approx(2 / 3))
    assert precision_recall([False, False], [True, False]) == (None, 0.0)
    assert precision_recall([True], [False]) == (0.0, None)


def test_percentile_interpolates_between_ranks():
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.5
    assert percentile([5.0], 99) == 5.0
    assert percentile(list(map(float, range(101))), 99) == 99.0
    assert percentile([], 50) is None


def test_auroc_is_one_when_every_positive_scores_higher_and_half_on_ties():
    assert auroc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert auroc([0.1], [0.9]) == 0.0
    assert auroc([0.5, 0.5], [0.5]) == 0.5
    assert auroc([0.9, 0.4], [0.5, 0.1]) == 0.75
    assert auroc([], [0.1]) is None


def test_routing_figures_count_an_answer_right_only_with_the_right_faq_first():
    outcomes = [
        outcome("a", ["a", "b"], "fast_path"),  # right, fast
        outcome("a", ["b", "a"], "fast_path"),  # wrong FAQ first: a wrong verbatim answer
        outcome("b", ["b"], "grounded"),  # right
        outcome("b", ["b"], "no_answer"),  # refused though it was known
        outcome(None, ["a"], "no_answer"),  # out of scope, refused: right
        outcome(None, ["a"], "grounded"),  # out of scope, answered: invented
    ]
    figures = routing_figures(outcomes, [o.route for o in outcomes])
    assert figures["answered_hit@1"] == 0.5
    assert figures["in_scope_no_answer_rate"] == 0.25
    assert figures["fast_path_precision"] == 0.5
    assert figures["oos_precision"] == 0.5 and figures["oos_recall"] == 0.5


def by_threshold(o: QueryOutcome, fast: float, no_answer: float) -> str:
    if o.confidence >= fast:
        return "fast_path"
    return "no_answer" if o.confidence < no_answer else "grounded"


def test_calibration_picks_the_no_answer_threshold_meeting_both_targets_and_a_safe_fast_path():
    # 20 in-scope queries at 0.605..0.985, all found first but the one at 0.965; 10 out of
    # scope at 0.305..0.575. OOS recall reaches 0.8 from 0.52 on; answered hit@1 stays at
    # least 0.85 up to 0.64 (17 of 20).
    known = [outcome("a", ["a"], confidence=0.605 + i * 0.02) for i in range(20)]
    known[18].ranked = ["b"]
    unknown = [outcome(None, ["a"], confidence=0.305 + i * 0.03) for i in range(10)]
    outcomes = known + unknown
    for o in outcomes:
        o.scores = [o.confidence, o.confidence - 0.1]
    choice = thresholds_choose({"set": outcomes}, by_threshold)
    assert choice["targets_met"]
    assert choice["met_no_answer"] == [round(0.52 + i / 100, 2) for i in range(13)]
    assert choice["no_answer"]["no_answer"] == 0.52  # answers the most in-scope queries
    assert choice["no_answer"]["sets"]["set"]["answered_hit@1"] == 0.95
    # Below 0.61, 20 or more verbatim answers include a wrong one or an out-of-scope one.
    assert choice["fast_path"]["fast_path"] == 0.61
    confidence = score_separation({"set": outcomes})["confidence"]
    assert confidence["shared_threshold"] == 0.515  # the 8th lowest out-of-scope score
    assert confidence["set"]["auroc"] == 1.0
    assert confidence["set"]["own"] == {"answered_hit@1": 0.95, "oos_recall": 0.8}


def test_calibration_falls_back_to_the_macro_oos_recall_when_the_targets_cannot_be_met():
    # Half the in-scope queries find the wrong FAQ: answered hit@1 never reaches 0.85.
    known = [outcome("a", ["a" if i % 2 else "b"], confidence=0.7) for i in range(10)]
    set_a = known + [outcome(None, ["a"], confidence=0.40) for _ in range(10)]
    set_b = known + [outcome(None, ["a"], confidence=0.60) for _ in range(10)]
    choice = thresholds_choose({"a": set_a, "b": set_b}, by_threshold)
    assert not choice["targets_met"] and choice["met_no_answer"] == []
    # Recall is 1.0 on "a" above 0.40 and on "b" above 0.60: the mean reaches 0.8 at 0.61.
    assert choice["no_answer"]["no_answer"] == 0.61


def close_call(expected: str, top: str, similarity: float, runner_up: float) -> QueryOutcome:
    o = outcome(expected, [top, "other"])
    o.similarities = [similarity, runner_up]
    return o


def by_similarity_and_margin(o: QueryOutcome, point: Certainty) -> bool:
    top, runner_up = o.similarities
    return top >= point.fast_path and (top - runner_up) / (1 - runner_up) >= point.margin


def test_the_fast_path_margin_excludes_a_wrong_answer_unless_it_costs_199_right_ones():
    clear = [close_call("a", "a", 0.95, 0.4) for _ in range(60)]  # margin 0.92
    twin = close_call("a", "b", 0.95, 0.94)  # margin 0.17: another FAQ nearly as close
    choice = certainty_choose({"set": [*clear, twin]}, by_similarity_and_margin)
    # Any margin from 0.2 keeps the 60 and drops the twin; the strictest such point wins.
    assert choice["chosen"] == {"fast_path": 0.94, "agreement": 1.0, "margin": 0.9}
    assert choice["sets"]["set"]["fast_path_precision"] == 1.0 and choice["target_met"]
    # Excluding a wrong answer that sits among 250 right ones at the same margin costs more.
    crowded = [close_call("a", "a", 0.95, 0.94) for _ in range(250)]
    choice = certainty_choose({"set": [*crowded, twin]}, by_similarity_and_margin)
    assert choice["chosen"]["margin"] == 0.1  # the strictest that keeps the 250
    assert choice["sets"]["set"]["fast_path_wrong"] == 1 and choice["target_met"]  # 250 / 251
    # Among 150 it does not: one wrong in 151 (0.993) is under the calibration's 0.995.
    choice = certainty_choose({"set": [*crowded[:150], twin]}, by_similarity_and_margin)
    assert choice["sets"]["set"]["fast_path_wrong"] == 0
    assert [row["certainty"]["margin"] for row in choice["by_margin"]][:3] == [0.0, 0.1, 0.2]
