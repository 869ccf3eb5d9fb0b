"""The handoff's intent classifier: the shipped head flags a request for a person and anger
in both languages and leaves ordinary questions alone; a site's examples train its own head
(torch, in the worker's task) that the web side serves with numpy; `evaluate intent`."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from console import intents
from console.intents import (
    default_examples,
    default_head,
    examples_embed,
    head_from_bytes,
    head_to_bytes,
    intent_classify,
)
from console.models import IntentExample, IntentModel
from console.tasks import intent_model_train_task
from evaluation.models import EvaluationReport
from knowledge import embeddings
from tests.factories import SiteFactory, UserFactory

ROOT = Path(__file__).resolve().parents[2]
TINY = Path(__file__).parent / "data" / "intents_tiny.jsonl"

ASKS_FOR_A_PERSON = [
    "I want to talk to a human",
    "Could I please chat with one of your staff instead of the bot?",
    "转人工",
    "能帮我找一个人工客服吗",
]
ANGRY = [
    "This is ridiculous, I've waited three weeks and nobody has helped me at all!",
    "你们的服务太烂了，气死我了",
]
ORDINARY = [
    "where is my order",
    "how do I reset my password",
    "我的快递到哪了",
    "Where's my package right now?",
    "I forgot my password, how can I change it?",
    "我的包裹现在到哪里了",
    "Is the manager account different from a normal user account?",
    "安装需要另外付人工费吗",
]


def handed_over(intent: intents.Intent) -> bool:
    """What console.handoff does with it, whatever the site's rules."""
    acted = intent.label in ("handoff", "frustration")
    return acted and intent.probability >= settings.HANDOFF_INTENT_THRESHOLD


def test_the_shipped_head_hands_over_who_asks_for_a_person_or_is_angry_only():
    for text in ASKS_FOR_A_PERSON:
        intent = intent_classify(None, text)
        assert intent.label == "handoff" and handed_over(intent), (text, intent)
    for text in ANGRY:
        intent = intent_classify(None, text)
        assert intent.label == "frustration" and handed_over(intent), (text, intent)
    for text in ORDINARY:
        assert not handed_over(intent := intent_classify(None, text)), (text, intent)
    assert set(intent.scores) == set(intents.INTENT_LABELS)
    assert sum(intent.scores.values()) == pytest.approx(1, abs=1e-3)


def test_retrieval_and_the_classifier_share_one_encoder_call(monkeypatch):
    calls: list[list[str]] = []
    batch_embed = embeddings._batch_embed

    def counted(texts: list[str]):  # type: ignore[no-untyped-def]
        calls.append(texts)
        return batch_embed(texts)

    monkeypatch.setattr(embeddings, "_batch_embed", counted)
    text = "Can someone from your team call me about invoice 5521?"
    retrieval_vector = embeddings.embed([text])[0]  # what knowledge_search does
    intent = intent_classify(None, text)
    assert calls == [[text]]
    assert intent == default_head().classify(retrieval_vector)


def test_the_shipped_file_is_what_the_shipped_examples_train(tmp_path):
    examples = list(default_examples())
    vectors = examples_embed(examples)
    labels = [e.label for e in examples]
    shipped = default_head()
    accuracy = intents.intent_accuracy(shipped, vectors, labels)
    assert accuracy is not None and accuracy >= 0.98

    out = io.StringIO()
    call_command("intent_export", "--out", str(tmp_path / "head.npz"), stdout=out)
    assert "held-out" in out.getvalue()
    retrained = head_from_bytes((tmp_path / "head.npz").read_bytes())
    assert retrained.labels == shipped.labels
    agree = retrained.probabilities(vectors).argmax(1) == shipped.probabilities(vectors).argmax(1)
    assert agree.mean() >= 0.99  # run `manage.py intent_export` after editing the examples


