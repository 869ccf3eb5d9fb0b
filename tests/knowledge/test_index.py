import threading

import numpy as np
import pytest

from knowledge import index as index_module
from knowledge import segment as segment_module
from knowledge.embeddings import embed, vector_to_bytes
from knowledge.index import knowledge_changed, site_index, version_get
from knowledge.models import Document, FaqEntry, FaqVector, Passage
from knowledge.search import _ranked, knowledge_search
from knowledge.segment import FaqMeta, Segment, Unit
from knowledge.services import faq_delete, faq_set_enabled, faq_update, knowledge_reindex
from tests.factories import SiteFactory
from tests.knowledge import committed, document_add, faq_add
from webapp.redis import redis_key, redis_sync

pytestmark = pytest.mark.django_db


def questions(site, query):
    return [hit.question for hit in knowledge_search(site=site, query=query).faqs]


@pytest.fixture
def site():
    site = SiteFactory.create()
    faq_add(site, "What is your return policy?", "30 days.", "Can I return an item?")
    return site


def test_a_new_faq_is_searchable_without_reloading_the_index(site):
    assert questions(site, "gift cards") == ["What is your return policy?"]
    loaded = site_index(site.id)
    faq_add(site, "Do you sell gift cards?", "Yes, from 10 to 500 euros.")
    assert questions(site, "gift cards")[0] == "Do you sell gift cards?"
    assert site_index(site.id) is loaded  # refreshed in place: appended, not rebuilt
    assert loaded.faqs.base_n == 2 and loaded.faqs.n == 3


def test_an_edited_question_and_answer_replace_the_old_ones(site):
    faq = faq_add(site, "Do you sell gift cards?", "No.")
    questions(site, "gift cards")
    with committed():
        faq_update(faq=faq, question="Do you sell vouchers?", answer="Yes.")
    hit = knowledge_search(site=site, query="vouchers").faqs[0]
    assert (hit.question, hit.matched, hit.answer) == ("Do you sell vouchers?",) * 2 + ("Yes.",)
    assert "Do you sell gift cards?" not in questions(site, "gift cards")


def test_disabled_and_deleted_faqs_disappear(site):
    gift = faq_add(site, "Do you sell gift cards?", "Yes.")
    assert questions(site, "gift cards")[0] == "Do you sell gift cards?"
    with committed():
        faq_set_enabled(site, [gift.id], False)
    assert questions(site, "gift cards") == ["What is your return policy?"]
    with committed():
        faq_set_enabled(site, [gift.id], True)
    assert questions(site, "gift cards")[0] == "Do you sell gift cards?"
    with committed():
        faq_delete(faq=gift)
    assert questions(site, "gift cards") == ["What is your return policy?"]


def test_documents_are_added_and_removed_incrementally(site):
    document_add(site, "Shipping", "Parcels leave our warehouse within two working days.")
    assert (
        knowledge_search(site=site, query="when do parcels leave")
        .passages[0]
        .text.startswith("Parcels leave")
    )
    loaded = site_index(site.id)
    manual = document_add(site, "Manual", "Hold the power button for ten seconds to reset.")
    found = knowledge_search(site=site, query="how to reset the device").passages
    assert found[0].document_title == "Manual"
    assert site_index(site.id) is loaded and loaded.passages.base_n == 1
    manual_id = manual.id
    manual.delete()
    knowledge_changed(site.id, document_ids=[manual_id])
    titles = [p.document_title for p in knowledge_search(site=site, query="reset").passages]
    assert titles == ["Shipping"]


def test_a_change_without_ids_is_found_by_comparing_signatures(site):
    questions(site, "warranty")
    document = Document.objects.create(site=site, title="Warranty", file="documents/w.txt")
    text = "Every device has a two-year warranty."
    vector = vector_to_bytes(embed([text])[0])
    Passage.objects.create(document=document, site=site, position=0, text=text, vector=vector)
    FaqEntry.objects.filter(site=site).update(enabled=False)  # no service, no ids
    knowledge_changed(site.id)
    result = knowledge_search(site=site, query="warranty")
    assert result.faqs == [] and result.passages[0].text == text


def test_a_version_gap_in_the_log_falls_back_to_the_signature_diff(site):
    questions(site, "gift cards")
    gift = faq_add(site, "Do you sell gift cards?", "Yes.")  # logged
    redis_sync().incr(redis_key("knowledge", "version", site.id))  # bumped with no log entry
    FaqEntry.objects.filter(id=gift.id).update(answer="Only online.", updated_at=gift.created_at)
    hit = knowledge_search(site=site, query="gift cards").faqs[0]
    assert hit.answer == "Only online."
    assert site_index(site.id).version == version_get(site.id)


