"""`evaluate intent`: the handoff's intent classifier (console.intents) on a JSON Lines set.

Each line has `text` and `label` (or `intent`, as CLINC150 and HWU64 name it); lines with
`is_oos` true are skipped, so the figures are in-scope ones. Without `per_intent`, the
shipped default head labels every line, beside a nearest class centroid of the shipped
examples. With `per_intent` N, a head is trained the product's way (intent_head_train) on N
seeded examples of each intent and tested on the rest, beside a nearest class centroid of
the same N embeddings. Accuracy and macro-F1 (over the labels seen or predicted).

`handoff_calibrate` chooses HANDOFF_INTENT_THRESHOLD: every example gets the probabilities
of a head trained on the other folds (5, seeded); the threshold is chosen on a seeded half
of them (calibrate) and its precision and recall reported on the other half (report). An
ordinary question handed to a person is the worse error: the rule is the lowest threshold
at which at most 0.5% of the ordinary ones are, with a precision of 0.95 or more.
"""

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from console.intents import (
    IntentHead,
    default_examples,
    default_head,
    examples_embed,
    intent_head_train,
)
from evaluation.faq import DatasetError
from evaluation.metrics import precision_recall
from evaluation.models import EvaluationReport
from knowledge.embeddings import embed
from knowledge.text import text_language

FOLDS = 5
ACTED_ON = ("handoff", "frustration")  # labels the handoff acts on whatever the site's rules
PRECISION_TARGET = 0.95  # of each of ACTED_ON on the calibrate half
ORDINARY_HANDED_MAX = 0.005  # share of the ordinary ("other") messages handed to a person
THRESHOLDS = tuple(round(0.30 + 0.05 * i, 2) for i in range(14))  # 0.30 … 0.95


@dataclass(frozen=True)
class Item:
    text: str
    label: str


@dataclass
class IntentRun:
    items: list[Item]
    predicted: list[str] = field(default_factory=list)
    probabilities: list[float] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    report: EvaluationReport | None = None


def items_read(path: Path) -> tuple[list[Item], int]:
    """The in-scope items of a JSON Lines file, and how many out-of-scope lines it skipped."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError as exc:
        raise DatasetError(f"missing {path}") from exc
    items, skipped = [], 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise DatasetError(f"line {n}: not JSON") from exc
        if row.get("is_oos"):
            skipped += 1
            continue
        text, label = row.get("text"), row.get("label", row.get("intent"))
        if not isinstance(text, str) or not text.strip() or not isinstance(label, str):
            raise DatasetError(f"line {n}: needs a 'text' and a 'label' (or 'intent') string")
        items.append(Item(text.strip(), label.strip()))
    if not items:
        raise DatasetError("no in-scope line")
    return items, skipped


def classification_figures(gold: list[str], predicted: list[str]) -> dict[str, float | None]:
    """Accuracy and macro-F1 (each label of gold or predicted weighs the same)."""
    if not gold:
        return {"accuracy": None, "macro_f1": None}
    pairs = list(zip(gold, predicted, strict=True))
    scores = []
    for label in sorted(set(gold) | set(predicted)):
        tp = sum(g == label and p == label for g, p in pairs)
        wrong = sum((g == label) != (p == label) for g, p in pairs)
        scores.append(2 * tp / (2 * tp + wrong) if tp else 0.0)
    return {
        "accuracy": round(sum(g == p for g, p in pairs) / len(pairs), 4),
        "macro_f1": round(float(np.mean(scores)), 4),
    }


def centroid_predict(vectors: np.ndarray, labels: list[str], queries: np.ndarray) -> list[str]:
    """The baseline: the label whose mean training embedding is nearest (cosine)."""
    names = sorted(set(labels))
    rows = np.array(labels)
    centroids = np.stack([vectors[rows == name].mean(axis=0) for name in names])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    return [names[i] for i in (queries @ centroids.T).argmax(axis=1)]


def per_intent_split(items: list[Item], n: int, seed: int = 0) -> tuple[list[int], list[int]]:
    """(train, test) row numbers: n seeded items of each intent to train on, the rest."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    by_label: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_label.setdefault(item.label, []).append(i)
    train, test = [], []
    for label in sorted(by_label):
        rows = by_label[label]
        picked = set(rng.sample(rows, min(n, len(rows))))
        train += [i for i in rows if i in picked]
        test += [i for i in rows if i not in picked]
    return sorted(train), sorted(test)


def intent_evaluate(
    *, path: Path, per_intent: int | None = None, seed: int = 0, save: bool = True
) -> IntentRun:
    """The classifier's accuracy and macro-F1 on the file, beside a nearest centroid."""
    items, skipped = items_read(path)
    vectors = embed([item.text for item in items])
    if per_intent:
        train, test = per_intent_split(items, per_intent, seed)
        train_labels = [items[i].label for i in train]
        head = intent_head_train(
            [items[i].text for i in train], train_labels, vectors=vectors[train], seed=seed
        )
        baseline = centroid_predict(vectors[train], train_labels, vectors[test])
    else:
        head, test = default_head(), list(range(len(items)))
        examples = list(default_examples())
        baseline = centroid_predict(examples_embed(examples), [e.label for e in examples], vectors)
    run = IntentRun([items[i] for i in test])
    probabilities = head.probabilities(vectors[test])
    run.predicted = [head.labels[j] for j in probabilities.argmax(axis=1)]
    run.probabilities = [round(float(p), 4) for p in probabilities.max(axis=1)]
    gold = [item.label for item in run.items]
    figures = classification_figures(gold, run.predicted)
    run.figures = {
        "dataset": path.stem,
        "intents": len({item.label for item in items}),
        "per_intent": per_intent,
        "train_items": len(items) - len(test),
        "test_items": len(test),
        "skipped_out_of_scope": skipped,
        **figures,
        **{f"baseline_{k}": v for k, v in classification_figures(gold, baseline).items()},
        "baseline": "nearest class centroid",
    }
    if save:
        run.report = EvaluationReport.objects.create(
            task="intent", dataset=path.stem, metrics=run.figures,
            params={"per_intent": per_intent, "seed": seed},
        )  # fmt: skip
    return run


