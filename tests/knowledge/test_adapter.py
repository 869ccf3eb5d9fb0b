"""The per-site query adapter: learned from a site's own FAQ phrasings and the questions staff
confirmed, applied at search time with numpy; a site without it searches as before."""

import numpy as np
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from knowledge import adapter as adapter_module
from knowledge.adapter import adapter_train, example_confirm, matrix_from_bytes, matrix_to_bytes
from knowledge.index import knowledge_changed
from knowledge.models import QueryAdapter
from knowledge.search import knowledge_search
from knowledge.tasks import adapter_train_task, faq_embed_task
from tests.factories import SiteFactory, UserFactory
from tests.knowledge import committed, faq_add

# A company's own word: its Premium plan is "blue". The encoder cannot know that.
PREMIUM = "How do I upgrade to Premium?"
COLOURS = "What colours does the bottle come in?"
CONFIRMED = ["I want to go blue", "switch me to blue", "blue tier please"]


@pytest.fixture
def store(db):
    site = SiteFactory.create()
    faq_add(site, PREMIUM, "Settings > Plan > Premium.", "upgrade my plan to premium",
            "get the premium subscription")  # fmt: skip
    faq_add(site, COLOURS, "Red, green and white.", "which colours are available",
            "do you sell it in red")  # fmt: skip
    faq_add(site, "How do I reset my password?", "Use 'Forgot password'.", "I forgot my password",
            "can't sign in")  # fmt: skip
    faq_add(site, "Where is my order?", "See Orders > Track.", "track my parcel",
            "my package has not arrived")  # fmt: skip
    faq_add(site, "How do I cancel my subscription?", "Settings > Plan > Cancel.",
            "stop my membership", "end my plan")  # fmt: skip
    faq_add(site, "Do you ship abroad?", "To 30 countries.", "international delivery",
            "can you send to Canada")  # fmt: skip
    return site


def _confirm(site) -> None:
    premium = site.faqs.get(question=PREMIUM)
    with committed():  # as Try it does: stored, then embedded with the FAQ's phrasings
        for text in CONFIRMED:
            example_confirm(faq=premium, question=text)


def _train(site):
    with committed():  # the index takes the adapter in when the training's commit announces it
        return adapter_train(site)


def _top(site, query: str) -> str:
    return knowledge_search(site=site, query=query, k=3).faqs[0].question


@pytest.mark.django_db
def test_questions_staff_confirm_teach_the_site_what_its_words_mean(store):
    assert _top(store, "make my account blue") != PREMIUM  # the encoder alone
    _confirm(store)

    trained = _train(store)

    assert trained is not None and trained.active and trained.questions == 18 + 3
    assert trained.held_out_hit1_after >= trained.held_out_hit1_before
    # A question none of the confirmed ones is, in the site's sense of the word:
    assert _top(store, "make my account blue") == PREMIUM
    # ... while the ordinary sense still finds its own FAQ:
    assert _top(store, "is there a blue version of the bottle") == COLOURS
    assert _top(store, "where is my parcel") == "Where is my order?"


@pytest.mark.django_db
def test_the_fast_path_still_judges_the_encoders_own_similarity(store):
    before = knowledge_search(site=store, query="I forgot my password", k=3)
    _confirm(store)
    assert _train(store).active
    after = knowledge_search(site=store, query="I forgot my password", k=3)
    assert after.route == before.route == "fast_path"
    assert after.faqs[0].similarity == pytest.approx(before.faqs[0].similarity, abs=1e-5)


@pytest.mark.django_db
def test_a_site_without_enough_faqs_searches_as_before():
    site = SiteFactory.create()
    faq_add(site, "How do I reset my password?", "Use 'Forgot password'.", "I forgot it")
    before = knowledge_search(site=site, query="login trouble", k=3)
    assert _train(site) is None
    assert not QueryAdapter.objects.filter(site=site).exists()
    after = knowledge_search(site=site, query="login trouble", k=3)
    assert after.faqs[0].score == pytest.approx(before.faqs[0].score)