def test_a_faq_without_vectors_is_not_searchable_until_embedded(site):
    with committed():
        FaqEntry.objects.create(site=site, question="Do you sell gift cards?", answer="Yes.")
    assert "Do you sell gift cards?" not in questions(site, "gift cards")


def unit(unit_id, vector, text="text"):
    meta = FaqMeta(unit_id, "", text, "answer")
    return Unit(unit_id, np.asarray([vector], dtype=np.float32), [text], meta)


def random_units(rng, start, count):
    vectors = rng.standard_normal((count, 512)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return {
        i: ((i,), [unit(i, vectors[i - start], f"word{i % 7} topic{i}")])
        for i in range(start, start + count)
    }


def test_segment_appends_drop_and_grow_without_disturbing_readers():
    rng = np.random.default_rng(0)
    segment = Segment(random_units(rng, 0, 100))
    query = segment.matrix[5].copy()
    failures: list[BaseException] = []
    stop = threading.Event()

    def read():
        try:
            while not stop.is_set():
                ranked = _ranked(segment, query, ["word5", "topic5"], 5)
                assert ranked[0][0].faq_id == 5
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    for batch in range(20):  # grows the arrays several times
        start = 100 + batch * 50
        segment.groups_replace(random_units(rng, start, 50), gone=[start - 40])
    stop.set()
    for thread in readers:
        thread.join()
    assert not failures
    assert segment.n == 1100 and segment.dead == 20 and segment.live_units() == 1080
    assert _ranked(segment, segment.matrix[1099], ["topic1099"], 1)[0][0].faq_id == 1099


def test_segment_bm25_scores_appended_rows_like_the_base():
    units = {i: ((i,), [unit(i, np.eye(512)[i], t)]) for i, t in enumerate(
        ["refund policy for shoes", "shipping times", "refund of gift cards", "opening hours"]
    )}  # fmt: skip
    whole = Segment(units)
    split = Segment({i: units[i] for i in (0, 1)})
    split.groups_replace({i: units[i] for i in (2, 3)})
    tokens = ["refund", "card"]
    assert np.allclose(
        whole.bm25_scores(whole.view, tokens), split.bm25_scores(split.view, tokens), rtol=0.35
    )
    assert np.argmax(split.bm25_scores(split.view, tokens)) == 2


def test_rebuild_is_started_when_appended_rows_pile_up(monkeypatch, site):
    started: list[int] = []
    monkeypatch.setattr(segment_module, "REBUILD_MIN_ROWS", 1)
    monkeypatch.setattr(index_module, "_rebuild_start", started.append)
    questions(site, "gift cards")
    for n in range(3):
        faq_add(site, f"Question {n}?", "Answer.")
    questions(site, "gift cards")
    assert started == [site.id]


def test_reindex_embeds_everything_again_and_the_index_follows(site):
    document_add(site, "Warranty", "Every device has a two-year warranty.")
    knowledge_search(site=site, query="warranty")
    Passage.objects.filter(site=site).update(vector=vector_to_bytes(embed(["unrelated"])[0]))
    FaqVector.objects.filter(faq__site=site).delete()
    knowledge_changed(site.id)
    assert knowledge_search(site=site, query="return policy").faqs == []
    with committed():
        assert knowledge_reindex(site) == (2 + 1, 1)  # two phrasings and the answer; a passage
    result = knowledge_search(site=site, query="Every device has a two-year warranty.")
    assert result.passages[0].similarity > 0.99
    assert result.faqs[0].question == "What is your return policy?"


def test_the_index_loads_stored_bm25_tokens_and_tokenizes_rows_stored_without_them(site):
    vectors = FaqVector.objects.filter(faq__site=site, kind=FaqVector.Kind.PHRASING)
    assert {v.tokens for v in vectors} == {"return polici", "return item"}
    document_add(site, "Warranty", "Every device has a two-year warranty.")  # tokens: null
    # A marker stored as a token (never in the text) is what a fresh load scores.
    vectors.filter(text="Can I return an item?").update(tokens="return item zzqx")
    index_module.index_forget(site.id)
    result = knowledge_search(site=site, query="warranty")
    assert result.passages[0].document_title == "Warranty"
    index = site_index(site.id)
    view = index.faqs.view
    assert index.faqs.bm25_scores(view, ["zzqx"]).max() > 0
    assert index.passages.bm25_scores(index.passages.view, ["warranti"]).max() > 0
