"""A large segment is searched through its dense shortlist (knowledge.segment): the same
answers as the exact scan, BM25's finds scored exactly, appended rows found, dropped ones
never. The sizes are shrunk so that a few hundred rows make a large segment."""

import numpy as np
import pytest

from knowledge import segment as segment_module
from knowledge.search import _ranked
from knowledge.segment import FaqMeta, Segment, Unit


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(segment_module, "SHORTLIST_MIN_ROWS", 300)
    monkeypatch.setattr(segment_module, "SHORTLIST_ROWS", 60)
    monkeypatch.setattr(segment_module, "SHORTLIST_DIM", 32)


def text_vectors(rng, count):
    """Unit vectors that, like sentence embeddings, lie mostly in a few directions."""
    basis = rng.standard_normal((24, 512)).astype(np.float32)
    vectors = rng.standard_normal((count, 24)).astype(np.float32) @ basis
    vectors += 0.5 * rng.standard_normal((count, 512)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def groups(vectors, start=0):
    units = {}
    for offset in range(0, len(vectors), 2):  # two phrasings a unit
        unit_id = start + offset // 2
        rows = vectors[offset : offset + 2]
        texts = [f"topic{unit_id} word{unit_id % 9}", f"about topic{unit_id}"][: len(rows)]
        meta = FaqMeta(unit_id, "", texts[0], "answer")
        units[unit_id] = ((unit_id,), [Unit(unit_id, rows, texts, meta)])
    return units


def near(rng, vector):
    query = vector + 0.3 * rng.standard_normal(512).astype(np.float32) / np.sqrt(512) * 8
    return query / np.linalg.norm(query)


def test_a_large_segment_ranks_as_the_exact_scan_does(small_limits, monkeypatch):
    rng = np.random.default_rng(3)
    vectors = text_vectors(rng, 1000)
    shortlisted = Segment(groups(vectors))
    assert shortlisted.view.shortlisted
    monkeypatch.setattr(segment_module, "SHORTLIST_MIN_ROWS", 10**9)
    exact = Segment(groups(vectors))
    assert not exact.view.shortlisted
    for row in rng.choice(1000, 30, replace=False):
        query = near(rng, vectors[row])
        got, want = _ranked(shortlisted, query, [], 5), _ranked(exact, query, [], 5)
        assert [r[0].faq_id for r in got] == [r[0].faq_id for r in want]
        assert np.allclose([r[2] for r in got], [r[2] for r in want], atol=1e-5)
        assert got[0][0].faq_id == row // 2


def test_a_unit_found_by_its_words_alone_gets_its_exact_similarity(small_limits):
    rng = np.random.default_rng(4)
    vectors = text_vectors(rng, 1000)
    segment = Segment(groups(vectors))
    query = near(rng, vectors[10])
    far = int(np.argmin(vectors @ query)) // 2  # dense would never shortlist it
    ranked = _ranked(segment, query, [f"topic{far}"], 500)  # every candidate
    by_id = {r[0].faq_id: r for r in ranked}
    assert far in by_id
    exact = float((vectors[2 * far : 2 * far + 2] @ query).max())
    assert by_id[far][2] == pytest.approx(exact, abs=1e-5)  # not the -2 of an unscored row


def test_rows_appended_after_the_build_are_found_and_dropped_ones_never(small_limits):
    rng = np.random.default_rng(5)
    vectors = text_vectors(rng, 1200)
    segment = Segment(groups(vectors[:1000]))
    segment.groups_replace(groups(vectors[1000:], start=500), gone=[7])  # grows the arrays
    assert segment.view.shortlisted and segment.n == 1200
    query = near(rng, vectors[1100])
    assert _ranked(segment, query, [], 1)[0][0].faq_id == 550
    assert 7 not in {r[0].faq_id for r in _ranked(segment, near(rng, vectors[14]), [], 20)}
