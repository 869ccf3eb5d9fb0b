"""Per-site retrieval index held in each process: FAQ phrasings and document passages, each
a dense matrix plus BM25, built from the vectors stored in the database (never re-embedded).

Freshness: writers call `knowledge_changed(site_id, ...)` on commit. It bumps a per-site
version in Redis and logs which FAQs / documents changed. A search reads the version (one
GET); when it moved, the index applies just the logged groups, or, when the log does not
cover the gap (or every RECHECK_SECONDS), diffs per-group signatures with the database.
Rows (knowledge.segment) are only appended and tombstoned, so searches read without locks;
once appended or dead rows pile up, a background thread loads a fresh index and swaps it in.
"""

import json
import logging
import math
import threading
import time
from collections.abc import Collection, Iterable, Iterator
from dataclasses import replace
from typing import Any, cast

import numpy as np
from django.db import connection
from django.db.models import Count, Max
from redis.exceptions import RedisError

from knowledge.adapter import adapted, site_matrix, site_stamp
from knowledge.embeddings import DIM, vectors_from_bytes
from knowledge.models import FaqEntry, FaqVector, Passage
from knowledge.segment import FaqMeta, Group, PassageMeta, Segment, Unit
from knowledge.text import tokens_loaded
from webapp.redis import redis_key, redis_sync

logger = logging.getLogger(__name__)

LOG_KEEP = 1000  # change-log entries kept per site
RECHECK_SECONDS = 300.0  # a full signature diff at least this often (Redis restarts, stray edits)
REBUILD_RETRY_SECONDS = 60.0
ID_CHUNK = 5000  # ids per IN (...) query

_CHANGED_SCRIPT = """
local v = redis.call('INCR', KEYS[1])
redis.call('RPUSH', KEYS[2], v .. ' ' .. ARGV[1])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
return v
"""


# --- Loading from the database --------------------------------------------------------------


def _chunks(ids: Collection[int] | None) -> Iterator[list[int] | None]:
    if ids is None:
        yield None
        return
    ordered = sorted(ids)
    for start in range(0, len(ordered), ID_CHUNK):
        yield ordered[start : start + ID_CHUNK]


def faq_groups(
    site_id: int, faq_ids: Collection[int] | None = None
) -> tuple[dict[int, Group], dict[int, Group]]:
    """Enabled FAQs of the site (all, or those of `faq_ids`) that have vectors: the groups
    of the question segment (one unit per FAQ, a row per phrasing) and of the answer
    segment (a unit per piece of the answer), both keyed by FAQ id."""
    questions: dict[int, Group] = {}
    answers: dict[int, Group] = {}
    for chunk in _chunks(faq_ids):
        entries = FaqEntry.objects.filter(site_id=site_id, enabled=True)
        if chunk is not None:
            entries = entries.filter(id__in=chunk)
        by_id = {e.id: e for e in entries.only("external_id", "question", "answer", "updated_at")}
        vectors = FaqVector.objects.filter(faq__site_id=site_id, faq__enabled=True)
        if chunk is not None:
            vectors = vectors.filter(faq_id__in=chunk)
        vectors = vectors.order_by("faq_id", "id")
        rows: dict[int, list[tuple[int, str, str, bytes | memoryview, str | None]]] = {}
        fields = ("id", "faq_id", "kind", "text", "vector", "tokens")
        for vector_id, faq_id, kind, text, raw, tokens in vectors.values_list(*fields):
            if len(raw) == DIM * 4:
                rows.setdefault(faq_id, []).append((vector_id, kind, text, raw, tokens))
        for faq_id, found in rows.items():
            entry = by_id[faq_id]
            meta = FaqMeta(faq_id, entry.external_id, entry.question, entry.answer)
            stamp = (entry.updated_at, found[-1][0])
            phrasings = [r for r in found if r[1] != FaqVector.Kind.ANSWER]
            if not phrasings:
                continue
            questions[faq_id] = (stamp, [_unit(faq_id, phrasings, meta)])
            pieces = [r for r in found if r[1] == FaqVector.Kind.ANSWER]
            answers[faq_id] = (stamp, [_unit(r[0], [r], replace(meta, piece=r[2])) for r in pieces])
    return questions, answers


def _unit(
    unit_id: int, rows: list[tuple[int, str, str, bytes | memoryview, str | None]], meta: FaqMeta
) -> Unit:
    matrix = vectors_from_bytes(raw for _, _, _, raw, _ in rows)
    texts = [text for _, _, text, _, _ in rows]
    tokens = [tokens_loaded(stored, text) for _, _, text, _, stored in rows]
    return Unit(unit_id, matrix, texts, meta, tokens)


