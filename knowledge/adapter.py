"""A site's query adapter: a linear map, learned from the site's own data, that moves a
question's vector towards the phrasings of the FAQ that answers it.

The packaged encoder knows language, not a company: "can I still change it" and "edit my
order" are far apart to it, while the site's own FAQ phrasings (and the questions staff
confirmed or corrected in the admin's Try it) say they mean one thing. The adapter is
`q -> normalize(q + q @ A)` over the encoder's query vector, with A (512 x 512) trained
with torch in the batch worker (seconds: a few hundred full-batch steps) to rank each
training question's own FAQ first against every other FAQ's phrasings (the FAQ's other
phrasings stand in for it, so a phrasing never matches itself). The stored vectors are
not touched; searching applies A with numpy (about 0.1 ms), so the web process imports no
torch. The adapter is kept only when it ranks questions held out of its training at least
as well as the encoder alone; a site without enough data, or whose adapter did worse,
searches as before.
"""

import io
import logging
import random
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from redis.exceptions import RedisError

from inference.training import small_training
from knowledge.embeddings import DIM, vectors_from_bytes
from knowledge.models import FaqEntry, FaqExample, FaqVector, QueryAdapter
from sites.models import Site
from webapp.redis import redis_key, redis_sync

log = logging.getLogger(__name__)

MIN_FAQS = 5  # FAQs with at least two training questions, below which nothing is trained
HELD_OUT = 0.25  # share of the questions (past each FAQ's first) that measure the adapter
# Training (chosen with `evaluate faq --adapter` on HWU64 and CLINC150, 3 phrasings per FAQ)
EPOCHS = 300
LEARNING_RATE = 3e-3
L2 = 1e-3  # on A: the map stays near the identity where the data says nothing
TEMPERATURE = 20.0  # cosine logits are scaled by this before the softmax over FAQs


@dataclass(frozen=True)
class Questions:
    """A site's questions as its search holds them (its FAQs' phrasings and the questions
    staff confirmed): their vectors and the FAQ (pk) each belongs to."""

    vectors: np.ndarray  # (N, DIM)
    faq_ids: np.ndarray  # (N,)

    def subset(self, mask: np.ndarray) -> "Questions":
        return Questions(self.vectors[mask], self.faq_ids[mask])


def site_questions(site_id: int) -> Questions:
    """The questions of the site's enabled FAQs as the search holds them: their phrasings and
    the questions staff confirmed for them (stored vectors; nothing is embedded here)."""
    kinds = (FaqVector.Kind.PHRASING, FaqVector.Kind.EXAMPLE)
    rows = FaqVector.objects.filter(faq__site_id=site_id, faq__enabled=True, kind__in=kinds)
    faq_ids, raws = [], []
    for faq_id, raw in rows.order_by("faq_id", "id").values_list("faq_id", "vector"):
        if len(raw) == DIM * 4:
            faq_ids.append(faq_id)
            raws.append(raw)
    matrix = vectors_from_bytes(raws) if raws else np.zeros((0, DIM), np.float32)
    ids = np.array(faq_ids, dtype=np.int64)
    return Questions(matrix.astype(np.float32), ids)


