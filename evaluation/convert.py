"""Turn the public intent and question-matching sets into one FAQ-retrieval layout.

A converted dataset is a folder with two JSON Lines files:

- `faqs.jsonl`: rows for `knowledge.services.faq_import` (`faq_id`, `question`,
  `alt_questions`, `answer`, `tags`, `language`);
- `queries.jsonl`: `{"query", "faq_id"}`, with `faq_id` null for an out-of-scope query.

How each source becomes FAQs and queries:

- **stackfaq**: the 125 FAQs as they are (question = the StackExchange title, answer = its
  top answer), the 1,249 paraphrases as queries.
- **clinc150**, **hwu64** (intent sets): per intent, `phrasings` utterances drawn at random
  become one FAQ (the first is the question, the rest `alt_questions`; never more than
  half of the intent's utterances) with a synthetic answer naming the intent; the other
  utterances are the queries. CLINC150's `oos` rows are out-of-scope queries.
- **lcqmc** (Chinese pairs): sentences joined by matching pairs form groups; a group
  becomes one FAQ (its first sentence in file order is the question) and its other
  sentences are queries. Out-of-scope queries are the second sentences of non-matching
  pairs in which neither sentence belongs to any group, so no FAQ was built from them;
  as many as `OOS_SHARE` of the in-scope queries are drawn. By default 1,000 of the 5,875
  groups are kept (`DEFAULT_LIMITS`): many groups ask the same thing in other words
  (吃口香糖能减肥吗 / 嚼口香糖能减肥吗), so in the full set a right answer from a twin FAQ
  counts as wrong; a sample has far fewer twins and is the size of a real FAQ.

Common options: `limit` keeps at most that many FAQs (drawn at random, their queries
with them; 0 keeps all); `holdout` withholds that fraction of the FAQs from `faqs.jsonl` and turns
their queries into out-of-scope ones (near-domain questions the knowledge does not
cover). Every draw uses `random.Random(0)` and keeps the source order, so a conversion
is the same on every run.
"""

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

OOS_SHARE = 0.2  # about CLINC150's own mix (1,000 out-of-scope beside 4,500 in-scope)
DEFAULT_PHRASINGS = 5
DEFAULT_LIMITS = {"lcqmc": 1000}  # FAQs kept when no limit is given (see above)

T = TypeVar("T")


@dataclass
class Faq:
    faq_id: str
    question: str
    answer: str
    alt_questions: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    language: str = "en"

    def row(self) -> dict[str, Any]:
        return {
            "faq_id": self.faq_id,
            "question": self.question,
            "alt_questions": self.alt_questions,
            "answer": self.answer,
            "tags": self.tags,
            "language": self.language,
        }


@dataclass
class Converted:
    faqs: list[Faq]
    queries: list[dict[str, Any]]  # {"query": str, "faq_id": str | None}


@dataclass(frozen=True)
class ConvertOptions:
    limit: int | None = None
    holdout: float = 0.0
    phrasings: int = DEFAULT_PHRASINGS


def seeded() -> random.Random:
    """The generator of every draw: seeded, so conversions and samples repeat exactly."""
    return random.Random(0)  # noqa: S311 - reproducible sampling, not secrets


