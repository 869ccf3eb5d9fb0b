"""The in-memory rows of one kind of unit (FAQ phrasings, passages): a dense matrix plus
BM25, appended to and tombstoned so that readers never need a lock (see knowledge.index)."""

import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import bm25s
import numpy as np

from knowledge.embeddings import DIM
from knowledge.text import tokenize

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it sets DEBUG on import

K1, B = 1.5, 0.75  # BM25 (Lucene variant, as bm25s computes it)
REBUILD_MIN_ROWS = 2000  # appended or dead rows tolerated before a background reload
# A segment of at least SHORTLIST_MIN_ROWS rows is scanned in SHORTLIST_DIM dimensions (the
# principal directions of its own vectors) and only the best SHORTLIST_ROWS rows are scored
# exactly: a quarter of the memory to read, which is what the full scan waits for. Chosen
# with `python -m bench.shortlist` on real sentences: 0.998 of the exact top 20 rows kept,
# the top row always, at 150k rows.
SHORTLIST_MIN_ROWS = 20_000
SHORTLIST_DIM = 128
SHORTLIST_ROWS = 2000
SHORTLIST_FIT_ROWS = 20_000  # rows sampled to find the directions


@dataclass(frozen=True)
class FaqMeta:
    faq_id: int
    external_id: str
    question: str
    answer: str
    piece: str = ""  # in the answer segment: the piece of the answer this unit is


@dataclass(frozen=True)
class PassageMeta:
    passage_id: int
    document_id: int
    document_title: str
    text: str


@dataclass(frozen=True)
class Unit:
    """What a search returns (an FAQ, a passage): one or more rows (phrasings)."""

    unit_id: int
    vectors: np.ndarray  # (rows, DIM)
    texts: list[str]
    meta: FaqMeta | PassageMeta
    tokens: list[list[str]] | None = None  # per text; None: tokenized when appended


# The grain of change (an FAQ, a document): its signature and its units.
Group = tuple[object, list[Unit]]


@dataclass(frozen=True)
class SegmentView:
    """What a reader may look at: rows [0, n); arrays are only appended past n or tombstoned."""

    matrix: np.ndarray
    alive: np.ndarray
    row_unit: np.ndarray
    row_len: np.ndarray
    n: int
    bm25: bm25s.BM25 | None
    base_n: int
    total_len: int
    dead: int  # 0: no row of the view is tombstoned, no mask needed
    reduced: np.ndarray | None = None  # rows in SHORTLIST_DIM dimensions (large segments)
    projection: np.ndarray | None = None  # (DIM, SHORTLIST_DIM) onto those dimensions

    def cosines(self, vector: np.ndarray) -> np.ndarray:
        """Cosine of every row with a unit vector; dead rows get -2.

        einsum runs on one thread: as fast as one-thread BLAS here (the scan is memory-bound)
        and about 30% faster than OpenBLAS's two threads, without touching process-wide
        BLAS settings."""
        cosines = np.einsum("ij,j->i", self.matrix[: self.n], vector)
        if self.dead:
            cosines[~self.alive[: self.n]] = -2.0
        return cosines

    @property
    def shortlisted(self) -> bool:
        return self.reduced is not None

    def dense_scores(self, vector: np.ndarray) -> np.ndarray:
        """Cosines for ranking: every row's (`cosines`), or in a large segment the exact
        cosine of the SHORTLIST_ROWS rows closest in the reduced dimensions and -2 for the
        others, which were not scored."""
        if self.reduced is None or self.projection is None or self.n <= SHORTLIST_ROWS:
            return self.cosines(vector)
        # einsum throughout: one thread, as in `cosines` (a BLAS call here woke OpenBLAS's
        # threads, which then spun on the other core through the rest of the search)
        reduced_query = np.einsum("ij,i->j", self.projection, vector)
        approximate = np.einsum("ij,j->i", self.reduced[: self.n], reduced_query)
        if self.dead:
            approximate[~self.alive[: self.n]] = -np.inf
        rows = np.argpartition(approximate, self.n - SHORTLIST_ROWS)[self.n - SHORTLIST_ROWS :]
        scores = np.full(self.n, -2.0, dtype=np.float32)
        scores[rows] = np.einsum("ij,j->i", self.matrix[rows], vector)
        if self.dead:
            scores[~self.alive[: self.n]] = -2.0
        return scores