def prediction_row(item: Item, predicted: str, probability: float) -> dict[str, Any]:
    return {"text": item.text, "label": item.label, "predicted": predicted, "p": probability}


# Calibrating the handoff threshold ---------------------------------------------------


def cross_probabilities(
    items: list[Item], vectors: np.ndarray, *, folds: int = FOLDS, seed: int = 0
) -> tuple[tuple[str, ...], np.ndarray]:
    """Each item's probabilities from a head trained on the other folds (seeded,
    stratified by label)."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible draw, not a secret
    fold_of = np.zeros(len(items), dtype=int)
    by_label: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        by_label.setdefault(item.label, []).append(i)
    for label in sorted(by_label):
        rows = by_label[label]
        rng.shuffle(rows)
        for k, i in enumerate(rows):
            fold_of[i] = k % folds
    labels: tuple[str, ...] = ()
    out = np.zeros((len(items), 0))
    for fold in range(folds):
        train = np.flatnonzero(fold_of != fold)
        head: IntentHead = intent_head_train(
            [items[i].text for i in train], [items[i].label for i in train],
            vectors=vectors[train], seed=seed,
        )  # fmt: skip
        if not labels:
            labels, out = head.labels, np.zeros((len(items), len(head.labels)))
        test = np.flatnonzero(fold_of == fold)
        out[test] = head.probabilities(vectors[test])
    return labels, out


def acted_figures(
    gold: list[str], predicted: list[str], top: np.ndarray, threshold: float
) -> dict[str, Any]:
    """Precision and recall of each acted-on label at the threshold, and the ordinary
    ("other") messages that would be handed to a person."""
    flagged = top >= threshold
    figures: dict[str, Any] = {"threshold": threshold}
    for label in ACTED_ON:
        hits = [bool(f) and p == label for f, p in zip(flagged, predicted, strict=True)]
        precision, recall = precision_recall(hits, [g == label for g in gold])
        figures[f"{label}_precision"] = None if precision is None else round(precision, 4)
        figures[f"{label}_recall"] = None if recall is None else round(recall, 4)
    ordinary = [i for i, g in enumerate(gold) if g == "other"]
    figures["other_handed"] = sum(bool(flagged[i]) and predicted[i] in ACTED_ON for i in ordinary)
    figures["other_ruled"] = sum(
        bool(flagged[i]) and predicted[i] not in (*ACTED_ON, "other") for i in ordinary
    )
    figures["other_count"] = len(ordinary)
    return figures


def threshold_choose(sweep: list[dict[str, Any]]) -> float:
    """The lowest threshold (most recall) at which at most ORDINARY_HANDED_MAX of the
    calibrate half's ordinary messages are handed to a person and each acted-on label's
    precision reaches the target."""
    for row in sweep:
        precise = all((row[f"{label}_precision"] or 0) >= PRECISION_TARGET for label in ACTED_ON)
        if row["other_handed"] <= ORDINARY_HANDED_MAX * row["other_count"] and precise:
            return float(row["threshold"])
    return float(sweep[-1]["threshold"])


def handoff_calibrate(*, path: Path, seed: int = 0, save: bool = True) -> dict[str, Any]:
    """Choose the handoff threshold on a calibrate half of cross-validated predictions and
    report precision and recall on the other half, in all and per language."""
    items, _ = items_read(path)
    vectors = embed([item.text for item in items])
    labels, probabilities = cross_probabilities(items, vectors, seed=seed)
    predicted = [labels[j] for j in probabilities.argmax(axis=1)]
    top = probabilities.max(axis=1)
    rows = list(range(len(items)))
    random.Random(seed).shuffle(rows)  # noqa: S311 - a reproducible draw, not a secret
    halves = {"calibrate": sorted(rows[::2]), "report": sorted(rows[1::2])}

    def figures_at(part: list[int], threshold: float) -> dict[str, Any]:
        return acted_figures(
            [items[i].label for i in part], [predicted[i] for i in part], top[part], threshold
        )

    sweep = [figures_at(halves["calibrate"], t) for t in THRESHOLDS]
    chosen = threshold_choose(sweep)
    report = {
        "dataset": path.stem,
        "items": len(items),
        "labels": dict(Counter(item.label for item in items)),
        "folds": FOLDS,
        "precision_target": PRECISION_TARGET,
        "ordinary_handed_max": ORDINARY_HANDED_MAX,
        "sweep": sweep,
        "threshold": chosen,
        "report": figures_at(halves["report"], chosen),
        "report_languages": {
            language: figures_at(
                [i for i in halves["report"] if text_language(items[i].text) == language],
                chosen,
            )
            for language in ("en", "zh")
        },
        "cross_validated": classification_figures([i.label for i in items], predicted),
    }
    if save:
        EvaluationReport.objects.create(
            task="intent_calibration", dataset=path.stem, metrics=report, params={"seed": seed}
        )
    return report
