"""Celery tasks of the console: ids in, a service call, nothing else (batch queue)."""

from celery import shared_task


@shared_task(acks_late=True, ignore_result=True)
def intent_model_train_task(site_id: int) -> None:
    """Train the site's intent classifier (torch, seconds) and store it."""
    from console.intents import intent_model_train
    from sites.models import Site

    if Site.objects.filter(id=site_id).exists():
        intent_model_train(site_id)