class Segment:
    """The rows of one kind of unit: a base BM25 index plus appended rows scored alike."""

    def __init__(self, groups: Mapping[int, Group]) -> None:
        rows = sum(len(u.texts) for _, units in groups.values() for u in units)
        self.matrix, self.alive, self.row_unit, self.row_len = _arrays(max(64, rows + rows // 4))
        self.n = self.dead = self.total_len = 0
        self.unit_rows: dict[int, range] = {}
        self.unit_norm: dict[int, float] = {}  # length of the sum of the unit's row vectors
        self.row_texts: list[str] = []  # append-only, like the arrays
        self.unit_meta: dict[int, FaqMeta | PassageMeta] = {}
        self.group_units: dict[int, list[int]] = {}
        self.stamps: dict[int, object] = {}
        self.postings: dict[str, list[tuple[int, int]]] = {}  # appended rows only
        self.reduced: np.ndarray | None = None
        self.projection: np.ndarray | None = None
        base_tokens: list[list[str]] = []
        for group_id, group in groups.items():
            base_tokens.extend(self._group_put(group_id, group))
        self.base_n = self.n
        if self.n >= SHORTLIST_MIN_ROWS:
            self.projection = _projection(self.matrix[: self.n])
            dims = self.projection.shape[1]
            self.reduced = np.zeros((len(self.matrix), dims), dtype=np.float32)
            self.reduced[: self.n] = self.matrix[: self.n] @ self.projection
        self.bm25 = _bm25_build(base_tokens)
        self.base_df = _bm25_doc_freqs(self.bm25)
        self._publish()

    def _grow(self, capacity: int) -> None:
        """New, larger arrays (a copy: readers of the current view keep the old ones)."""
        arrays = _arrays(capacity)
        old = (self.matrix, self.alive, self.row_unit, self.row_len)
        for new, before in zip(arrays, old, strict=True):
            new[: self.n] = before[: self.n]
        self.matrix, self.alive, self.row_unit, self.row_len = arrays
        if self.reduced is not None:
            reduced = np.zeros((capacity, self.reduced.shape[1]), dtype=np.float32)
            reduced[: self.n] = self.reduced[: self.n]
            self.reduced = reduced

    def _group_put(self, group_id: int, group: Group) -> list[list[str]]:
        stamp, units = group
        self.stamps[group_id] = stamp
        self.group_units[group_id] = [u.unit_id for u in units]
        all_tokens: list[list[str]] = []
        for unit in units:
            all_tokens.extend(self._unit_append(unit))
        return all_tokens

    def _unit_append(self, unit: Unit) -> list[list[str]]:
        count = len(unit.texts)
        if self.n + count > len(self.matrix):
            self._grow(max(2 * len(self.matrix), self.n + count))
        start, tokens = self.n, unit.tokens or [tokenize(text) for text in unit.texts]
        self.matrix[start : start + count] = unit.vectors
        if self.reduced is not None and self.projection is not None:
            self.reduced[start : start + count] = unit.vectors @ self.projection
        self.row_unit[start : start + count] = unit.unit_id
        self.row_len[start : start + count] = [len(t) for t in tokens]
        self.alive[start : start + count] = True
        self.unit_rows[unit.unit_id] = range(start, start + count)
        self.unit_meta[unit.unit_id] = unit.meta
        self.unit_norm[unit.unit_id] = float(np.linalg.norm(unit.vectors.sum(axis=0)))
        self.row_texts.extend(unit.texts)
        self.total_len += sum(len(t) for t in tokens)
        self.n += count
        return tokens

    def _group_drop(self, group_id: int) -> None:
        self.stamps.pop(group_id, None)
        for unit_id in self.group_units.pop(group_id, []):
            rows = self.unit_rows.pop(unit_id, None)
            if rows is not None:
                self.alive[rows.start : rows.stop] = False  # before the meta: readers skip it
                self.dead += len(rows)
            self.unit_meta.pop(unit_id, None)
            self.unit_norm.pop(unit_id, None)

    def groups_replace(self, groups: Mapping[int, Group], gone: Iterable[int] = ()) -> None:
        """Drop `gone` and the old rows of `groups`, then append the new ones."""
        for group_id in [*gone, *groups]:
            self._group_drop(group_id)
        for group_id, group in groups.items():
            first = self.n
            for offset, tokens in enumerate(self._group_put(group_id, group)):
                for token, tf in Counter(tokens).items():
                    self.postings.setdefault(token, []).append((first + offset, tf))
        self._publish()

    def _publish(self) -> None:
        self.view = SegmentView(
            self.matrix, self.alive, self.row_unit, self.row_len, self.n,
            self.bm25, self.base_n, self.total_len, self.dead, self.reduced, self.projection,
        )  # fmt: skip

    def needs_rebuild(self) -> bool:
        # Appended rows are scored in Python: keep them a small share of the segment.
        appended, live = self.n - self.base_n, self.n - self.dead
        too_many_dead = self.dead > max(REBUILD_MIN_ROWS, live // 4)
        return appended > max(REBUILD_MIN_ROWS, live // 10) or too_many_dead

    def live_units(self) -> int:
        return len(self.unit_meta)

    def bm25_scores(self, view: SegmentView, tokens: list[str]) -> np.ndarray:
        """BM25 score of every row of the view (0 for dead rows)."""
        scores = np.zeros(view.n, dtype=np.float32)
        if view.bm25 is not None and tokens:
            ids = [view.bm25.vocab_dict[t] for t in tokens if t in view.bm25.vocab_dict]
            if ids:
                scores[: view.base_n] = view.bm25.get_scores_from_ids(ids)
        if view.n > view.base_n:
            self._appended_scores(view, tokens, scores)
        if view.dead:
            scores[~view.alive[: view.n]] = 0.0
        return scores

    def _appended_scores(self, view: SegmentView, tokens: list[str], out: np.ndarray) -> None:
        docs, avg_len = max(view.n, 1), max(view.total_len / max(view.n, 1), 1.0)
        for token in tokens:
            postings = self.postings.get(token, ())
            base_id = view.bm25.vocab_dict.get(token) if view.bm25 is not None else None
            df = len(postings) + (int(self.base_df[base_id]) if base_id is not None else 0)
            idf = math.log(1 + (docs - df + 0.5) / (df + 0.5))
            for row, tf in postings:
                if view.base_n <= row < view.n:
                    norm = K1 * (1 - B + B * int(view.row_len[row]) / avg_len)
                    out[row] += idf * tf / (norm + tf)


def _arrays(capacity: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Row storage: vectors, alive flags, unit ids, token counts."""
    return (
        np.zeros((capacity, DIM), dtype=np.float32),
        np.zeros(capacity, dtype=bool),
        np.zeros(capacity, dtype=np.int64),
        np.zeros(capacity, dtype=np.int32),
    )


def _projection(matrix: np.ndarray, dims: int | None = None) -> np.ndarray:
    """(DIM, dims or SHORTLIST_DIM): the directions that keep most of the rows' inner products (the
    top right singular vectors of a seeded sample of them, not centred: a cosine is an inner
    product with the query, not a distance from the mean)."""
    rng = np.random.default_rng(0)
    sample = matrix[rng.choice(len(matrix), min(len(matrix), SHORTLIST_FIT_ROWS), replace=False)]
    _, _, directions = np.linalg.svd(sample, full_matrices=False)
    return np.ascontiguousarray(directions[: dims or SHORTLIST_DIM].T, dtype=np.float32)


def _bm25_build(corpus: list[list[str]]) -> bm25s.BM25 | None:
    if not corpus:
        return None
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(token, len(vocab)) for token in doc] for doc in corpus]
    index = bm25s.BM25(k1=K1, b=B, method="lucene")
    index.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
    return index


def _bm25_doc_freqs(index: bm25s.BM25 | None) -> np.ndarray:
    """Documents per token id, read off the index's token-major score matrix."""
    if index is None:
        return np.zeros(0, dtype=np.int64)
    return np.diff(np.asarray(index.scores["indptr"], dtype=np.int64))
