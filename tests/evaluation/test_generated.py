"""`evaluate summarize` and `evaluate translate` on tiny sets with the packaged small model:
the figures a team reads, the baselines beside them, predictions in input order."""

import io
import json

import pytest
from django.core.management import CommandError, call_command

from evaluation.models import EvaluationReport
from summarize.models import Summary
from translate.models import Translation

pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command("evaluate", *args, "--json", stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_evaluate_summarize_scores_rouge_beside_lead_3_and_cleans_up(tmp_path):
    dataset = tmp_path / "dialogues.jsonl"
    rows = [
        {"dialogue": "Anna: Is the shop open on Sunday?\nBen: Yes, from 10 to 4.\nAnna: Thanks!",
         "summary": "The shop is open on Sunday from 10 to 4."},
        {"document": "The council approved a new park. It will open in May. It has a lake.",
         "references": ["A new park with a lake opens in May.", "Council approves park."]},
    ]  # fmt: skip
    dataset.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    predictions = tmp_path / "predictions.jsonl"
    (figures,) = run("summarize", "--dataset", str(dataset), "--predictions", str(predictions))
    assert figures["items"] == 2
    for key in ("rouge1", "rouge2", "rougeL", "baseline_rougeL", "extractive_rougeL"):
        assert 0 <= figures[key] <= 1, key
    lines = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert len(lines) == 2 and all(line["summary"] and line["method"] for line in lines)
    assert EvaluationReport.objects.filter(task="summarize").exists()
    assert not Summary.objects.exists()  # the scratch site went with its summaries


def test_evaluate_translate_scores_bleu_and_chrf_beside_the_plain_prompt(tmp_path):
    dataset = tmp_path / "en-zh.jsonl"
    pairs = [
        ("The president visited London.", "总统访问了伦敦。"),
        ("The market is closed.", "市场关闭了。"),
    ]
    rows = [{"src": src, "ref": ref, "src_lang": "en", "tgt_lang": "zh"} for src, ref in pairs]
    dataset.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    glossary = tmp_path / "glossary.csv"
    glossary.write_text("source_lang,target_lang,source,target,keep\nen,zh,London,伦敦,\n")
    predictions = tmp_path / "predictions.jsonl"
    (figures,) = run(
        "translate", "--dataset", str(dataset), "--predictions", str(predictions),
        "--glossary", str(glossary),
    )  # fmt: skip
    assert figures["items"] == 1  # only the item containing a glossary term
    assert figures["glossary_occurrences"] == 1 and figures["glossary_respected"] in (0.0, 1.0)
    for key in ("bleu", "chrf", "baseline_chrf", "baseline_bleu"):
        assert figures[key] >= 0, key
    (line,) = [json.loads(line) for line in predictions.read_text().splitlines()]
    assert line["src"] == rows[0]["src"] and line["hyp"]
    assert not Translation.objects.exists()


def test_a_translation_set_with_an_unknown_language_is_refused(tmp_path):
    dataset = tmp_path / "bad.jsonl"
    dataset.write_text(json.dumps({"src": "x", "ref": "y", "src_lang": "en", "tgt_lang": "fr"}))
    with pytest.raises(CommandError, match="languages"):
        run("translate", "--dataset", str(dataset))
