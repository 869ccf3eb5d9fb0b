"""Celery tasks of the knowledge base: ids in, a service call, nothing else (batch queue)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def faq_embed_task(faq_ids: list[int]) -> None:
    from knowledge.adapter import adapter_train_later
    from knowledge.models import FaqEntry
    from knowledge.services import faq_embed

    faq_embed(faq_ids)
    for site_id in (
        FaqEntry.objects.filter(id__in=faq_ids).values_list("site_id", flat=True).distinct()
    ):
        adapter_train_later(site_id)


@shared_task(acks_late=True, ignore_result=True)
def site_reindex_task(site_id: int) -> None:
    from knowledge.services import knowledge_reindex
    from sites.models import Site

    site = Site.objects.filter(id=site_id).first()
    if site is not None:
        knowledge_reindex(site)


@shared_task(acks_late=True, ignore_result=True)
def document_index_task(document_id: int) -> None:
    from knowledge.documents import document_index

    document_index(document_id=document_id)


@shared_task(acks_late=True, ignore_result=True)
def adapter_train_task(site_id: int) -> None:
    from knowledge.adapter import adapter_train
    from sites.models import Site

    site = Site.objects.filter(id=site_id).first()
    if site is not None:
        adapter_train(site)