def adapter_fit(questions: Questions, *, epochs: int = EPOCHS, seed: int = 0) -> np.ndarray:
    """A (DIM x DIM) for `q -> normalize(q + q @ A)`, trained with torch (the batch worker).

    Each question is to rank its own FAQ first, an FAQ being the mean of its phrasings as
    the search holds them (not adapted); a phrasing is left out of its own FAQ's mean, and
    the sole phrasing of an FAQ, with nothing left to match, teaches nothing."""
    with small_training(seed) as torch:
        normalize, cross_entropy = torch.nn.functional.normalize, torch.nn.functional.cross_entropy
        classes, owner = np.unique(questions.faq_ids, return_inverse=True)
        x = torch.tensor(questions.vectors)
        labels = torch.tensor(owner)
        members = torch.nn.functional.one_hot(labels, len(classes)).float()
        sums = members.T @ x  # (FAQs, DIM): each FAQ's phrasings added up
        rest = sums[labels] - x  # the question's FAQ without the question
        useful = rest.norm(dim=1) > 1e-6
        x, labels, own = x[useful], labels[useful], normalize(rest[useful], dim=1)
        centroids = normalize(sums, dim=1)
        a = torch.zeros(DIM, DIM, requires_grad=True)
        optimizer = torch.optim.Adam([a], lr=LEARNING_RATE)
        for _ in range(epochs if len(x) else 0):
            q = normalize(x + x @ a, dim=1)
            logits = TEMPERATURE * (q @ centroids.T)
            mine = TEMPERATURE * (q * own).sum(1, keepdim=True)
            loss = cross_entropy(logits.scatter(1, labels[:, None], mine), labels)
            loss = loss + L2 * (a**2).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        return np.asarray(a.detach().numpy(), dtype=np.float32)


