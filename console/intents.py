"""The handoff's intent classifier: a visitor's message -> handoff, frustration, refund, ….

A small head (one hidden layer) over the sentence encoder's embeddings
(knowledge.embeddings: the vector retrieval computed for the same message, cached), trained
with torch in the batch worker and served here with numpy; the web process never imports
torch. The shipped default head (data/intent_head.npz, rewritten by `manage.py
intent_export`) is trained from data/intent_examples.jsonl; a site's IntentModel is trained
from those examples plus its own IntentExample rows (intent_model_train).
"""

import io
import json
import logging
import random
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from console.models import IntentExample, IntentModel
from inference.training import small_training
from knowledge.embeddings import embed
from sites.models import Site

log = logging.getLogger(__name__)

INTENT_LABELS = ("handoff", "frustration", "refund", "complaint", "legal", "other")
DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_EXAMPLES = DATA_DIR / "intent_examples.jsonl"
DEFAULT_HEAD = DATA_DIR / "intent_head.npz"
MAX_TEXT_CHARS = 1000  # as knowledge.search.MAX_QUERY_CHARS, so the cached vector is shared
HEADS_CACHED = 64  # sites' heads kept loaded per process
HELD_OUT = 0.2  # share of each label's examples a site's accuracy is measured on

# Training (chosen on the default examples' cross-validation, see evaluation/intents.py)
HIDDEN = 256
EPOCHS = 200
LEARNING_RATE = 3e-3
WEIGHT_DECAY = 1e-2
DROPOUT = 0.1
LABEL_SMOOTHING = 0.05  # keeps probabilities below 1, so a threshold still means something


class IntentDataError(Exception):
    """An examples file holds a line that cannot be used."""


@dataclass(frozen=True)
class Intent:
    label: str
    probability: float
    scores: dict[str, float]


@dataclass(frozen=True)
class Example:
    text: str
    label: str


@dataclass(frozen=True)
class IntentHead:
    """Exported weights: ReLU between the layers, softmax after the last one."""

    labels: tuple[str, ...]
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weight (in, out), bias (out,))

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """(N, len(labels)) softmax probabilities of (N, 512) embeddings."""
        x = np.asarray(vectors, dtype=np.float32)
        for i, (weight, bias) in enumerate(self.layers):
            x = x @ weight + bias
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        x = x - x.max(axis=1, keepdims=True)
        exp = np.exp(x)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))

    def classify(self, vector: np.ndarray) -> Intent:
        row = self.probabilities(vector[None, :])[0]
        best = int(row.argmax())
        scores = {label: round(float(p), 4) for label, p in zip(self.labels, row, strict=True)}
        return Intent(self.labels[best], float(row[best]), scores)


# Serving -------------------------------------------------------------------------------

_heads: dict[int, tuple[datetime, IntentHead]] = {}  # site id -> (trained_at, head)
_heads_lock = threading.Lock()


def intent_classify(site: Site | None, text: str) -> Intent:
    """The message's most likely intent under the site's classifier (its IntentModel, else
    the shipped default head), with every label's probability."""
    text = text.strip()[:MAX_TEXT_CHARS]
    head = site_head(site)
    if not text:
        return Intent("other", 1.0, {label: float(label == "other") for label in head.labels})
    return head.classify(embed([text])[0])


def site_head(site: Site | None) -> IntentHead:
    """The site's trained head, loaded again when it was retrained; else the default."""
    if site is None:
        return default_head()
    trained_at = (
        IntentModel.objects.filter(site_id=site.id).values_list("trained_at", flat=True).first()
    )
    if trained_at is None:
        return default_head()
    with _heads_lock:
        cached = _heads.get(site.id)
    if cached is not None and cached[0] == trained_at:
        return cached[1]
    model = IntentModel.objects.filter(site_id=site.id).only("weights", "trained_at").first()
    if model is None:
        return default_head()
    try:
        head = head_from_bytes(bytes(model.weights))
    except (ValueError, KeyError, OSError):
        log.exception("intent model of site %s does not load; using the default", site.id)
        return default_head()
    with _heads_lock:
        _heads.pop(site.id, None)
        _heads[site.id] = (model.trained_at, head)
        while len(_heads) > HEADS_CACHED:  # about 0.5 MB each: forget the oldest loaded
            del _heads[next(iter(_heads))]
    return head


