"""Helpers shared by the knowledge tests: commit callbacks run inside the test transaction,
with FAQ embedding done synchronously instead of on the batch queue."""

from collections.abc import Iterator
from contextlib import contextmanager
from unittest import mock

from django.test import TestCase

from knowledge import services
from knowledge.embeddings import embed, vector_to_bytes
from knowledge.index import knowledge_changed
from knowledge.models import Document, FaqEntry, Passage
from sites.models import Site


@contextmanager
def committed() -> Iterator[None]:
    """Run the on_commit callbacks of the block (embedding synchronously) when it ends."""
    with (
        mock.patch.object(services, "faq_embed_schedule", services.faq_embed),
        TestCase.captureOnCommitCallbacks(execute=True),
    ):
        yield


def faq_add(site: Site, question: str, answer: str, *alt_questions: str) -> FaqEntry:
    with committed():
        return services.faq_create(
            site=site, question=question, answer=answer, alt_questions=list(alt_questions)
        )


def document_add(site: Site, title: str, *texts: str) -> Document:
    """A document with embedded passages, announced as documents.py does."""
    document = Document.objects.create(
        site=site, title=title, file="documents/test.txt", status=Document.Status.READY
    )
    Passage.objects.bulk_create(
        Passage(document=document, site=site, position=i, text=text, vector=vector_to_bytes(v))
        for i, (text, v) in enumerate(zip(texts, embed(list(texts)), strict=True))
    )
    knowledge_changed(site.id, document_ids=[document.id])
    return document