@pytest.mark.django_db
def test_a_site_teaches_its_classifier_a_new_intent_and_other_sites_keep_the_default():
    site, other_site = SiteFactory.create(), SiteFactory.create()
    warranty = [
        "Is my laptop still covered by the warranty?",
        "The screen broke after two months, does the warranty cover it?",
        "How long is the warranty on this phone?",
        "Can I claim the warranty for a faulty charger?",
        "I want to use my warranty, the headphones stopped working",
        "保修期是多久",
        "这个还在保修期内吗",
        "屏幕坏了，可以保修吗",
        "我想申请保修",
        "电池有问题，能走保修吗",
    ]
    IntentExample.objects.bulk_create(
        IntentExample(site=site, text=text, label="warranty") for text in warranty
    )
    question = "My tablet stopped charging after a month, is that under warranty?"
    assert intent_classify(site, question).label != "warranty"

    intent_model_train_task(site.id)  # what the batch worker runs

    model = IntentModel.objects.get(site=site)
    assert "warranty" in model.labels and model.examples == len(default_examples()) + 10
    assert model.accuracy is not None and model.accuracy > 0.85
    assert intent_classify(site, question).label == "warranty"
    assert intent_classify(site, "平板充不进电了，保修吗").label == "warranty"
    assert intent_classify(site, "转人工").label == "handoff"
    assert intent_classify(other_site, question).label != "warranty"


@pytest.mark.django_db
def test_stored_weights_load_and_classify_with_numpy_only():
    site = SiteFactory.create()
    head = default_head()
    IntentModel.objects.create(site=site, weights=head_to_bytes(head), labels=list(head.labels))
    stored = head_from_bytes(bytes(IntentModel.objects.get(site=site).weights))
    vectors = examples_embed(list(default_examples())[:20])
    assert np.allclose(stored.probabilities(vectors), head.probabilities(vectors), atol=1e-6)

    script = (
        "import sys, django; django.setup()\n"
        "from console.intents import default_head, head_from_bytes, head_to_bytes, "
        "intent_classify\n"
        "head = head_from_bytes(head_to_bytes(default_head()))\n"
        "assert intent_classify(None, '转人工').label == 'handoff'\n"
        "assert 'torch' not in sys.modules, 'the web side imported torch'\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]


@pytest.mark.django_db
def test_evaluate_intent_prints_accuracy_and_macro_f1_beside_the_baseline():
    out = io.StringIO()
    call_command("evaluate", "intent", "--dataset", str(TINY), "--per-intent", "3", stdout=out)
    text = out.getvalue()
    assert "accuracy" in text and "macro-F1" in text and "nearest class centroid" in text
    assert "2 out-of-scope skipped" in text

    out = io.StringIO()
    call_command(
        "evaluate", "intent", "--dataset", str(TINY), "--per-intent", "3", "--json", stdout=out
    )
    figures = json.loads(out.getvalue())
    assert figures["test_items"] == 15 and figures["train_items"] == 9
    assert figures["accuracy"] >= 0.8 and 0 <= figures["macro_f1"] <= 1
    assert 0 <= figures["baseline_accuracy"] <= 1
    assert EvaluationReport.objects.filter(task="intent").count() == 2


@pytest.mark.django_db
def test_admin_imports_examples_and_queues_the_training(
    client, monkeypatch, tmp_path, django_capture_on_commit_callbacks
):
    queued = []
    monkeypatch.setattr(
        intent_model_train_task, "apply_async", lambda args, queue: queued.append((args, queue))
    )
    site = SiteFactory.create()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    upload = tmp_path / "examples.csv"
    upload.write_text("text,label\nI need a person,handoff\n退钱,refund\n", encoding="utf-8")
    with upload.open("rb") as file:
        response = client.post(
            reverse("admin:console_intentexample_import"), {"site": site.id, "file": file}
        )
    assert response.status_code == 302
    assert sorted(site.intent_examples.values_list("label", flat=True)) == ["handoff", "refund"]

    ids = list(site.intent_examples.values_list("id", flat=True))
    changelist = reverse("admin:console_intentexample_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(changelist, {"action": "train_sites", "_selected_action": ids})
    assert queued == [((site.id,), settings.BATCH_QUEUE)]
    for page in ("console_intentexample", "console_intentmodel", "chat_message"):
        assert client.get(reverse(f"admin:{page}_changelist")).status_code == 200, page