@cache
def default_head() -> IntentHead:
    return head_from_bytes(DEFAULT_HEAD.read_bytes())


def head_to_bytes(head: IntentHead) -> bytes:
    """The head as an .npz of plain arrays (no pickle)."""
    arrays: dict[str, np.ndarray] = {"labels": np.array(head.labels, dtype=np.str_)}
    for i, (weight, bias) in enumerate(head.layers):
        arrays[f"w{i}"] = weight.astype(np.float32)
        arrays[f"b{i}"] = bias.astype(np.float32)
    out = io.BytesIO()
    np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


def head_from_bytes(raw: bytes) -> IntentHead:
    with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
        labels = tuple(str(label) for label in npz["labels"])
        count = sum(1 for name in npz.files if name.startswith("w"))
        layers = tuple((npz[f"w{i}"], npz[f"b{i}"]) for i in range(count))
    if not layers or layers[-1][0].shape[1] != len(labels):
        raise ValueError("the weights do not match the labels")
    return IntentHead(labels, layers)


# Examples ------------------------------------------------------------------------------


def examples_read(path: Path) -> list[Example]:
    """JSON Lines with `text` and `label`, validated."""
    examples = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise IntentDataError(f"{path.name} line {n}: not JSON") from exc
        text, label = row.get("text"), row.get("label")
        if not isinstance(text, str) or not text.strip() or not isinstance(label, str):
            raise IntentDataError(f"{path.name} line {n}: needs a 'text' and a 'label' string")
        examples.append(Example(text.strip(), label.strip()))
    return examples


@cache
def default_examples() -> tuple[Example, ...]:
    return tuple(examples_read(DEFAULT_EXAMPLES))


def site_examples(site_id: int) -> list[Example]:
    """The defaults and the site's own rows; a site's row relabels a default of that text."""
    own = [
        Example(text.strip(), label.strip())
        for text, label in IntentExample.objects.filter(site_id=site_id).values_list(
            "text", "label"
        )
        if text.strip() and label.strip()
    ]
    texts = {example.text for example in own}
    return [e for e in default_examples() if e.text not in texts] + own


def examples_split(
    examples: list[Example], *, held_out: float = HELD_OUT, seed: int = 0
) -> tuple[list[Example], list[Example]]:
    """(train, test): a seeded share of each label's examples held out; a label with fewer
    than 5 examples stays whole in train."""
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
    by_label: dict[str, list[Example]] = {}
    for example in examples:
        by_label.setdefault(example.label, []).append(example)
    train, test = [], []
    for label in sorted(by_label):
        rows = list(by_label[label])
        rng.shuffle(rows)
        n = round(len(rows) * held_out) if len(rows) >= 5 else 0
        test += rows[:n]
        train += rows[n:]
    return train, test


@cache
def _default_vectors() -> np.ndarray:
    vectors = embed([example.text for example in default_examples()])
    vectors.setflags(write=False)
    return vectors


def examples_embed(examples: list[Example]) -> np.ndarray:
    """Embeddings of the examples; the defaults' are computed once per process."""
    defaults = {e.text: i for i, e in enumerate(default_examples())}
    missing = sorted({e.text for e in examples if e.text not in defaults})
    fresh = dict(zip(missing, embed(missing), strict=True))
    known = _default_vectors() if len(missing) < len(examples) else None
    rows = [
        fresh[e.text] if e.text in fresh else known[defaults[e.text]]  # type: ignore[index]
        for e in examples
    ]
    return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 512), np.float32)


# Training (the batch worker) -----------------------------------------------------------