def faq_stamps(site_id: int) -> dict[int, object]:
    entries = (
        FaqEntry.objects.filter(site_id=site_id, enabled=True)
        .annotate(last_vector=Max("vectors__id"))
        .filter(last_vector__isnull=False)
        .order_by()
    )
    return {i: (at, last) for i, at, last in entries.values_list("id", "updated_at", "last_vector")}


def document_groups(site_id: int, document_ids: Collection[int] | None = None) -> dict[int, Group]:
    """Embedded passages of the site (all, or those of `document_ids`), by document."""
    fields = (
        "id", "document_id", "text", "vector", "document__title", "document__updated_at", "tokens",
    )  # fmt: skip
    found: dict[int, list[tuple[Any, ...]]] = {}
    for chunk in _chunks(document_ids):
        passages = Passage.objects.filter(site_id=site_id, vector__isnull=False)
        if chunk is not None:
            passages = passages.filter(document_id__in=chunk)
        for row in (
            passages.order_by("document_id", "position")
            .values_list(*fields)
            .iterator(chunk_size=2000)
        ):
            if len(row[3]) == DIM * 4:
                found.setdefault(row[1], []).append(row)
    groups: dict[int, Group] = {}
    for document_id, rows in found.items():
        matrix = vectors_from_bytes(row[3] for row in rows)
        units = [
            Unit(
                pid,
                matrix[i : i + 1],
                [text],
                PassageMeta(pid, document_id, title, text),
                [tokens_loaded(stored, text)],
            )
            for i, (pid, _, text, _, title, _, stored) in enumerate(rows)
        ]
        stamp = (len(rows), max(row[0] for row in rows), rows[0][5])
        groups[document_id] = (stamp, units)
    return groups


def document_stamps(site_id: int) -> dict[int, object]:
    passages = (
        Passage.objects.filter(site_id=site_id, vector__isnull=False)
        .values("document_id")
        .annotate(count=Count("id"), last=Max("id"), at=Max("document__updated_at"))
        .order_by()
    )
    return {p["document_id"]: (p["count"], p["last"], p["at"]) for p in passages}


# --- Versions and the change log in Redis -------------------------------------------------


def knowledge_changed(
    site_id: int,
    *,
    faq_ids: Iterable[int] | None = None,
    document_ids: Iterable[int] | None = None,
) -> int:
    """Tell every process that the site's knowledge changed; call it on commit.

    Name the FAQs and documents that changed (added, edited, disabled, deleted) so the
    indexes apply just those; with neither, each index compares signatures with the
    database. Returns the new version.
    """
    if faq_ids is None and document_ids is None:
        entry: dict[str, Any] = {"all": True}
    else:
        faqs, documents = {int(i) for i in faq_ids or ()}, {int(i) for i in document_ids or ()}
        entry = {"faqs": sorted(faqs), "documents": sorted(documents)}
    keys = [redis_key("knowledge", "version", site_id), redis_key("knowledge", "log", site_id)]
    script = redis_sync().register_script(_CHANGED_SCRIPT)
    try:
        return int(cast(int, script(keys=keys, args=[json.dumps(entry), LOG_KEEP])))
    except RedisError:  # the write is committed; the periodic recheck will find it
        logger.warning("could not announce a knowledge change of site %s", site_id, exc_info=True)
        return 0


def version_get(site_id: int) -> int:
    raw = cast(str | None, redis_sync().get(redis_key("knowledge", "version", site_id)))
    return int(raw) if raw else 0


def _log_since(site_id: int, old: int, new: int) -> tuple[set[int], set[int]] | None:
    """FAQ and document ids changed in versions (old, new]; None when the log can't say."""
    if not 0 <= old < new or new - old > LOG_KEEP:
        return None
    key = redis_key("knowledge", "log", site_id)
    lines = cast(list[str], redis_sync().lrange(key, -(new - old + 64), -1))
    entries: dict[int, dict[str, Any]] = {}
    for line in lines:
        version, _, payload = line.partition(" ")
        if old < int(version) <= new:
            entries[int(version)] = json.loads(payload)
    if len(entries) != new - old or any(e.get("all") for e in entries.values()):
        return None
    faqs = {i for e in entries.values() for i in e["faqs"]}
    return faqs, {i for e in entries.values() for i in e["documents"]}


# --- The index of a site, and the registry of this process ----------------------------------


