"""`manage.py evaluate_convert` on tiny copies of the public sets (tests/evaluation/data)."""

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

DATA = Path(__file__).parent / "data" / "shared"
FAQ_KEYS = {"faq_id", "question", "alt_questions", "answer", "tags", "language"}


def convert(
    source: str, out: Path, *args: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    call_command(
        "evaluate_convert", "--source", source, "--out", str(out), "--data", str(DATA), *args
    )
    return read(out / "faqs.jsonl"), read(out / "queries.jsonl")


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize("source", ["stackfaq", "clinc150", "hwu64", "lcqmc"])
def test_every_source_converts_to_faqs_and_queries_the_same_way_twice(source, tmp_path):
    faqs, queries = convert(source, tmp_path / "a")
    assert faqs and queries
    assert all(set(faq) == FAQ_KEYS and isinstance(faq["faq_id"], str) for faq in faqs)
    assert all(faq["question"] and faq["answer"] for faq in faqs)
    faq_ids = {faq["faq_id"] for faq in faqs}
    assert len(faq_ids) == len(faqs)
    assert all(set(q) == {"query", "faq_id"} for q in queries)
    assert all(q["faq_id"] is None or q["faq_id"] in faq_ids for q in queries)
    convert(source, tmp_path / "b")
    for name in ("faqs.jsonl", "queries.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_clinc150_makes_one_faq_per_intent_and_its_oos_rows_out_of_scope(tmp_path):
    faqs, queries = convert("clinc150", tmp_path)
    assert [faq["faq_id"] for faq in faqs] == ["alarm", "balance", "translate"]
    # 6 utterances per intent: at most half become phrasings, the rest stay queries.
    assert all(len(faq["alt_questions"]) == 2 for faq in faqs)
    assert "balance" in faqs[1]["answer"] and faqs[1]["tags"] == ["banking"]
    phrasings = {p for faq in faqs for p in [faq["question"], *faq["alt_questions"]]}
    assert not phrasings & {q["query"] for q in queries}
    assert [q["query"] for q in queries if q["faq_id"] is None] == [
        "how old is the universe",
        "what is the best pizza topping",
        "who won the world cup in 1998",
    ]
    assert len(queries) == 3 * 3 + 3


def test_hwu64_keeps_queries_for_an_intent_with_few_utterances(tmp_path):
    faqs, queries = convert("hwu64", tmp_path, "--phrasings", "3")
    by_id = {faq["faq_id"]: faq for faq in faqs}
    assert len(by_id["weather_query"]["alt_questions"]) == 2  # 3 of 7 utterances
    assert by_id["music_play"]["alt_questions"] == []  # 1 of 3: two are left to ask
    assert sum(q["faq_id"] == "music_play" for q in queries) == 2
    assert all(q["faq_id"] is not None for q in queries)


def test_lcqmc_groups_matching_sentences_and_takes_unmatched_ones_as_out_of_scope(tmp_path):
    faqs, queries = convert("lcqmc", tmp_path)
    assert [faq["question"] for faq in faqs] == [
        "英雄联盟什么英雄最好",
        "现在有什么动画片好看呢？",
        "怎么更改花呗手机号码",
    ]
    assert all(faq["language"] == "zh" for faq in faqs)
    cartoon = faqs[1]["faq_id"]
    assert [q["query"] for q in queries if q["faq_id"] == cartoon] == [
        "现在有什么好看的动画片吗？",
        "最近有什么好看的动画片",
    ]
    oos = [q["query"] for q in queries if q["faq_id"] is None]
    assert len(oos) == 1  # a fifth of the 4 in-scope queries
    assert oos[0] in {
        "这张高清图，谁有",
        "三星电子厂工资待遇怎么样啊",
        "杭州有什么好吃的",
        "梦见自己穿新衣服",
    }


def test_limit_keeps_fewer_faqs_and_shrinks_the_out_of_scope_share(tmp_path):
    faqs, queries = convert("clinc150", tmp_path, "--limit", "2")
    assert len(faqs) == 2
    assert sum(q["faq_id"] is None for q in queries) == 2  # 3 * 2/3
    assert {q["faq_id"] for q in queries} - {None} == {faq["faq_id"] for faq in faqs}


def test_holdout_turns_the_queries_of_withheld_faqs_out_of_scope(tmp_path):
    faqs, queries = convert("stackfaq", tmp_path, "--holdout", "0.34")
    assert len(faqs) == 2 and len(queries) == 6
    withheld = ({"0", "1", "2"} - {faq["faq_id"] for faq in faqs}).pop()
    original = read(DATA / "stackfaq" / "stackfaq_queries.jsonl")
    assert [q["faq_id"] is None for q in queries] == [
        str(row["faq_id"]) == withheld for row in original
    ]


def test_a_missing_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="No data folder"):
        call_command(
            "evaluate_convert", "--source", "hwu64", "--out", str(tmp_path), "--data", "/nowhere"
        )