def adapted(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    """The query vector through the adapter, unit length again."""
    moved = vector + vector @ matrix
    norm = float(np.linalg.norm(moved))
    return np.asarray(moved / norm if norm > 1e-12 else vector, dtype=np.float32)


def ranking_hit1(questions: Questions, held: np.ndarray, matrix: np.ndarray | None) -> float:
    """hit@1 of the held-out questions against the FAQs' phrasings left in training (the mean
    and the closest of them, as the search weighs them), with or without the adapter."""
    from knowledge.search import BEST_WEIGHT, CENTROID_WEIGHT  # it imports this module

    index = ~held
    classes = np.unique(questions.faq_ids[index])
    vectors, owners = questions.vectors[index], questions.faq_ids[index]
    queries = questions.vectors[held]
    if matrix is not None:
        queries = np.vstack([adapted(matrix, q) for q in queries])
    sims = queries @ vectors.T
    scores = np.full((len(queries), len(classes)), -9.0, dtype=np.float32)
    for j, faq_id in enumerate(classes):
        rows = owners == faq_id
        centroid = vectors[rows].sum(0)
        centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
        scores[:, j] = BEST_WEIGHT * sims[:, rows].max(1) + CENTROID_WEIGHT * (queries @ centroid)
    best = classes[scores.argmax(1)]
    return float((best == questions.faq_ids[held]).mean())


def held_out_split(questions: Questions, seed: int = 0) -> np.ndarray:
    """A mask of held-out questions: a seeded HELD_OUT (at least one) of those that are not an
    FAQ's first phrasing, which stays, so every FAQ can still be found."""
    first: dict[int, int] = {}
    for row in range(len(questions.faq_ids)):
        first.setdefault(int(questions.faq_ids[row]), row)
    stays = set(first.values())
    candidates = [row for row in range(len(questions.faq_ids)) if row not in stays]
    rng = random.Random(seed)  # noqa: S311 - a reproducible split, not a secret
    rng.shuffle(candidates)
    held = np.zeros(len(questions.faq_ids), dtype=bool)
    if candidates:
        held[candidates[: max(1, round(len(candidates) * HELD_OUT))]] = True
    return held


def adapter_train(site: Site) -> QueryAdapter | None:
    """Train the site's adapter and keep it if it ranks held-out questions at least as well
    as the encoder alone; otherwise (or without enough data) the site has none."""
    from knowledge.index import knowledge_changed

    try:
        import torch  # noqa: F401 - requirements-train.txt; a worker without it trains nothing
    except ImportError:
        log.warning("torch is not installed: no query adapter trained for site %s", site.id)
        return None
    questions = site_questions(site.id)
    _, counts = np.unique(questions.faq_ids, return_counts=True)
    if int((counts >= 2).sum()) < MIN_FAQS:
        deleted, _ = QueryAdapter.objects.filter(site=site).delete()
        if deleted:
            transaction.on_commit(lambda: knowledge_changed(site.id, faq_ids=()))
        return None
    held = held_out_split(questions)
    before = after = None
    if held.any():
        trial = questions.subset(~held)
        before = ranking_hit1(questions, held, None)
        after = ranking_hit1(questions, held, adapter_fit(trial))
    matrix = adapter_fit(questions)
    kept = before is None or after is None or after >= before
    adapter, _ = QueryAdapter.objects.update_or_create(
        site=site,
        defaults={
            "weights": matrix_to_bytes(matrix) if kept else b"",
            "trained_at": timezone.now(),
            "questions": len(questions.faq_ids),
            "faqs": len(counts),
            "held_out_hit1_before": before,
            "held_out_hit1_after": after,
            "active": kept,
        },
    )
    log.info(
        "query adapter of site %s: %s questions of %s FAQs, held-out hit@1 %s -> %s, %s",
        site.id, len(questions.faq_ids), len(counts), before, after,
        "kept" if kept else "not kept",
    )  # fmt: skip
    transaction.on_commit(lambda: knowledge_changed(site.id, faq_ids=()))
    return adapter


def example_confirm(*, faq: FaqEntry, question: str, user: Any = None) -> FaqExample:
    """Staff say `faq` answers `question` (the admin's Try it): the question is searched as one
    more phrasing of the FAQ, and the site's adapter is trained again with it."""
    from knowledge.search import MAX_QUERY_CHARS  # it imports this module

    text = " ".join(question.split())[:MAX_QUERY_CHARS]
    example, created = FaqExample.objects.get_or_create(
        faq=faq, text=text, defaults={"site_id": faq.site_id, "created_by": user}
    )
    if created:  # searched as soon as it is embedded; the embedding then queues the training
        from knowledge.services import faq_embed_schedule

        transaction.on_commit(lambda: faq_embed_schedule([faq.id]))
    return example


def adapter_train_later(site_id: int) -> None:
    """Queue the site's training on the batch queue after the current transaction commits,
    ADAPTER_TRAIN_DELAY seconds on, once for every change made meanwhile (a bulk import
    embeds its FAQs in many chunks)."""
    from knowledge.tasks import adapter_train_task

    def queue() -> None:
        key = redis_key("knowledge", "adapter_queued", site_id)
        delay = settings.KNOWLEDGE_ADAPTER_TRAIN_DELAY
        try:
            if not redis_sync().set(key, "1", nx=True, ex=max(1, int(delay))):
                return  # one is queued already and will see this change too
        except RedisError:
            log.warning("could not coalesce adapter trainings of site %s", site_id, exc_info=True)
        adapter_train_task.apply_async(args=(site_id,), queue=settings.BATCH_QUEUE, countdown=delay)

    if settings.KNOWLEDGE_ADAPTER:
        transaction.on_commit(queue)


def matrix_to_bytes(matrix: np.ndarray) -> bytes:
    out = io.BytesIO()
    np.save(out, matrix.astype(np.float32), allow_pickle=False)
    return out.getvalue()


def matrix_from_bytes(raw: bytes) -> np.ndarray:
    matrix = np.load(io.BytesIO(raw), allow_pickle=False)
    if matrix.shape != (DIM, DIM):
        raise ValueError(f"an adapter of shape {matrix.shape}")
    return np.asarray(matrix, dtype=np.float32)


def site_stamp(site_id: int) -> object:
    """When the site's adapter was last trained (None: never); one small query."""
    return QueryAdapter.objects.filter(site_id=site_id).values_list("trained_at", flat=True).first()


def site_matrix(site_id: int) -> tuple[object, np.ndarray | None]:
    """(stamp, A) of the site's active adapter, or (stamp, None) when it has none."""
    row = (
        QueryAdapter.objects.filter(site_id=site_id)
        .values_list("trained_at", "active", "weights")
        .first()
    )
    if row is None or not row[1] or not row[2]:
        return (row[0] if row else None), None
    try:
        return row[0], matrix_from_bytes(bytes(row[2]))
    except (ValueError, OSError, EOFError):
        log.exception("the query adapter of site %s does not load; searching without", site_id)
        return row[0], None