def intent_head_train(
    texts: list[str],
    labels: list[str],
    *,
    vectors: np.ndarray | None = None,
    hidden: int = HIDDEN,
    epochs: int = EPOCHS,
    seed: int = 0,
) -> IntentHead:
    """Train a head on labelled texts (or their `vectors`, already embedded) with torch,
    deterministically for a seed; the result holds numpy arrays only. Each label weighs
    the same in the loss whatever its number of examples, so a site's new label counts."""
    import torch  # the worker's dependency only (requirements-train.txt)

    if vectors is None:
        vectors = embed(texts)
    names = tuple(sorted(set(labels), key=_label_order))
    if len(names) < 2:
        raise ValueError("a classifier needs examples of at least two labels")
    index = {name: i for i, name in enumerate(names)}
    counts = Counter(labels)
    with small_training(seed):
        x = torch.from_numpy(np.ascontiguousarray(vectors, dtype=np.float32))
        y = torch.tensor([index[label] for label in labels])
        weight = torch.tensor([len(labels) / (len(names) * counts[n]) for n in names])
        layers: list[torch.nn.Module] = [torch.nn.Dropout(DROPOUT)]
        width = x.shape[1]
        if hidden:
            layers += [torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Dropout(DROPOUT)]
            width = hidden
        model = torch.nn.Sequential(*layers, torch.nn.Linear(width, len(names)))
        loss_of = torch.nn.CrossEntropyLoss(weight=weight, label_smoothing=LABEL_SMOOTHING)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=LEARNING_RATE, weight_decay=WEIGHT_DECAY
        )
        model.train()
        threads = torch.get_num_threads()
        # One thread: on a busy CPU, threads of a problem this small mostly wait on each
        # other (9 examples took 17 s with two threads, 0.2 s with one).
        torch.set_num_threads(1)
        try:
            for _ in range(epochs):  # full batch: a few thousand examples at most
                optimizer.zero_grad()
                loss_of(model(x), y).backward()
                optimizer.step()
        finally:
            torch.set_num_threads(threads)
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    exported = tuple(
        (m.weight.detach().numpy().T.copy(), m.bias.detach().numpy().copy()) for m in linears
    )
    return IntentHead(names, exported)


def _label_order(label: str) -> tuple[int, str]:
    """The default labels first, in their order; a site's own after them, sorted."""
    if label in INTENT_LABELS:
        return INTENT_LABELS.index(label), ""
    return len(INTENT_LABELS), label


def intent_accuracy(head: IntentHead, vectors: np.ndarray, labels: list[str]) -> float | None:
    if not labels:
        return None
    predicted = head.probabilities(vectors).argmax(axis=1)
    return float(
        np.mean([head.labels[p] == label for p, label in zip(predicted, labels, strict=True)])
    )


def intent_model_train_later(site_id: int) -> None:
    """Queue the site's training on the batch queue, once the current transaction commits."""
    from console.tasks import intent_model_train_task

    transaction.on_commit(
        lambda: intent_model_train_task.apply_async(args=(site_id,), queue=settings.BATCH_QUEUE)
    )


def intent_head_fit(examples: list[Example]) -> tuple[IntentHead, float | None]:
    """A head trained on all the examples, and the accuracy on a seeded held-out share of
    each label of a head trained without that share."""
    vectors = examples_embed(examples)
    row = {e: i for i, e in enumerate(examples)}
    train, test = examples_split(examples)
    train_rows, test_rows = [row[e] for e in train], [row[e] for e in test]
    checked = intent_head_train(
        [e.text for e in train], [e.label for e in train], vectors=vectors[train_rows]
    )
    accuracy = intent_accuracy(checked, vectors[test_rows], [e.label for e in test])
    head = intent_head_train(
        [e.text for e in examples], [e.label for e in examples], vectors=vectors
    )
    return head, accuracy


def intent_model_train(site_id: int) -> IntentModel:
    """Train the site's classifier on the default examples and its own, and store it with
    its held-out accuracy (intent_head_fit)."""
    examples = site_examples(site_id)
    head, accuracy = intent_head_fit(examples)
    with transaction.atomic():
        model, _ = IntentModel.objects.update_or_create(
            site_id=site_id,
            defaults={
                "weights": head_to_bytes(head),
                "labels": list(head.labels),
                "examples": len(examples),
                "accuracy": None if accuracy is None else round(accuracy, 4),
                "trained_at": timezone.now(),
            },
        )
    log.info("intent model of site %s: %s examples, accuracy %s", site_id, len(examples), accuracy)
    return model