def jsonl_read(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def jsonl_write(path: Path, rows: list[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def ordered_sample(rng: random.Random, items: list[Any], n: int) -> list[Any]:
    """`n` items drawn at random, in their original order."""
    if n >= len(items):
        return list(items)
    picked = set(rng.sample(range(len(items)), n))
    return [item for i, item in enumerate(items) if i in picked]


def queries_part(queries: list[T], part: str) -> list[T]:
    """A seeded half of the queries ("calibrate", "report": disjoint), or all of them, so
    that a threshold is chosen on one half and its figures reported on the other."""
    if part == "all":
        return queries
    calibrate = {id(q) for q in ordered_sample(seeded(), queries, len(queries) // 2)}
    return [q for q in queries if (id(q) in calibrate) == (part == "calibrate")]


def convert_stackfaq(data: Path, options: ConvertOptions) -> Converted:
    faqs = [
        Faq(
            faq_id=str(row["faq_id"]),
            question=row["question"].strip(),
            answer=(row["answers"] or [""])[0].strip() or row["question"],
        )
        for row in jsonl_read(data / "stackfaq" / "stackfaq_faqs.jsonl")
    ]
    queries = [
        {"query": row["query"].strip(), "faq_id": str(row["faq_id"])}
        for row in jsonl_read(data / "stackfaq" / "stackfaq_queries.jsonl")
    ]
    return scope(Converted(faqs, queries), options)


def intent_answer(intent: str) -> str:
    label = intent.replace("_", " ")
    return f"[{intent}] This is the approved answer about “{label}”."


def convert_intents(
    rows: list[dict[str, Any]], group_key: str, options: ConvertOptions
) -> Converted:
    """One FAQ per intent from a few held-apart utterances; the rest are queries."""
    rng = seeded()
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_intent.setdefault(row["intent"], []).append(row)
    by_intent.pop("oos", None)
    faqs: list[Faq] = []
    held: set[int] = set()
    for intent in sorted(by_intent):
        utterances = by_intent[intent]
        n = max(1, min(options.phrasings, len(utterances) // 2))
        picked = ordered_sample(rng, utterances, n)
        held.update(id(row) for row in picked)
        texts = [row["text"].strip() for row in picked]
        group = utterances[0].get(group_key)
        faqs.append(
            Faq(
                faq_id=intent,
                question=texts[0],
                alt_questions=texts[1:],
                answer=intent_answer(intent),
                tags=[group] if group else [],
            )
        )
    queries = [
        {"query": row["text"].strip(), "faq_id": None if row["intent"] == "oos" else row["intent"]}
        for row in rows
        if id(row) not in held
    ]
    return scope(Converted(faqs, queries), options)


def convert_clinc150(data: Path, options: ConvertOptions) -> Converted:
    rows = list(jsonl_read(data / "clinc150" / "clinc150_test.jsonl"))
    return convert_intents(rows, "domain", options)


def convert_hwu64(data: Path, options: ConvertOptions) -> Converted:
    rows = list(jsonl_read(data / "hwu64" / "hwu64_test.jsonl"))
    return convert_intents(rows, "scenario", options)


def sentence_groups(pairs: list[tuple[str, str]]) -> list[list[str]]:
    """Sentences joined by matching pairs (union-find), each group in first-seen order."""
    parent: dict[str, str] = {}

    def root(s: str) -> str:
        while parent[s] != s:
            parent[s] = parent[parent[s]]
            s = parent[s]
        return s

    for a, b in pairs:
        parent.setdefault(a, a)
        parent.setdefault(b, b)
        ra, rb = root(a), root(b)
        if ra != rb:
            parent[rb] = ra
    groups: dict[str, list[str]] = {}
    for sentence in parent:  # dicts keep insertion order: first-seen order
        groups.setdefault(root(sentence), []).append(sentence)
    return list(groups.values())


def lcqmc_answer(question: str) -> str:
    return f"（标准答案）关于“{question}”：这是经过审核的回答。"


def convert_lcqmc(data: Path, options: ConvertOptions) -> Converted:
    rows = [
        (row["text_a"].strip(), row["text_b"].strip(), row["label"])
        for row in jsonl_read(data / "lcqmc" / "lcqmc_test.jsonl")
    ]
    groups = sentence_groups([(a, b) for a, b, label in rows if label == 1 and a != b])
    faqs, queries = [], []
    for n, group in enumerate(groups):
        faq_id = f"lcqmc-{n}"
        faqs.append(Faq(faq_id, group[0], lcqmc_answer(group[0]), language="zh"))
        queries += [{"query": s, "faq_id": faq_id} for s in group[1:]]
    converted = scope(Converted(faqs, queries), options)
    grouped = {s for group in groups for s in group}
    unmatched = list(
        dict.fromkeys(
            b for a, b, label in rows if label == 0 and a not in grouped and b not in grouped
        )
    )
    in_scope = sum(q["faq_id"] is not None for q in converted.queries)
    oos = ordered_sample(seeded(), unmatched, round(in_scope * OOS_SHARE))
    converted.queries += [{"query": s, "faq_id": None} for s in oos]
    return converted


def convert_lcqmc_hard(data: Path, options: ConvertOptions) -> Converted:
    """Hard negatives for the fast path: LCQMC pairs labelled 0 look alike and differ in
    meaning. Each pair's first sentence is an FAQ, its second a query that none answers;
    pairs labelled 1 give the in-scope queries among them. A verbatim answer to a negative
    is the failure that matters: the right-looking FAQ, the wrong meaning."""
    rows = [
        (row["text_a"].strip(), row["text_b"].strip(), row["label"])
        for row in jsonl_read(data / "lcqmc" / "lcqmc_test.jsonl")
        if row["text_a"].strip() != row["text_b"].strip()
    ]
    rng = seeded()
    limit = options.limit or 1000
    positives = ordered_sample(rng, [r for r in rows if r[2] == 1], limit // 2)
    negatives = ordered_sample(rng, [r for r in rows if r[2] == 0], limit - len(positives))
    ids: dict[str, str] = {}
    faqs = []
    for a, _, _ in positives + negatives:
        if a not in ids:
            ids[a] = f"hard-{len(ids)}"
            faqs.append(Faq(ids[a], a, lcqmc_answer(a), language="zh"))
    asked = set(ids)  # a query that is itself an FAQ's question would be answered by it
    queries = [{"query": b, "faq_id": ids[a]} for a, b, _ in positives if b not in asked]
    queries += [{"query": b, "faq_id": None} for _, b, _ in negatives if b not in asked]
    return Converted(faqs, queries)


def scope(converted: Converted, options: ConvertOptions) -> Converted:
    """Apply `limit` (keep that many FAQs; the source's own out-of-scope queries shrink in
    proportion) and `holdout` (withhold that share of FAQs; their queries go out of scope)."""
    rng = seeded()
    faqs = converted.faqs
    native_oos = [q for q in converted.queries if q["faq_id"] is None]
    if options.limit is not None and options.limit < len(faqs):
        faqs = ordered_sample(rng, faqs, options.limit)
        share = len(faqs) / len(converted.faqs)
        native_oos = ordered_sample(rng, native_oos, round(len(native_oos) * share))
    kept = {faq.faq_id for faq in faqs}
    kept_oos = {id(q) for q in native_oos}
    withheld = {f.faq_id for f in ordered_sample(rng, faqs, round(len(faqs) * options.holdout))}
    queries = []
    for query in converted.queries:
        faq_id = query["faq_id"]
        if (faq_id is None and id(query) not in kept_oos) or (
            faq_id is not None and faq_id not in kept
        ):
            continue
        queries.append({**query, "faq_id": None if faq_id in withheld else faq_id})
    return Converted([f for f in faqs if f.faq_id not in withheld], queries)


CONVERTERS: dict[str, Callable[[Path, ConvertOptions], Converted]] = {
    "stackfaq": convert_stackfaq,
    "clinc150": convert_clinc150,
    "hwu64": convert_hwu64,
    "lcqmc": convert_lcqmc,
    "lcqmc_hard": convert_lcqmc_hard,
}


def dataset_convert(*, source: str, data: Path, out: Path, options: ConvertOptions) -> Converted:
    """Convert one source under `data` and write `faqs.jsonl` and `queries.jsonl` to `out`."""
    if options.limit is None:
        options = replace(options, limit=DEFAULT_LIMITS.get(source))
    elif options.limit == 0:
        options = replace(options, limit=None)
    converted = CONVERTERS[source](data, options)
    out.mkdir(parents=True, exist_ok=True)
    jsonl_write(out / "faqs.jsonl", [faq.row() for faq in converted.faqs])
    jsonl_write(out / "queries.jsonl", converted.queries)
    return converted