class SiteIndex:
    """FAQ question, FAQ answer and passage segments of one site, at one version of its
    knowledge."""

    def __init__(
        self, site_id: int, version: int, faqs: Segment, answers: Segment, passages: Segment
    ) -> None:
        self.site_id = site_id
        self.version = version
        self.faqs = faqs
        self.answers = answers
        self.passages = passages
        self.checked_at = time.monotonic()
        self.lock = threading.Lock()
        self.adapter_stamp, self.adapter = site_matrix(site_id)

    def question_vector(self, vector: np.ndarray) -> np.ndarray:
        """The query's vector for matching FAQ questions: through the site's adapter, if any."""
        matrix = self.adapter
        return vector if matrix is None else adapted(matrix, vector)

    @classmethod
    def load(cls, site_id: int, version: int) -> "SiteIndex":
        """Everything from the database; `version` must have been read before the rows."""
        started = time.perf_counter()
        questions, answers = faq_groups(site_id)
        index = cls(
            site_id, version, Segment(questions), Segment(answers),
            Segment(document_groups(site_id)),
        )  # fmt: skip
        logger.info(
            "knowledge index of site %s loaded: %s FAQ rows, %s passages in %.2f s",
            site_id, index.faqs.n, index.passages.n, time.perf_counter() - started,
        )  # fmt: skip
        return index

    def sync(self, version: int) -> None:
        """Apply what changed since this index's version (nothing when it did not move)."""
        if version == self.version and not self._recheck_due():
            return
        with self.lock:
            if version == self.version and not self._recheck_due():
                return  # another thread brought it up to date meanwhile
            changed = _log_since(self.site_id, self.version, version)
            if changed is None or self._recheck_due():
                self._diff()
            else:
                self.faqs_apply(changed[0])
                self.documents_apply(changed[1])
            if site_stamp(self.site_id) != self.adapter_stamp:  # its weights only when retrained
                self.adapter_stamp, self.adapter = site_matrix(self.site_id)
            self.version = version

    def _recheck_due(self) -> bool:
        return time.monotonic() - self.checked_at > RECHECK_SECONDS

    def faqs_apply(self, faq_ids: set[int]) -> None:
        if faq_ids:
            questions, answers = faq_groups(self.site_id, faq_ids)
            self.faqs.groups_replace(questions, gone=faq_ids - questions.keys())
            self.answers.groups_replace(answers, gone=faq_ids - answers.keys())

    def documents_apply(self, document_ids: set[int]) -> None:
        if document_ids:
            groups = document_groups(self.site_id, document_ids)
            self.passages.groups_replace(groups, gone=document_ids - groups.keys())

    def _diff(self) -> None:
        """Compare per-group signatures with the database; reload only the groups that differ."""
        for segment, stamps, apply in (
            (self.faqs, faq_stamps(self.site_id), self.faqs_apply),
            (self.passages, document_stamps(self.site_id), self.documents_apply),
        ):
            changed = {g for g, stamp in stamps.items() if segment.stamps.get(g) != stamp}
            apply(changed | (segment.stamps.keys() - stamps.keys()))
        self.checked_at = time.monotonic()

    def needs_rebuild(self) -> bool:
        segments = (self.faqs, self.answers, self.passages)
        return any(segment.needs_rebuild() for segment in segments)


_indexes: dict[int, SiteIndex] = {}
_load_locks: dict[int, threading.Lock] = {}
_registry_lock = threading.Lock()
_rebuild_not_before: dict[int, float] = {}


def site_index(site_id: int) -> SiteIndex:
    """The site's index, loaded on first use and brought up to date (one Redis GET)."""
    try:
        version: int | None = version_get(site_id)
    except RedisError:  # serve what is loaded rather than fail the search
        logger.warning("knowledge version of site %s unavailable", site_id, exc_info=True)
        version = None
    index = _indexes.get(site_id)
    if index is None:
        with _registry_lock:
            load_lock = _load_locks.setdefault(site_id, threading.Lock())
        with load_lock:
            index = _indexes.get(site_id)
            if index is None:
                index = _indexes[site_id] = SiteIndex.load(site_id, version or 0)
    if version is not None:
        index.sync(version)
    if index.needs_rebuild():
        _rebuild_start(site_id)
    return index


def index_forget(site_id: int | None = None) -> None:
    """Drop the loaded index of one site (or all): the next search loads it afresh."""
    if site_id is None:
        _indexes.clear()
    else:
        _indexes.pop(site_id, None)


def _rebuild_start(site_id: int) -> None:
    with _registry_lock:
        if _rebuild_not_before.get(site_id, 0.0) > time.monotonic():
            return  # one is running, or the last one failed a moment ago
        _rebuild_not_before[site_id] = math.inf
    name = f"knowledge-rebuild-{site_id}"
    threading.Thread(target=_rebuild, args=(site_id,), name=name, daemon=True).start()


def _rebuild(site_id: int) -> None:
    retry_at = 0.0
    try:
        fresh = SiteIndex.load(site_id, version_get(site_id))
        _indexes[site_id] = fresh  # the next search catches it up from its version
    except Exception:
        logger.exception("rebuilding the knowledge index of site %s failed", site_id)
        retry_at = time.monotonic() + REBUILD_RETRY_SECONDS
    finally:
        connection.close()  # this thread's own connection
        with _registry_lock:
            _rebuild_not_before[site_id] = retry_at