@pytest.mark.django_db
def test_an_adapter_that_ranks_held_out_questions_worse_is_not_used(store, monkeypatch):
    # q -> q - q + (q . 1) v: every question becomes the same vector, one FAQ for all
    direction = np.random.default_rng(0).normal(0, 1, 512)
    scrambling = (np.outer(np.ones(512), direction) - np.eye(512)).astype(np.float32)
    monkeypatch.setattr(adapter_module, "adapter_fit", lambda questions, **_: scrambling)
    before = knowledge_search(site=store, query="where is my parcel", k=3)
    trained = _train(store)
    assert trained is not None and not trained.active and bytes(trained.weights) == b""
    after = knowledge_search(site=store, query="where is my parcel", k=3)
    assert [h.faq_id for h in after.faqs] == [h.faq_id for h in before.faqs]


def test_stored_weights_are_a_plain_array():
    matrix = np.eye(512, dtype=np.float32) * 0.5
    assert np.array_equal(matrix_from_bytes(matrix_to_bytes(matrix)), matrix)
    with pytest.raises(ValueError):
        matrix_from_bytes(matrix_to_bytes(np.zeros((3, 3))))


@pytest.mark.django_db
def test_a_broken_stored_adapter_is_logged_and_the_site_searches_without_it(store, caplog):
    before = knowledge_search(site=store, query="where is my parcel", k=3)
    with committed():
        QueryAdapter.objects.create(
            site=store, weights=b"not an array", active=True, trained_at=timezone.now()
        )
        knowledge_changed(store.id, faq_ids=())
    after = knowledge_search(site=store, query="where is my parcel", k=3)
    assert [h.score for h in after.faqs] == pytest.approx([h.score for h in before.faqs])
    assert "does not load" in caplog.text


@pytest.mark.django_db
def test_try_it_confirms_a_question_for_an_faq_and_queues_the_training(
    client, store, monkeypatch, django_capture_on_commit_callbacks
):
    queued, trainings = [], []
    monkeypatch.setattr(
        faq_embed_task, "apply_async", lambda args, queue: queued.append((args, queue))
    )
    monkeypatch.setattr(
        adapter_train_task, "apply_async",
        lambda args, queue, countdown: trainings.append((args, queue)),
    )  # fmt: skip
    premium = store.faqs.get(question=PREMIUM)
    url = reverse("admin:knowledge_faqentry_try_confirm")
    form = {"faq_id": premium.id, "question": "  switch me   to blue "}

    client.force_login(UserFactory(is_staff=True))  # staff without the change permission
    assert client.post(url, form).status_code == 403

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, form)
        client.post(url, form)  # twice: stored once, embedded once
    assert response.status_code == 302 and "question=switch" in response["Location"]
    assert list(premium.examples.values_list("text", flat=True)) == ["switch me to blue"]
    assert queued == [(([premium.id],), settings.BATCH_QUEUE)]

    # The batch worker embeds it with the FAQ: searched at once, and the training queued.
    with django_capture_on_commit_callbacks(execute=True):
        faq_embed_task.run([premium.id])
    assert trainings == [((store.id,), settings.BATCH_QUEUE)]
    result = knowledge_search(site=store, query="switch me to blue", k=3)
    assert result.faqs[0].question == PREMIUM and result.faqs[0].matched == "switch me to blue"

    page = client.get(reverse("admin:knowledge_faqentry_try"), {"site": store.id, "q": "x"})
    assert page.status_code == 200
    change = client.get(reverse("admin:knowledge_faqentry_change", args=[premium.id]))
    assert "switch me to blue" in change.content.decode()
    assert client.get(reverse("admin:knowledge_queryadapter_changelist")).status_code == 200


@pytest.mark.django_db
def test_the_adapter_ranks_but_does_not_change_what_retrieval_declines(store):
    queries = (
        "what's the weather like tomorrow",
        "do you have a shop in Paris",
        "where is my parcel",
    )
    _confirm(store)
    before = {q: knowledge_search(site=store, query=q, k=5) for q in queries}
    assert _train(store).active
    for query in queries:
        after = knowledge_search(site=store, query=query, k=5)
        assert after.route == before[query].route, query
        assert after.faq_confidence == pytest.approx(before[query].faq_confidence, abs=0.01)
